"""Anthropic's web_search server tool on translated providers: the provider's own search where
it has one (Responses `web_search`, Chat Completions `web_search_options` on search models,
OpenRouter's `web` plugin, Gemini `googleSearch`), else a function whose calls ccm answers
with a `web_search_tool_result` error the model sees."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from ccm.config.schema import ProviderConfig
from ccm.dialects import quirks as q
from ccm.dialects.base import NO_CREDENTIAL, Job, Target
from ccm.dialects.gemini import GEMINI
from ccm.dialects.openai_chat import CHAT
from ccm.dialects.openai_responses import RESPONSES
from ccm.dialects.websearch import NOTE, fix_message, query_of, stubbed_name
from tests.anthropic_events import accumulate, check_events

WEB_SEARCH = {
    "type": "web_search_20250305",
    "name": "web_search",
    "max_uses": 8,
    "allowed_domains": ["python.org"],
}
BASH = {"name": "Bash", "input_schema": {"type": "object", "properties": {}}}
# what Claude Code's WebSearch tool sends for one search (2.1.197)
SEARCH_BODY: dict[str, Any] = {
    "model": "claude-opus-4-8",
    "max_tokens": 32000,
    "system": [
        {"type": "text", "text": "You are an assistant for performing a web search tool use"}
    ],
    "messages": [
        {"role": "user", "content": "Perform a web search for the query: python 3.14 release"}
    ],
    "tools": [WEB_SEARCH],
    "tool_choice": {"type": "tool", "name": "web_search"},
    "thinking": {"type": "disabled"},
}


def _target(ptype: str, model: str, quirks: q.Quirks) -> Target:
    return Target(
        model, "http://up/v1", "bearer", quirks, ProviderConfig(name="p", provider_type=ptype)
    )


def _job(body: dict[str, Any] = SEARCH_BODY, stream: bool = False) -> Job:
    return Job(body, {}, stream, "claude-opus-4-8")


def _payload(dialect: Any, target: Target, body: dict[str, Any] = SEARCH_BODY) -> dict[str, Any]:
    call = dialect.build(_job(body), target, NO_CREDENTIAL)
    return json.loads(call.content)


# ---- providers that search


def test_responses_gets_its_hosted_search() -> None:
    req = _payload(RESPONSES, _target("openai-responses", "gpt-5", q.RESPONSES))
    assert req["tools"] == [{"type": "web_search", "filters": {"allowed_domains": ["python.org"]}}]
    assert req["tool_choice"] == "required"  # the tool the client named: the only one
    assert req["include"] == ["web_search_call.action.sources"]
    body = {**SEARCH_BODY, "tools": [BASH, WEB_SEARCH], "thinking": {"type": "adaptive"}}
    req = _payload(RESPONSES, _target("openai-responses", "gpt-5", q.RESPONSES), body)
    assert [t["type"] for t in req["tools"]] == ["function", "web_search"]
    assert req["tool_choice"] == "auto"
    assert req["include"] == ["reasoning.encrypted_content", "web_search_call.action.sources"]


def test_responses_search_results_come_back_as_server_tool_blocks() -> None:
    raw = json.dumps(
        {
            "status": "completed",
            "output": [
                {
                    "type": "web_search_call",
                    "id": "ws_9",
                    "status": "completed",
                    "action": {
                        "type": "search",
                        "query": "python 3.14 release",
                        "sources": [
                            {"type": "url", "url": "https://docs.python.org/3.14/whatsnew"},
                            {"type": "url", "url": "https://docs.python.org/3.14/whatsnew"},
                        ],
                    },
                },
                {
                    "type": "message",
                    "content": [{"type": "output_text", "text": "3.14 is out.", "annotations": []}],
                },
            ],
        }
    ).encode()
    msg = json.loads(RESPONSES.decode(raw, _job()).content)
    use, result, text = msg["content"]
    assert use == {
        "type": "server_tool_use",
        "id": "srvtoolu_ws_9",
        "name": "web_search",
        "input": {"query": "python 3.14 release"},
    }
    assert result["tool_use_id"] == "srvtoolu_ws_9"
    assert [r["url"] for r in result["content"]] == ["https://docs.python.org/3.14/whatsnew"]
    assert text == {"type": "text", "text": "3.14 is out."}
    assert msg["stop_reason"] == "end_turn"


def test_openai_search_models_get_web_search_options() -> None:
    body = {
        **SEARCH_BODY,
        "tools": [{**WEB_SEARCH, "user_location": {"type": "approximate", "city": "Oslo"}}],
    }
    req = _payload(CHAT, _target("openai", "gpt-4o-search-preview", q.OPENAI), body)
    assert req["web_search_options"] == {
        "user_location": {"type": "approximate", "approximate": {"city": "Oslo"}}
    }
    assert "tools" not in req and "tool_choice" not in req


def test_openrouter_gets_its_web_plugin() -> None:
    req = _payload(CHAT, _target("openrouter", "moonshotai/kimi-k2", q.OPENROUTER))
    assert req["plugins"] == [{"id": "web"}]
    assert "tools" not in req and "tool_choice" not in req


def test_gemini_gets_google_search_unless_told_it_cannot() -> None:
    req = _payload(GEMINI, _target("gemini", "gemini-2.5-flash", q.GEMINI))
    assert req["tools"] == [{"googleSearch": {}}]
    cannot = msgspec.structs.replace(q.GEMINI, web_search="none")
    req = _payload(GEMINI, _target("gemini", "gemini-2.5-flash", cannot))
    (declaration,) = req["tools"][0]["functionDeclarations"]
    assert (
        declaration["name"] == "web_search" and "query" in declaration["parameters"]["properties"]
    )


# ---- providers that cannot: a function, and its calls answered with an error


@pytest.mark.parametrize(
    ("ptype", "model", "quirks"),
    [("deepseek", "deepseek-chat", q.DEEPSEEK), ("openai", "gpt-4o", q.OPENAI)],
)
def test_a_provider_that_cannot_search_gets_a_function(
    ptype: str, model: str, quirks: q.Quirks
) -> None:
    req = _payload(CHAT, _target(ptype, model, quirks))
    (tool,) = req["tools"]
    assert tool["function"]["name"] == "web_search"
    assert tool["function"]["parameters"]["required"] == ["query"]
    assert req["tool_choice"] == {"type": "function", "function": {"name": "web_search"}}
    assert "web_search_options" not in req and "plugins" not in req
    assert SEARCH_BODY["tools"] == [WEB_SEARCH]  # the client's body is not changed


def _chat_call_answer() -> bytes:
    return json.dumps(
        {
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_7",
                                "type": "function",
                                "function": {
                                    "name": "web_search",
                                    "arguments": '{"query": "python 3.14 release"}',
                                },
                            }
                        ],
                    },
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        }
    ).encode()


def _check_unavailable(content: list[dict[str, Any]]) -> None:
    use, result, note = content
    assert use == {
        "type": "server_tool_use",
        "id": "srvtoolu_7",
        "name": "web_search",
        "input": {"query": "python 3.14 release"},
    }
    assert result == {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_7",
        "content": {"type": "web_search_tool_result_error", "error_code": "unavailable"},
    }
    assert note == {"type": "text", "text": NOTE}


def test_the_call_is_answered_with_an_error_in_a_whole_answer() -> None:
    msg = json.loads(CHAT.decode(_chat_call_answer(), _job()).content)
    _check_unavailable(msg["content"])
    assert msg["stop_reason"] == "end_turn"


def _chat_stream_chunks() -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        c = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return "data: " + json.dumps(c) + "\n\n"

    call = {
        "index": 0,
        "id": "call_7",
        "type": "function",
        "function": {"name": "web_search", "arguments": ""},
    }
    parts = [
        chunk({"role": "assistant", "content": "Searching."}),
        chunk({"tool_calls": [call]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"query": "python'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' 3.14 release"}'}}]}),
        chunk({}, "tool_calls"),
        "data: [DONE]\n\n",
    ]
    return "".join(parts).encode()


@pytest.mark.parametrize("split", [1, 7, 10_000])
def test_the_call_is_answered_with_an_error_in_a_stream(split: int) -> None:
    translator = CHAT.translator(_job(stream=True))
    raw = _chat_stream_chunks()
    out: list[bytes] = []
    for i in range(0, len(raw), split):
        out.extend(translator.feed(raw[i : i + split]))
    out.extend(translator.finish())
    assert translator.done and translator.started
    events = check_events(b"".join(out))
    msg = accumulate(events)
    blocks = [b.model_dump(exclude_none=True) for b in msg.content]
    assert blocks[0] == {"type": "text", "text": "Searching."}
    use, result, note = blocks[1:]
    assert use["type"] == "server_tool_use" and use["input"] == {"query": "python 3.14 release"}
    assert result["content"]["error_code"] == "unavailable"
    assert result["tool_use_id"] == use["id"]
    assert note["text"] == NOTE
    assert msg.stop_reason == "end_turn"


def test_client_tools_keep_tool_use_and_a_clients_own_web_search_function_is_left_alone() -> None:
    raw = json.loads(_chat_call_answer())
    raw["choices"][0]["message"]["tool_calls"].append(
        {"id": "call_8", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
    )
    body = {**SEARCH_BODY, "tools": [WEB_SEARCH, BASH]}
    msg = json.loads(CHAT.decode(json.dumps(raw).encode(), _job(body)).content)
    assert [b["type"] for b in msg["content"]] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
        "tool_use",
    ]
    assert msg["stop_reason"] == "tool_use"  # Bash still waits for the client
    own = {"name": "web_search", "input_schema": {"type": "object"}}
    assert stubbed_name({**SEARCH_BODY, "tools": [WEB_SEARCH, own]}) is None
    untouched = {"content": [{"type": "tool_use", "name": "web_search", "id": "x", "input": {}}]}
    assert fix_message(untouched, "other") is untouched


def test_query_of_claude_codes_request() -> None:
    assert query_of(SEARCH_BODY) == "python 3.14 release"
    assert (
        query_of({"messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}]})
        == "q"
    )
    assert query_of({}) == ""
