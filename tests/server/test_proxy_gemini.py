"""The Gemini dialect end to end: the official SDK and the real Claude Code CLI through ccm to a
fake Gemini API, and Vertex AI with a (fake) token source."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import httpx
import pytest

from tests.fakes.gemini_upstream import (
    FakeGemini,
    reply_function_call,
    reply_text,
    reply_thinking,
    status,
)
from tests.harness import running_ccm
from tests.proxy_setup import (
    TOOLS,
    ask,
    model_toml,
    provider,
    provider_toml,
    proxied,
    sdk,
    tool_answered,
    upstream_fixture,
    write_config,
)

up = upstream_fixture(functools.partial(FakeGemini, require_key="g-key"))


@pytest.fixture
def ccm(tmp_path: Path, up: FakeGemini):
    with proxied(tmp_path, ("gem", up, "gemini-2.5-pro"), keys={"gem": "g-key"}) as ccm:
        yield ccm


def test_text_and_what_reaches_gemini(ccm, up: FakeGemini) -> None:
    up.script(reply_text("hello from gemini"))
    msg = sdk(ccm.base_url).messages.create(
        model="claude-sonnet-4-5",
        max_tokens=50,
        system="be brief",
        messages=[{"role": "user", "content": "hi"}],
    )
    assert msg.content[0].text == "hello from gemini" and msg.model == "claude-sonnet-4-5"
    req = next(up.generation_requests())
    assert req.path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert req.headers["x-goog-api-key"] == "g-key" and "key=" not in req.path  # never in the URL
    assert req.json["systemInstruction"]["parts"][0]["text"] == "be brief"
    assert req.json["generationConfig"]["maxOutputTokens"] == 50


def test_stream_with_thinking(ccm, up: FakeGemini) -> None:
    up.script(reply_thinking("pondering", "the answer"))
    question = [{"role": "user", "content": "q"}]
    thinking = {"type": "enabled", "budget_tokens": 1024}
    final = ask(
        sdk(ccm.base_url),
        True,
        model="claude-x",
        max_tokens=50,
        messages=question,
        thinking=thinking,
    )
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[1].text == "the answer"
    req = next(up.generation_requests())
    assert req.path.endswith(":streamGenerateContent?alt=sse")
    assert req.json["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 1024


def test_tool_use_round_trip(ccm, up: FakeGemini) -> None:
    up.script(reply_function_call("Bash", {"command": "ls"}), reply_text("listed"))
    client = sdk(ccm.base_url)
    msgs: list = [{"role": "user", "content": "list"}]
    first = client.messages.create(model="claude-x", max_tokens=50, tools=TOOLS, messages=msgs)
    call = next(b for b in first.content if b.type == "tool_use")
    assert first.stop_reason == "tool_use" and call.input == {"command": "ls"}
    msgs += tool_answered(first, "a.txt")
    second = client.messages.create(model="claude-x", max_tokens=50, tools=TOOLS, messages=msgs)
    assert second.content[0].text == "listed"
    sent = list(up.generation_requests())[-1].json["contents"]
    assert sent[-1]["parts"][0]["functionResponse"]["name"] == "Bash"


def test_bad_key_fails_over(tmp_path: Path) -> None:
    with FakeGemini(require_key="right") as bad, FakeGemini() as good:
        good.default = reply_text("from the second")
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("g1", bad, key="wrong")
            + provider_toml("g2", good, key="k2")
            + model_toml("m", ("g1", "gemini-a"), ("g2", "gemini-b")),
            router='default = "m"',
        )
        with running_ccm(cfg) as ccm:
            msg = sdk(ccm.base_url).messages.create(
                model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
            assert msg.content[0].text == "from the second"
            assert ccm.state.recent[-1]["attempts"][0]["status"] == 401


class FakeTokenSource:
    def __init__(self) -> None:
        self.calls = 0

    async def token(self) -> str:
        self.calls += 1
        return "vertex-token"


def test_vertex_ai_with_a_token_source(tmp_path: Path) -> None:
    with FakeGemini(require_key="vertex-token") as up:
        up.default = reply_text("from vertex")
        cfg = write_config(
            tmp_path / "config.toml",
            provider(
                "vx",
                "vertex-ai",
                project_id="proj",
                location="us-central1",
                base_url=up.vertex_base_url(),
            )
            + model_toml("m", ("vx", "gemini-2.5-flash")),
            router='default = "m"',
        )
        with running_ccm(cfg) as ccm:
            source = FakeTokenSource()
            ccm.state.runtime.clients["vx"].token_source = source
            msg = sdk(ccm.base_url).messages.create(
                model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
            assert msg.content[0].text == "from vertex"
            req = next(up.generation_requests())
            assert (
                req.path
                == "/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
            )
            assert req.headers["authorization"] == "Bearer vertex-token"
            assert source.calls == 1


def test_errors_are_anthropic_shaped(ccm, up: FakeGemini) -> None:
    up.script(
        status(
            400,
            body=json.dumps(
                {"error": {"code": 400, "message": "bad schema", "status": "INVALID_ARGUMENT"}}
            ),
        )
    )
    with httpx.Client(base_url=ccm.base_url) as c:
        r = c.post(
            "/v1/messages",
            json={
                "model": "claude-x",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    assert (
        r.status_code == 400
        and r.json()["type"] == "error"
        and "bad schema" in r.json()["error"]["message"]
    )
