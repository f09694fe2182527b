"""Reasoning survives the round trip (issue 13): a tool loop through strict fakes of reasoning
models, stream and not, with the official SDK and with the real Claude Code CLI; and a
conversation that moves between providers never sends one provider's signature to another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from ccm.dialects.gemini import SKIP_SIGNATURE
from ccm.dialects.roundtrip import is_ccm
from tests.claude_cli import CLAUDE, run_claude
from tests.fakes.reasoning_upstreams import FakeGemini3, FakeThinkingChat
from tests.fakes.upstream import FakeUpstream, reply_thinking, reply_tool_call
from tests.harness import running_ccm
from tests.proxy_setup import (
    TOOLS,
    ask,
    model_toml,
    provider_toml,
    sdk,
    tool_answered,
    write_config,
)


def ask_thinking(client: anthropic.Anthropic, messages: list[dict], stream: bool, **kw: Any) -> Any:
    args = {"model": "claude-opus-4-8", "max_tokens": 2000, "tools": TOOLS, "messages": messages}
    return ask(client, stream, **{**args, "thinking": {"type": "adaptive"}, **kw})


def tool_loop(client: anthropic.Anthropic, stream: bool) -> list[dict]:
    """Two turns of a tool loop, as Claude Code runs them; the final history."""
    messages: list[dict] = [{"role": "user", "content": "run echo via Bash"}]
    first = ask_thinking(client, messages, stream)
    assert first.stop_reason == "tool_use"
    kinds = [b.type for b in first.content]
    assert kinds[0] == "thinking" and "tool_use" in kinds  # the client sees the reasoning
    messages += tool_answered(first, "hi")
    second = ask_thinking(client, messages, stream)
    assert second.content[-1].text == "done: hi"
    return messages


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("ptype", ["openai", "deepseek"])
def test_openai_dialect_thinking_model_tool_loop(tmp_path: Path, stream: bool, ptype: str) -> None:
    with FakeThinkingChat() as up:
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("ds", up).replace('"openai"', f'"{ptype}"')
            + model_toml("m", ("ds", "deepseek-reasoner")),
            router='default = "m"',
        )
        with running_ccm(cfg) as ccm:
            messages = tool_loop(sdk(ccm.base_url), stream)
        assert up.refusals == []
        sent = up.requests[-1].json["messages"]
        assistant = next(m for m in sent if m["role"] == "assistant")
        assert assistant["reasoning_content"].startswith("I should run")
        # the Kimi-style id went to the client in Anthropic's charset and came back as minted
        assert assistant["tool_calls"][0]["id"].startswith("functions.Bash:")
        assert messages[1]["content"][-1]["id"] != assistant["tool_calls"][0]["id"]


def test_the_strict_fake_refuses_what_ccm_used_to_send(tmp_path: Path) -> None:
    with FakeThinkingChat() as up:
        body = {
            "model": "m",
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]},
            ],
        }
        import httpx

        r = httpx.post(f"{up.base_url}/v1/chat/completions", json=body)
        assert r.status_code == 400
        assert "Missing reasoning_content field" in r.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_3_tool_loop_gives_back_its_signatures(tmp_path: Path, stream: bool) -> None:
    with FakeGemini3() as up:
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("g", up) + model_toml("m", ("g", "gemini-3-pro-preview")),
            router='default = "m"',
        )
        with running_ccm(cfg) as ccm:
            tool_loop(sdk(ccm.base_url), stream)
        assert up.refusals == []
        model_turn = next(c for c in up.requests[-1].json["contents"] if c["role"] == "model")
        call = next(p for p in model_turn["parts"] if "functionCall" in p)
        assert call["thoughtSignature"] in up.issued.values()  # the real one, not the skip value


@pytest.mark.skipif(CLAUDE is None, reason="Claude Code CLI not installed")
@pytest.mark.parametrize("fake", [FakeThinkingChat, FakeGemini3])
def test_claude_code_tool_loop_through_strict_reasoning_fakes(tmp_path: Path, fake: type) -> None:
    with fake() as up:
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("up", up)
            + model_toml(
                "m", ("up", "gemini-3-pro-preview" if fake is FakeGemini3 else "kimi-k2-thinking")
            ),
            router='default = "m"',
        )
        with running_ccm(cfg) as ccm:
            result = run_claude(tmp_path, ccm.base_url)
        assert "hello-from-tool" in result["result"]
        assert up.refusals == []


def _signatures(body: Any) -> list[str]:
    """Every thinking signature / thoughtSignature / reasoning item in a request body."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, v in value.items():
                if key in ("signature", "thoughtSignature", "encrypted_content") and isinstance(
                    v, str
                ):
                    found.append(v)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(body)
    return found


def test_switching_providers_never_sends_a_foreign_signature(tmp_path: Path) -> None:
    """Anthropic -> OpenAI-dialect -> Gemini -> Anthropic in one conversation: each upstream
    sees only its own signatures (or none)."""
    with FakeUpstream("anthropic") as ant, FakeThinkingChat() as chat, FakeGemini3() as gemini:
        ant.script(
            reply_tool_call("Bash", {"command": "a"}, tool_id="toolu_a1"),
        )
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("ant", ant)
            + provider_toml("ds", chat).replace('"openai"', '"deepseek"')
            + provider_toml("gem", gemini)
            + model_toml("a", ("ant", "claude-x"))
            + model_toml("c", ("ds", "deepseek-reasoner"))
            + model_toml("g", ("gem", "gemini-3-pro")),
            router='default = "a"',
        )
        with running_ccm(cfg) as ccm:
            client = sdk(ccm.base_url)
            messages: list[dict] = [{"role": "user", "content": "go"}]
            # turn 1 at Anthropic: a thinking block with Anthropic's own signature
            ant.script(reply_thinking("anthropic thought", "noted", signature="REAL-ANTHROPIC-SIG"))
            for model in ("a", "c", "g", "a"):
                if model == "a" and len(messages) > 1:
                    ant.script(reply_thinking("again", "back", signature="REAL-ANTHROPIC-SIG-2"))
                answer = ask_thinking(client, messages, stream=model == "g", model=model)
                content = [b.model_dump(exclude_none=True) for b in answer.content]
                messages.append({"role": "assistant", "content": content})
                calls = [b for b in answer.content if b.type == "tool_use"]
                if calls:
                    result = [
                        {"type": "tool_result", "tool_use_id": c.id, "content": "ok"} for c in calls
                    ]
                    messages.append({"role": "user", "content": result})
                else:
                    messages.append({"role": "user", "content": "next"})
        # Anthropic: its own signatures only; never a ccm-made one
        for req in ant.requests:
            sigs = _signatures(req.json)
            assert not [s for s in sigs if is_ccm(s)], sigs
            assert set(sigs) <= {"REAL-ANTHROPIC-SIG", "REAL-ANTHROPIC-SIG-2"}
        # the OpenAI-dialect provider: no signature of anyone's
        for req in chat.requests:
            assert _signatures(req.json) == []
        assert chat.refusals == []
        # Gemini: only signatures it issued, and Google's skip value on the first call of a
        # turn that never came from Gemini
        for req in gemini.requests:
            assert set(_signatures(req.json)) <= {*gemini.issued.values(), SKIP_SIGNATURE}
        assert gemini.refusals == []
        assert len(ant.requests) == 2 and chat.requests and gemini.requests
