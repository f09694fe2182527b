"""The proxy end to end against an OpenAI Chat Completions fake, with the official SDK."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import pytest

from tests.fakes.upstream import (
    FakeUpstream,
    reply_text,
    reply_thinking,
    reply_tool_call,
    status,
)
from tests.harness import running_ccm
from tests.proxy_setup import (
    TOOLS,
    ask,
    model_toml,
    provider_toml,
    proxied,
    sdk,
    tool_answered,
    upstream_fixture,
    write_config,
)

up = upstream_fixture("openai")
backup = upstream_fixture("openai")


@pytest.fixture
def ccm(tmp_path: Path, up: FakeUpstream, backup: FakeUpstream):
    keys = {"oa": "sk-oa", "ob": "sk-ob"}
    with proxied(tmp_path, ("oa", up, "gpt-up"), ("ob", backup, "gpt-backup"), keys=keys) as ccm:
        yield ccm


def test_text_non_stream(ccm, up: FakeUpstream) -> None:
    up.script(reply_text("hello from openai", usage={"input_tokens": 12, "output_tokens": 4}))
    msg = sdk(ccm.base_url).messages.create(
        model="claude-sonnet-4-5",
        max_tokens=50,
        system="be brief",
        messages=[{"role": "user", "content": "hi"}],
        stop_sequences=["END"],
    )
    assert msg.content[0].text == "hello from openai"
    assert msg.model == "claude-sonnet-4-5"
    assert msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (12, 4)
    req = up.requests[0]
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-oa"
    assert req.json["model"] == "gpt-up"
    assert req.json["messages"][0] == {"role": "system", "content": "be brief"}
    assert req.json["stop"] == ["END"]


def test_streaming_text_and_thinking(ccm, up: FakeUpstream) -> None:
    up.script(reply_thinking("let me think", "the answer is 4"))
    final = ask(
        sdk(ccm.base_url),
        True,
        model="claude-opus-4-8",
        max_tokens=50,
        messages=[{"role": "user", "content": "2+2?"}],
        thinking={"type": "adaptive"},
    )
    kinds = [b.type for b in final.content]
    assert kinds == ["thinking", "text"]
    assert final.content[0].thinking == "let me think"
    assert final.content[1].text == "the answer is 4"
    assert final.model == "claude-opus-4-8"
    assert up.requests[0].json["stream"] is True
    assert up.requests[0].json["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_round_trip(ccm, up: FakeUpstream, stream: bool) -> None:
    up.script(
        reply_tool_call("Bash", {"command": "echo hi"}, tool_id="call_1"),
        reply_text("it printed hi"),
    )
    client = sdk(ccm.base_url)
    msgs: list = [{"role": "user", "content": "say hi with bash"}]
    model = "claude-m" if stream else "claude-x"
    first = ask(client, stream, model=model, max_tokens=50, tools=TOOLS, messages=msgs)
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert (call.name, call.input) == ("Bash", {"command": "echo hi"})
    assert up.requests[0].json["tools"][0]["function"]["name"] == "Bash"
    msgs += tool_answered(first, "hi", is_error=False)
    second = client.messages.create(model="claude-x", max_tokens=50, tools=TOOLS, messages=msgs)
    assert second.content[0].text == "it printed hi"
    sent = up.requests[1].json["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == call.id
    assert sent[-1] == {"role": "tool", "tool_call_id": call.id, "content": "hi"}


def test_count_tokens_estimates_locally(ccm, up: FakeUpstream) -> None:
    short = sdk(ccm.base_url).messages.count_tokens(
        model="claude-x", messages=[{"role": "user", "content": "hi"}]
    )
    long = sdk(ccm.base_url).messages.count_tokens(
        model="claude-x", messages=[{"role": "user", "content": "word " * 1000}], tools=TOOLS
    )
    assert 0 < short.input_tokens < 20
    assert 1000 < long.input_tokens < 1600
    assert up.requests == []


def test_openai_errors_become_anthropic_errors(ccm, up: FakeUpstream, backup: FakeUpstream) -> None:
    up.script(
        status(
            400,
            body=json.dumps(
                {"error": {"message": "context too long", "type": "invalid_request_error"}}
            ).encode(),
        )
    )
    with pytest.raises(anthropic.BadRequestError) as e:
        sdk(ccm.base_url).messages.create(
            model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert e.value.body["type"] == "error"
    assert "context too long" in e.value.body["error"]["message"]
    assert backup.requests == []


def test_mapping_max_tokens_caps_the_request(tmp_path: Path, up: FakeUpstream) -> None:
    up.default = reply_text("ok")
    cfg = write_config(
        tmp_path / "config.toml",
        provider_toml("oa", up)
        + model_toml("small", ("oa", "deepseek-chat")).replace(
            "priority = 1\n", "priority = 1\nmax_tokens = 8192\n"
        ),
        router='default = "small"',
    )
    with running_ccm(cfg) as ccm:
        c = sdk(ccm.base_url)
        c.messages.create(
            model="claude-x", max_tokens=64000, messages=[{"role": "user", "content": "hi"}]
        )
        c.messages.create(
            model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        )
    first, second = (r.json for r in up.requests)
    assert (first.get("max_tokens") or first.get("max_completion_tokens")) == 8192  # capped
    assert (
        second.get("max_tokens") or second.get("max_completion_tokens")
    ) == 100  # under the cap: as asked
