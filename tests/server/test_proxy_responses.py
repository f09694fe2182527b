"""The OpenAI Responses dialect end to end: the official SDK and the real Claude Code CLI
through ccm to a fake Responses API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.responses_upstream import (
    FakeResponsesUpstream,
    fail,
    reply_function_call,
    reply_reasoning,
    reply_text,
)
from tests.proxy_setup import (
    TOOLS,
    ask,
    proxied,
    sdk,
    tool_answered,
    upstream_fixture,
)

up = upstream_fixture(FakeResponsesUpstream)
backup = upstream_fixture(FakeResponsesUpstream)


@pytest.fixture
def ccm(tmp_path: Path, up: FakeResponsesUpstream, backup: FakeResponsesUpstream):
    chain = (("resp", up, "gpt-5"), ("resp2", backup, "gpt-5-mini"))
    with proxied(tmp_path, *chain, keys={"resp": "sk-resp"}) as ccm:
        yield ccm


def test_text_non_stream(ccm, up: FakeResponsesUpstream) -> None:
    up.script(reply_text("hello from responses"))
    msg = sdk(ccm.base_url).messages.create(
        model="claude-x",
        max_tokens=50,
        system="be brief",
        messages=[{"role": "user", "content": "hi"}],
    )
    assert msg.content[0].text == "hello from responses" and msg.model == "claude-x"
    req = up.requests[0]
    assert req.path == "/v1/responses" and req.headers["authorization"] == "Bearer sk-resp"
    assert req.json["instructions"] == "be brief" and req.json["store"] is False


def test_stream_reasoning_then_text(ccm, up: FakeResponsesUpstream) -> None:
    up.script(reply_reasoning("thinking it over", "final text"))
    question = [{"role": "user", "content": "q"}]
    thinking = {"type": "adaptive"}
    final = ask(
        sdk(ccm.base_url),
        True,
        model="claude-x",
        max_tokens=50,
        messages=question,
        thinking=thinking,
    )
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[1].text == "final text"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_round_trip(ccm, up: FakeResponsesUpstream, stream: bool) -> None:
    up.script(reply_function_call("Bash", {"command": "pwd"}), reply_text("in /tmp"))
    client = sdk(ccm.base_url)
    msgs: list = [{"role": "user", "content": "where am I"}]
    first = ask(client, stream, model="claude-x", max_tokens=50, tools=TOOLS, messages=msgs)
    call = next(b for b in first.content if b.type == "tool_use")
    assert first.stop_reason == "tool_use" and call.input == {"command": "pwd"}
    msgs += tool_answered(first, "/tmp")
    second = client.messages.create(model="claude-x", max_tokens=50, tools=TOOLS, messages=msgs)
    assert second.content[0].text == "in /tmp"
    items = up.requests[1].json["input"]
    outputs = [i for i in items if i.get("type") == "function_call_output"]
    assert [(o["call_id"], o["output"]) for o in outputs] == [(call.id, "/tmp")]


def test_failed_before_output_fails_over_even_when_streaming(
    ccm, up: FakeResponsesUpstream, backup: FakeResponsesUpstream
) -> None:
    up.script(fail("context window exceeded", "context_length_exceeded"))
    backup.script(reply_text("backup answered"))
    with sdk(ccm.base_url).messages.stream(
        model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as s:
        assert "".join(s.text_stream) == "backup answered"
