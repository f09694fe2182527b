"""Anthropic <-> OpenAI Responses API translation: request, response and stream; and the
fake Responses upstream (tests/fakes/responses_upstream.py), driven with httpx.

Streams are checked twice: by strict structural checks of our own (event order, indices,
delta types, each block closed once) and by the official anthropic SDK, which validates
each event with its pydantic models and accumulates them into the final message, as
Claude Code's SDK does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccm.dialects.openai_responses import (
    StreamTranslator,
    TranslationError,
    request_to_responses,
    response_from_responses,
)
from ccm.dialects.registry import PRESETS
from ccm.dialects.roundtrip import sign
from ccm.dialects.sse import SSEDecoder
from tests.anthropic_events import accumulate, check_events
from tests.dialects.cases import (
    IMAGE_RESULT,
    NEVER_CRASHES,
    THINKING_EFFORT,
    TWO_CALLS,
    blocks_of,
    bodies,
    check_message,
    image_tool_turns,
    json_objects,
    load,
    split,
    translate_all,
)
from tests.fakes.responses_upstream import (
    CODEX_PATH,
    RESPONSES_PATH,
    Answer,
    FakeResponsesUpstream,
    cut_stream,
    error_event,
    fail,
    function_call_item,
    reasoning_item,
    reply_function_call,
    reply_incomplete,
    reply_reasoning,
    reply_refusal,
    reply_text,
    status,
    stream_events,
    text_item,
    tool_loop,
)
from tests.fakes.upstream import Recorded
from tests.proxy_setup import upstream_fixture


def _of(provider: str) -> dict[str, Any]:
    """The keyword arguments that build a request for a provider type (or the Codex backend)."""
    if provider in ("openai-codex", "chatgpt", "codex"):
        return {"codex": True}
    return {"quirks": PRESETS[provider].quirks}


RE = sign("resp", {"e": "gAAAA"})  # a reasoning item's signature (the fake's encrypted_content)
R0 = sign("resp", {})  # ... of one that came without encrypted_content


def _req(messages: list, model: str = "gpt-4.1", **extra: Any) -> dict[str, Any]:
    body = {"model": "claude-x", "max_tokens": 1000, "messages": messages, **extra}
    return request_to_responses(body, model, stream=False)


def kinds(items: list[dict]) -> list[str]:
    """`role` for message items, else the item type."""
    return [i["role"] if i.get("type") == "message" else i["type"] for i in items]


# =========================================================================== request


def test_main_turn_instructions_input_and_system_message_in_place() -> None:
    body = load("claude-code-main-turn.json")
    req = request_to_responses(body, "gpt-5-codex", stream=True)
    assert req["instructions"] == "\n\n".join(b["text"] for b in body["system"])
    items = req["input"]
    assert kinds(items) == ["user", "developer"]
    assert all(i["type"] == "message" for i in items)
    user_texts = [b["text"] for b in body["messages"][0]["content"]]
    assert items[0]["content"] == [{"type": "input_text", "text": t} for t in user_texts]
    # Claude Code's mid-conversation system message survives, after the user turn
    assert body["messages"][1]["role"] == "system"
    assert items[1]["content"] == [{"type": "input_text", "text": body["messages"][1]["content"]}]
    assert "cache_control" not in json.dumps(req)


def test_main_turn_tools_params_and_dropped_fields() -> None:
    body = load("claude-code-main-turn.json")
    req = request_to_responses(body, "gpt-5-codex", stream=True)
    assert len(req["tools"]) == 24
    by_name = {t["name"]: t for t in req["tools"]}
    bash = next(t for t in body["tools"] if t["name"] == "Bash")
    assert by_name["Bash"] == {
        "type": "function",
        "name": "Bash",
        "description": bash["description"],
        "parameters": bash["input_schema"],
        "strict": False,
    }
    assert req["max_output_tokens"] == 64000
    assert req["reasoning"] == {"effort": "high", "summary": "auto"}  # adaptive + effort high
    assert req["store"] is False
    assert req["stream"] is True
    assert req["prompt_cache_key"] == "00000000-0000-4000-8000-000000000000"  # session id
    for gone in (
        "context_management",
        "output_config",
        "thinking",
        "metadata",
        "system",
        "messages",
        "max_tokens",
        "temperature",
        "tool_choice",
        "parallel_tool_calls",
        "user",
    ):
        assert gone not in req
    # reasoning comes back encrypted, to be given back next turn (nothing is stored upstream)
    assert req["include"] == ["reasoning.encrypted_content"]
    assert "stream" not in request_to_responses(body, "gpt-5", stream=False)


def test_tool_result_turn_function_call_and_output() -> None:
    body = load("claude-code-tool-result-turn.json")
    req = request_to_responses(body, "gpt-5", stream=True)
    items = req["input"]
    assert kinds(items) == ["user", "developer", "function_call", "function_call_output"]
    tool_use = body["messages"][2]["content"][0]
    assert items[2] == {
        "type": "function_call",
        "call_id": tool_use["id"],
        "name": "Bash",
        "arguments": json.dumps(tool_use["input"], separators=(",", ":")),
    }
    assert json.loads(items[2]["arguments"]) == tool_use["input"]
    assert items[3] == {
        "type": "function_call_output",
        "call_id": tool_use["id"],
        "output": "hello-from-tool",
    }


def test_codex_backend_rules() -> None:
    body = load("claude-code-tool-result-turn.json")
    for provider in ("openai-codex", "chatgpt", "codex"):
        req = request_to_responses(body, "gpt-5-codex", stream=False, **_of(provider))
        assert req["stream"] is True  # the backend refuses non-stream requests
        assert req["store"] is False
        assert "max_output_tokens" not in req  # "Unsupported parameter"
        assert req["instructions"] and req["reasoning"]["effort"] == "high"
        assert req["prompt_cache_key"]
    bare = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}
    req = request_to_responses(bare, "gpt-5-codex", stream=True, **_of("openai-codex"))
    assert req["instructions"]  # the backend requires some
    assert "temperature" not in req
    assert "instructions" not in request_to_responses(bare, "gpt-4.1", stream=True)


def test_tool_outputs_go_before_user_text_of_same_turn() -> None:
    items = _req(TWO_CALLS)["input"]
    assert kinds(items) == [
        "user",
        "assistant",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "user",
    ]
    # thinking dropped; assistant text is output_text
    assert items[1]["content"] == [{"type": "output_text", "text": "Running two."}]
    assert [i["arguments"] for i in items[2:4]] == ['{"x":1}', "{}"]
    assert items[4] == {"type": "function_call_output", "call_id": "t2", "output": "two"}
    assert items[5] == {"type": "function_call_output", "call_id": "t1", "output": "Error: a\n\nb"}
    assert items[6]["content"] == [
        {"type": "input_text", "text": "before"},
        {"type": "input_text", "text": "after"},
    ]


def test_assistant_text_after_tool_use_keeps_order() -> None:
    items = _req(
        [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "A", "input": {}},
                    {"type": "text", "text": "then this"},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ]
    )["input"]
    assert kinds(items) == ["user", "function_call", "assistant", "function_call_output"]
    assert items[3]["output"] == ""


def test_tool_result_images_follow_as_user_message() -> None:
    items = _req(IMAGE_RESULT)["input"]
    assert kinds(items) == ["user", "function_call", "function_call_output", "user"]
    assert items[2]["output"] == "here"
    parts = items[3]["content"]
    assert parts[0]["type"] == "input_text" and "t1" in parts[0]["text"]
    assert parts[1] == {
        "type": "input_image",
        "image_url": "data:image/jpeg;base64,AAAA",
        "detail": "auto",
    }


def test_image_only_tool_result_says_so() -> None:
    img = {"type": "url", "url": "https://x/y.png"}
    items = _req(image_tool_turns(img))["input"]
    assert kinds(items) == ["function_call", "function_call_output", "user"]
    assert "image" in items[1]["output"]
    assert items[2]["content"][1]["image_url"] == "https://x/y.png"


def test_system_message_between_tool_use_and_result_does_not_split_them() -> None:
    items = _req(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "A"}]},
            {"role": "system", "content": [{"type": "text", "text": "reminder"}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ]
    )["input"]
    assert kinds(items) == ["user", "function_call", "function_call_output", "developer"]
    assert items[1]["arguments"] == "{}"
    assert items[3]["content"] == [{"type": "input_text", "text": "reminder"}]


def test_unanswered_call_and_orphan_result() -> None:
    items = _req(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "A"}]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "zzz", "content": "stray"}],
            },
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t2", "name": "B"}]},
        ]
    )["input"]
    assert kinds(items) == [
        "user",
        "function_call",
        "function_call_output",
        "user",
        "function_call",
        "function_call_output",
    ]
    assert items[2]["call_id"] == "t1" and items[2]["output"].startswith("Error:")
    text = items[3]["content"][0]["text"]
    assert "stray" in text and "zzz" in text
    # a call left open at the very end is answered too: the API rejects it otherwise
    assert items[5]["call_id"] == "t2" and items[5]["output"].startswith("Error:")


def test_system_string_empty_system_and_empty_turns() -> None:
    req = _req([{"role": "user", "content": "hi"}], system="be brief")
    assert req["instructions"] == "be brief"
    assert req["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ]
    req = _req(
        [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t"}]},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": ""},
            {"role": "assistant", "content": "plain"},
        ],
        system=[],
    )
    assert "instructions" not in req
    assert kinds(req["input"]) == ["user", "assistant"]
    assert req["input"][1]["content"] == [{"type": "output_text", "text": "plain"}]


@pytest.mark.parametrize(("body", "effort"), THINKING_EFFORT)
def test_thinking_to_reasoning(body: dict, effort: str | None) -> None:
    expected = {"effort": effort, "summary": "auto"} if effort else None
    assert request_to_responses(body, "o4-mini", stream=False).get("reasoning") == expected


def test_reasoning_per_provider_and_model() -> None:
    body = load("claude-code-main-turn.json")
    assert "reasoning" not in request_to_responses(body, "gpt-4.1", stream=True)
    on_type = request_to_responses(body, "gpt-4o", stream=True, **_of("openai-responses"))
    assert "reasoning" not in on_type and on_type["prompt_cache_key"]
    oss = request_to_responses(body, "gpt-oss-20b", stream=True, **_of("openai-responses"))
    assert oss["reasoning"]["effort"] == "high"
    assert "reasoning" in request_to_responses(body, "gpt-5.1-codex-max", stream=True)
    assert "reasoning" in request_to_responses(body, "codex-mini-latest", stream=True)
    assert "reasoning" not in request_to_responses(body, "gpt-5-chat-latest", stream=True)
    other = request_to_responses(body, "gpt-oss-120b", stream=True, **_of("groq"))
    assert other["reasoning"] == {"effort": "high", "summary": "auto"}
    assert "prompt_cache_key" not in other


def test_sampling_params_and_max_output_tokens() -> None:
    msgs = [{"role": "user", "content": "hi"}]
    extra = {"temperature": 0.2, "top_p": 0.9, "top_k": 5, "stop_sequences": ["END"]}
    req = _req(msgs, **extra)
    assert req["temperature"] == 0.2 and req["top_p"] == 0.9
    assert "top_k" not in req and "stop" not in req and "stop_sequences" not in req
    for model in ("gpt-5", "o3", "openai/gpt-5-mini", "gpt-5.1-codex"):
        req = _req(msgs, model=model, **extra)
        assert "temperature" not in req and "top_p" not in req
    assert _req(msgs, max_tokens=1)["max_output_tokens"] == 16  # the API's minimum
    assert "max_output_tokens" not in _req(msgs, max_tokens="many")


def test_structured_output_format() -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    req = _req(
        [{"role": "user", "content": "title please"}],
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert req["text"] == {
        "format": {"type": "json_schema", "name": "output", "schema": schema, "strict": False}
    }
    assert "text" not in _req([{"role": "user", "content": "x"}], output_config={"format": 1})


def test_cache_key_only_from_a_session() -> None:
    for user_id in ("u" * 100, "{not json"):  # no session named: no cache key
        req = _req([{"role": "user", "content": "x"}], metadata={"user_id": user_id})
        assert "prompt_cache_key" not in req
    old = "user_abc_account_1_session_" + "s" * 80
    req = _req([{"role": "user", "content": "x"}], metadata={"user_id": old})
    assert req["prompt_cache_key"] == "s" * 64


@given(bodies)
@NEVER_CRASHES
def test_request_never_crashes(body: dict) -> None:
    req = request_to_responses(body, "gpt-5", stream=True)
    json.dumps(req)  # always serialisable
    # every output answers a call made earlier; every call is answered
    calls: list[str] = []
    answered: list[str] = []
    for item in req["input"]:
        if item["type"] == "function_call":
            assert isinstance(item["arguments"], str)
            calls.append(item["call_id"])
        elif item["type"] == "function_call_output":
            assert item["call_id"] in calls and isinstance(item["output"], str)
            answered.append(item["call_id"])
        else:
            assert item["type"] == "message" and item["content"]
    assert sorted(calls) == sorted(answered)


# =========================================================================== response


def response(
    output: list[dict],
    status: str = "completed",
    usage: dict | None = None,
    **extra: Any,
) -> bytes:
    body: dict[str, Any] = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "upstream-model",
        "status": status,
        "output": output,
        "usage": usage,
        "error": None,
        "incomplete_details": None,
        **extra,
    }
    return json.dumps(body).encode()


def message(*texts: str, refusal: str | None = None) -> dict:
    content: list[dict] = [{"type": "output_text", "text": t, "annotations": []} for t in texts]
    if refusal is not None:
        content.append({"type": "refusal", "refusal": refusal})
    return {"id": "msg_1", "type": "message", "role": "assistant", "content": content}


def call(name: str, arguments: Any, call_id: str = "call_1") -> dict:
    return {
        "id": "fc_1",
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def reasoning(*summary: str, content: list[str] | None = None) -> dict:
    item: dict[str, Any] = {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": s} for s in summary],
        "encrypted_content": "gAAAA",
    }
    if content is not None:
        item["content"] = [{"type": "reasoning_text", "text": t} for t in content]
    return item


USAGE = {
    "input_tokens": 1000,
    "input_tokens_details": {"cached_tokens": 800},
    "output_tokens": 50,
    "output_tokens_details": {"reasoning_tokens": 30},
    "total_tokens": 1050,
}


def test_response_text_and_usage_with_cache() -> None:
    msg = response_from_responses(response([message("Hello", " world")], usage=USAGE), "claude-x")
    check_message(msg)
    assert msg["model"] == "claude-x"
    assert msg["content"] == [{"type": "text", "text": "Hello world"}]
    assert msg["stop_reason"] == "end_turn" and msg["stop_sequence"] is None
    assert msg["usage"] == {
        "input_tokens": 200,
        "output_tokens": 50,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 800,
    }


def test_response_reasoning_summary_becomes_thinking_first() -> None:
    raw = response([reasoning("First.", "Second."), message("answer")], usage=USAGE)
    msg = response_from_responses(raw, "m")
    check_message(msg)
    assert msg["content"] == [
        {"type": "thinking", "thinking": "First.\n\nSecond.", "signature": RE},
        {"type": "text", "text": "answer"},
    ]


def test_response_reasoning_content_fallback_and_empty_reasoning() -> None:
    raw = response([reasoning(content=["raw thoughts"]), reasoning(), message("x")])
    msg = response_from_responses(raw, "m")
    assert msg["content"][0] == {"type": "thinking", "thinking": "raw thoughts", "signature": RE}
    # an item with no text still keeps its encrypted reasoning for the next turn
    assert [b["type"] for b in msg["content"]] == ["thinking", "thinking", "text"]
    assert msg["content"][1] == {"type": "thinking", "thinking": "", "signature": RE}
    assert msg["usage"]["input_tokens"] == 0  # no usage given


def test_response_function_calls() -> None:
    raw = response(
        [
            reasoning("plan"),
            message("Running."),
            call("Bash", '{"command": "ls"}', "call_a"),
            call("Read", "not json", "call_b"),
            call("Edit", {"path": "x"}, "call_c"),
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {}},
        ]
    )
    msg = response_from_responses(raw, "m")
    check_message(msg)
    assert msg["stop_reason"] == "tool_use"
    assert msg["content"][1:] == [
        {"type": "text", "text": "Running."},
        {"type": "tool_use", "id": "call_a", "name": "Bash", "input": {"command": "ls"}},
        {
            "type": "tool_use",
            "id": "call_b",
            "name": "Read",
            "input": {"_raw_arguments": "not json"},
        },
        {"type": "tool_use", "id": "call_c", "name": "Edit", "input": {"path": "x"}},
        # a hosted search: Anthropic's server tool blocks (the action said no query here)
        {
            "type": "server_tool_use",
            "id": "srvtoolu_ws_1",
            "name": "web_search",
            "input": {"query": ""},
        },
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_ws_1", "content": []},
    ]


@pytest.mark.parametrize(
    ("status", "reason", "tools", "expected"),
    [
        ("incomplete", "max_output_tokens", False, "max_tokens"),
        ("incomplete", "max_output_tokens", True, "max_tokens"),
        ("incomplete", "content_filter", False, "refusal"),
        ("incomplete", None, False, "max_tokens"),
        ("completed", None, True, "tool_use"),
        ("completed", None, False, "end_turn"),
    ],
)
def test_response_stop_reasons(status: str, reason: str | None, tools: bool, expected: str) -> None:
    output = [message("partial")] + ([call("A", "{}")] if tools else [])
    details = {"reason": reason} if reason else None
    raw = response(output, status, incomplete_details=details)
    assert response_from_responses(raw, "m")["stop_reason"] == expected


def test_response_refusal() -> None:
    msg = response_from_responses(response([message(refusal="No can do.")]), "m")
    check_message(msg)
    assert msg["content"] == [{"type": "text", "text": "No can do."}]
    assert msg["stop_reason"] == "refusal"


def test_response_string_content_and_unknown_fields() -> None:
    item = {"type": "message", "role": "assistant", "content": "plain", "extra": {"x": 1}}
    raw = response([item], usage={"input_tokens": 5.0, "output_tokens": 2}, surprise=[1, 2])
    msg = response_from_responses(raw, "m")
    assert msg["content"] == [{"type": "text", "text": "plain"}]
    assert msg["usage"]["input_tokens"] == 5


def test_response_failed_and_error_bodies_keep_the_message() -> None:
    raw = response([], "failed", error={"code": "server_error", "message": "boom"})
    with pytest.raises(TranslationError, match="boom"):
        response_from_responses(raw, "m")
    raw = json.dumps({"error": {"message": "bad key", "type": "invalid_request_error"}}).encode()
    with pytest.raises(TranslationError, match="bad key"):
        response_from_responses(raw, "m")


def test_response_from_sse_body() -> None:
    """The Codex backend always streams: a whole SSE body is accepted as a response."""
    req = fake_request({"model": "gpt-5", "stream": True})
    answer = Answer(
        [reasoning_item("why"), text_item("ok"), function_call_item("Bash", {"c": 1}, "call_z")],
        usage={"input_tokens": 30, "output_tokens": 7, "cached_tokens": 10},
    )
    raw = b"".join(stream_events(req, answer))
    msg = response_from_responses(raw, "claude-x")
    check_message(msg)
    assert msg["model"] == "claude-x"
    assert msg["content"] == [
        {"type": "thinking", "thinking": "why", "signature": R0},
        {"type": "text", "text": "ok"},
        {"type": "tool_use", "id": "call_z", "name": "Bash", "input": {"c": 1}},
    ]
    assert msg["stop_reason"] == "tool_use"
    assert msg["usage"] == {
        "input_tokens": 20,
        "output_tokens": 7,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 10,
    }
    failed = b"".join(stream_events(req, Answer([], "failed", error={"message": "quota"})))
    with pytest.raises(TranslationError, match="quota"):
        response_from_responses(failed, "m")
    with pytest.raises(TranslationError, match="ended early"):
        response_from_responses(b"".join(stream_events(req, answer)[:-1]), "m")


# =========================================================================== stream


def ev(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


def resp_obj(status: str = "in_progress", usage: dict | None = None, **extra: Any) -> dict:
    return {"id": "resp_1", "object": "response", "status": status, "output": [], "usage": usage}


def created() -> str:
    return ev("response.created", response=resp_obj())


def completed(usage: dict | None = USAGE, status: str = "completed", **extra: Any) -> str:
    obj = resp_obj(status, usage)
    obj.update(extra)
    kind = "response.completed" if status == "completed" else "response.incomplete"
    return ev(kind, response=obj)


def added(n: int, item: dict) -> str:
    return ev("response.output_item.added", output_index=n, item=item)


def done(n: int, item: dict) -> str:
    return ev("response.output_item.done", output_index=n, item=item)


def text_delta(n: int, delta: str, item_id: str = "msg_1", part: int = 0) -> str:
    return ev(
        "response.output_text.delta",
        item_id=item_id,
        output_index=n,
        content_index=part,
        delta=delta,
    )


def summary_delta(n: int, delta: str, part: int = 0, item_id: str = "rs_1") -> str:
    return ev(
        "response.reasoning_summary_text.delta",
        item_id=item_id,
        output_index=n,
        summary_index=part,
        delta=delta,
    )


def args_delta(n: int, delta: str, item_id: str = "fc_1") -> str:
    return ev(
        "response.function_call_arguments.delta", item_id=item_id, output_index=n, delta=delta
    )


def run(
    events: list[str], *, model: str = "claude-opus-4-8", estimate: int = 0
) -> tuple[list[dict], Any]:
    return translate_all(StreamTranslator(model, estimate), events, late=created())


MSG_ADDED = {"id": "msg_1", "type": "message", "role": "assistant", "content": []}


def test_stream_text() -> None:
    tr = StreamTranslator("claude-opus-4-8", 777)
    assert tr.event(created(), "response.created") == []  # message_start waits for output
    assert not tr.started
    payloads, msg = run(
        [
            created(),
            ev("response.in_progress", response=resp_obj()),
            added(0, MSG_ADDED),
            ev("response.content_part.added", item_id="msg_1", output_index=0, content_index=0),
            text_delta(0, "Hel"),
            text_delta(0, "lo ✓"),
            ev("response.output_text.done", item_id="msg_1", output_index=0, text="Hello ✓"),
            done(0, message("Hello ✓")),
            completed(),
        ],
        estimate=777,
    )
    assert payloads[0]["message"]["model"] == "claude-opus-4-8"
    assert payloads[0]["message"]["usage"]["input_tokens"] == 777
    assert payloads[0]["message"]["usage"]["output_tokens"] == 0
    assert blocks_of(msg) == [{"type": "text", "text": "Hello ✓"}]
    assert [p["type"] for p in payloads].count("content_block_delta") == 2
    assert msg.stop_reason == "end_turn"
    assert payloads[-2]["usage"] == {
        "input_tokens": 200,
        "cache_read_input_tokens": 800,
        "output_tokens": 50,
    }
    assert msg.usage.output_tokens == 50 and msg.usage.input_tokens == 200


def test_stream_reasoning_summary_parts_then_text() -> None:
    _, msg = run(
        [
            created(),
            added(0, {"id": "rs_1", "type": "reasoning", "summary": []}),
            summary_delta(0, "**Plan**"),
            summary_delta(0, " first", 0),
            summary_delta(0, "then", 1),
            done(0, reasoning("**Plan** first", "then")),
            added(1, MSG_ADDED),
            text_delta(1, "answer"),
            done(1, message("answer")),
            completed(),
        ]
    )
    assert blocks_of(msg) == [
        {"type": "thinking", "thinking": "**Plan** first\n\nthen", "signature": RE},
        {"type": "text", "text": "answer"},
    ]


def test_stream_reasoning_text_content_deltas() -> None:
    """Open-weight servers stream full reasoning as response.reasoning_text.delta."""
    _, msg = run(
        [
            created(),
            added(0, {"id": "rs_1", "type": "reasoning", "summary": []}),
            ev("response.reasoning_text.delta", output_index=0, content_index=0, delta="a"),
            ev("response.reasoning_text.delta", output_index=0, content_index=0, delta="b"),
            summary_delta(0, "ignored: the other kind came first"),
            done(0, reasoning(content=["ab"])),
            completed(),
        ]
    )
    assert blocks_of(msg) == [{"type": "thinking", "thinking": "ab", "signature": RE}]


def test_stream_empty_reasoning_item_keeps_only_its_encrypted_content() -> None:
    _, msg = run(
        [
            created(),
            added(0, {"id": "rs_1", "type": "reasoning", "summary": []}),
            done(0, reasoning()),
            added(1, MSG_ADDED),
            text_delta(1, "hi"),
            done(1, message("hi")),
            completed(),
        ]
    )
    assert blocks_of(msg) == [
        {"type": "thinking", "thinking": "", "signature": RE},
        {"type": "text", "text": "hi"},
    ]


def test_stream_function_calls() -> None:
    fc1 = {"id": "fc_1", "type": "function_call", "call_id": "call_a", "name": "Bash"}
    fc2 = {"id": "fc_2", "type": "function_call", "call_id": "call_b", "name": "Read"}
    payloads, msg = run(
        [
            created(),
            added(0, MSG_ADDED),
            text_delta(0, "Let me look."),
            done(0, message("Let me look.")),
            added(1, dict(fc1, arguments="")),
            args_delta(1, '{"command":'),
            args_delta(1, ' "ls ü"}'),
            ev("response.function_call_arguments.done", output_index=1, arguments="..."),
            done(1, dict(fc1, arguments='{"command": "ls ü"}')),
            added(2, dict(fc2, arguments="")),
            args_delta(2, '{"path": "/x"}', "fc_2"),
            done(2, dict(fc2, arguments='{"path": "/x"}')),
            completed(),
        ]
    )
    assert blocks_of(msg) == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_a", "name": "Bash", "input": {"command": "ls ü"}},
        {"type": "tool_use", "id": "call_b", "name": "Read", "input": {"path": "/x"}},
    ]
    assert msg.stop_reason == "tool_use"
    starts = [p for p in payloads if p["type"] == "content_block_start"]
    assert starts[1]["content_block"] == {
        "type": "tool_use",
        "id": "call_a",
        "name": "Bash",
        "input": {},
    }


def test_stream_tool_block_opens_on_added_before_any_argument() -> None:
    tr = StreamTranslator("m")
    tr.event(created())
    fc = {"id": "fc_1", "type": "function_call", "call_id": "c1", "name": "Bash", "arguments": ""}
    out = tr.event(added(0, fc))
    kinds = [json.loads(b.split(b"data: ", 1)[1])["type"] for b in out]
    assert kinds == ["message_start", "ping", "content_block_start"]  # the first output opens all
    assert tr.event(args_delta(0, '{"a": ')) == []  # arguments go out whole, when done
    out = tr.event(args_delta(0, "1"))
    out += tr.event(done(0, {**fc, "arguments": '{"a": 1'}))  # broken: repaired
    assert json.loads(out[0].split(b"data: ", 1)[1])["delta"] == {
        "type": "input_json_delta",
        "partial_json": '{"a":1}',
    }


def test_stream_interleaved_items_are_held_until_the_open_one_closes() -> None:
    fc = {"id": "fc_1", "type": "function_call", "call_id": "c1", "name": "A", "arguments": ""}
    _, msg = run(
        [
            created(),
            added(0, {"id": "rs_1", "type": "reasoning", "summary": []}),
            summary_delta(0, "think "),
            added(1, MSG_ADDED),
            text_delta(1, "text "),
            added(2, fc),
            args_delta(2, '{"a": '),
            summary_delta(0, "more"),
            text_delta(1, "more"),
            args_delta(2, "1}"),
            done(2, dict(fc, arguments='{"a": 1}')),
            done(0, reasoning("think more")),
            done(1, message("text more")),
            completed(),
        ]
    )
    assert blocks_of(msg) == [
        {"type": "thinking", "thinking": "think more", "signature": RE},
        {"type": "text", "text": "text more"},
        {"type": "tool_use", "id": "c1", "name": "A", "input": {"a": 1}},
    ]


def test_stream_done_payload_fills_in_what_deltas_did_not_say() -> None:
    fc = {"id": "fc_1", "type": "function_call", "call_id": "c1", "name": "A"}
    _, msg = run(
        [
            created(),
            added(0, MSG_ADDED),
            text_delta(0, "Hel"),
            done(0, message("Hello")),  # the rest only in the done item
            done(1, dict(fc, arguments='{"k": "v"}')),  # no added, no deltas
            done(2, dict(message("only done"), id="msg_2")),  # nothing before it
            added(3, dict(MSG_ADDED, id="msg_3")),
            text_delta(3, "streamed", "msg_3"),
            done(3, dict(message("different"), id="msg_3")),  # disagrees: deltas win
            completed(),
        ]
    )
    assert blocks_of(msg) == [
        {"type": "text", "text": "Hello"},
        {"type": "tool_use", "id": "c1", "name": "A", "input": {"k": "v"}},
        {"type": "text", "text": "only done"},
        {"type": "text", "text": "streamed"},
    ]


def test_stream_only_terminal_event_with_output() -> None:
    final = resp_obj("completed", USAGE)
    final["output"] = [reasoning("r"), message("t"), call("Bash", '{"x": 1}', "c9")]
    _, msg = run([ev("response.completed", response=final)])
    assert blocks_of(msg) == [
        {"type": "thinking", "thinking": "r", "signature": RE},
        {"type": "text", "text": "t"},
        {"type": "tool_use", "id": "c9", "name": "Bash", "input": {"x": 1}},
    ]
    assert msg.stop_reason == "tool_use"


def test_stream_final_output_does_not_duplicate_streamed_items() -> None:
    final = resp_obj("completed", USAGE)
    final["output"] = [message("Hello")]
    _, msg = run(
        [
            created(),
            added(0, MSG_ADDED),
            text_delta(0, "Hello"),
            done(0, message("Hello")),
            ev("response.completed", response=final),
        ]
    )
    assert blocks_of(msg) == [{"type": "text", "text": "Hello"}]


def test_stream_item_never_done_is_closed_at_the_end() -> None:
    _, msg = run([created(), added(0, MSG_ADDED), text_delta(0, "cut"), completed()])
    assert blocks_of(msg) == [{"type": "text", "text": "cut"}]


def test_stream_deltas_without_indices_or_added_events() -> None:
    _, msg = run(
        [
            created(),
            ev("response.output_text.delta", delta="a"),
            ev("response.output_text.delta", delta="b"),
            completed(),
        ]
    )
    assert blocks_of(msg) == [{"type": "text", "text": "ab"}]


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("incomplete", "max_output_tokens", "max_tokens"),
        ("incomplete", "content_filter", "refusal"),
        ("completed", None, "end_turn"),
    ],
)
def test_stream_stop_reasons(status: str, reason: str | None, expected: str) -> None:
    details = {"reason": reason} if reason else None
    _, msg = run(
        [
            created(),
            added(0, MSG_ADDED),
            text_delta(0, "partial"),
            completed(status=status, incomplete_details=details),
        ]
    )
    assert msg.stop_reason == expected


def test_stream_incomplete_with_tool_call_is_max_tokens() -> None:
    fc = {"id": "fc_1", "type": "function_call", "call_id": "c1", "name": "A", "arguments": ""}
    _, msg = run(
        [
            created(),
            added(0, fc),
            args_delta(0, '{"a": "tru'),
            completed(status="incomplete", incomplete_details={"reason": "max_output_tokens"}),
        ]
    )
    assert msg.stop_reason == "max_tokens"


def test_stream_refusal() -> None:
    _, msg = run(
        [
            created(),
            added(0, MSG_ADDED),
            ev("response.refusal.delta", item_id="msg_1", output_index=0, delta="No."),
            done(0, message(refusal="No.")),
            completed(),
        ]
    )
    assert blocks_of(msg) == [{"type": "text", "text": "No."}]
    assert msg.stop_reason == "refusal"


def test_stream_without_usage_estimates_output() -> None:
    payloads, msg = run(
        [created(), added(0, MSG_ADDED), text_delta(0, "x" * 40), completed(usage=None)],
        estimate=12,
    )
    assert payloads[-2]["usage"] == {"output_tokens": 10}
    assert msg.usage.input_tokens == 12


def test_stream_event_name_used_when_payload_has_no_type() -> None:
    tr = StreamTranslator("m")
    out = tr.event(json.dumps({"response": resp_obj()}), "response.created")
    out += tr.event(json.dumps({"output_index": 0, "delta": "hi"}), "response.output_text.delta")
    out += tr.event(json.dumps({"response": resp_obj("completed", USAGE)}), "response.completed")
    assert blocks_of(accumulate(check_events(b"".join(out)))) == [{"type": "text", "text": "hi"}]


def test_stream_unknown_events_keepalives_and_done_marker() -> None:
    _, msg = run(
        [
            "",
            "  ",
            created(),
            ev("codex.rate_limits", primary={"used_percent": 1.5}),
            ev("response.web_search_call.searching", output_index=0, item_id="ws_1"),
            added(0, {"id": "ws_1", "type": "web_search_call", "action": {"query": "x"}}),
            done(0, {"id": "ws_1", "type": "web_search_call", "status": "completed"}),
            json.dumps({"type": "response.something_new", "delta": {"not": "a string"}}),
            added(1, MSG_ADDED),
            text_delta(1, "ok"),
            "[DONE]",
        ]
    )
    search, result, text = blocks_of(msg)
    assert search == {
        "type": "server_tool_use",
        "id": "srvtoolu_ws_1",
        "name": "web_search",
        "input": {"query": "x"},
    }
    assert result["type"] == "web_search_tool_result" and result["content"] == []
    assert text == {"type": "text", "text": "ok"}
    assert msg.stop_reason == "end_turn"


def test_stream_failed_raises_with_the_message() -> None:
    tr = StreamTranslator("m")
    tr.event(created())
    failed = resp_obj("failed")
    failed["error"] = {"code": "rate_limit_exceeded", "message": "Slow down"}
    with pytest.raises(TranslationError, match="Slow down"):
        tr.event(ev("response.failed", response=failed))
    assert not tr.started  # nothing reached the client: the proxy can still fail over


@pytest.mark.parametrize(
    "event",
    [
        ev("error", code="context_length_exceeded", message="Too long", param=None),
        ev("error", error={"code": "server_error", "message": "Too long"}),
    ],
)
def test_stream_error_event_raises_before_start(event: str) -> None:
    tr = StreamTranslator("m")
    with pytest.raises(TranslationError, match="Too long"):
        tr.event(event)
    assert not tr.started  # nothing went out: the caller may still fail over


@pytest.mark.parametrize("data", ["{not json", ev("response.output_item.added", item=5)])
def test_stream_malformed_events_raise(data: str) -> None:
    tr = StreamTranslator("m")
    tr.event(created())
    with pytest.raises(TranslationError):
        tr.event(data)


def fake_request(body: dict[str, Any]) -> Recorded:
    raw = json.dumps(body).encode()
    return Recorded("POST", RESPONSES_PATH, {}, raw, body, 1, 0.0)


# --- property: however the upstream cuts its deltas and orders its items, the result is
# the same

item_specs = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.text(min_size=1, max_size=20)),
        st.tuples(st.just("thinking"), st.text(min_size=1, max_size=20)),
        st.tuples(st.just("tool"), json_objects),
    ),
    min_size=1,
    max_size=4,
)


@given(
    item_specs,
    st.lists(st.lists(st.integers(0, 10_000), max_size=6), min_size=4, max_size=4),
    st.lists(st.integers(0, 3), max_size=60),
    st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_property_any_delta_split_and_interleaving_gives_the_same_message(
    specs: list[tuple[str, Any]], cuts: list[list[int]], order: list[int], send_done: bool
) -> None:
    headers: list[str] = []
    queues: list[list[str]] = []
    finals: list[dict] = []
    expected: list[dict] = []
    for n, (kind, value) in enumerate(specs):
        if kind == "text":
            headers.append(added(n, dict(MSG_ADDED, id=f"msg_{n}")))
            queues.append([text_delta(n, p, f"msg_{n}") for p in split(value, cuts[n]) if p])
            finals.append(dict(message(value), id=f"msg_{n}"))
            expected.append({"type": "text", "text": value})
        elif kind == "thinking":
            headers.append(added(n, {"id": f"rs_{n}", "type": "reasoning", "summary": []}))
            queues.append([summary_delta(n, p, 0, f"rs_{n}") for p in split(value, cuts[n]) if p])
            finals.append(dict(reasoning(value), id=f"rs_{n}"))
            expected.append(
                {"type": "thinking", "thinking": value, "signature": RE if send_done else R0}
            )
        else:
            args = json.dumps(value, ensure_ascii=False)
            fc = {"id": f"fc_{n}", "type": "function_call", "call_id": f"c{n}", "name": f"T{n}"}
            headers.append(added(n, dict(fc, arguments="")))
            queues.append([args_delta(n, p, f"fc_{n}") for p in split(args, cuts[n]) if p])
            finals.append(dict(fc, arguments=args))
            expected.append({"type": "tool_use", "id": f"c{n}", "name": f"T{n}", "input": value})
    events = [created(), *headers]
    pending = [i for i in range(len(specs)) if queues[i]]
    for pick in order:
        if not pending:
            break
        i = pending[pick % len(pending)]
        events.append(queues[i].pop(0))
        if not queues[i]:
            pending.remove(i)
    for i in range(len(specs)):
        events += queues[i]
        if send_done:
            events.append(done(i, finals[i]))
    events.append(completed())
    _, msg = run(events)
    assert blocks_of(msg) == expected
    has_tool = any(k == "tool" for k, _ in specs)
    assert msg.stop_reason == ("tool_use" if has_tool else "end_turn")


# =========================================================================== the fake


up = upstream_fixture(FakeResponsesUpstream)


@pytest.fixture
def client(up: FakeResponsesUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=up.base_url, timeout=5.0) as c:
        yield c


def translate_call(
    client: httpx.Client, body: dict[str, Any], stream: bool, path: str = RESPONSES_PATH
) -> dict[str, Any]:
    """Anthropic request -> Responses request -> fake -> Anthropic message (both ways)."""
    payload = request_to_responses(body, "gpt-5-codex", stream=stream)
    if not stream:
        r = client.post(path, json=payload)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        return response_from_responses(r.content, body.get("model", "claude"))
    with client.stream("POST", path, json=payload) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        dec = SSEDecoder()
        tr = StreamTranslator(body.get("model", "claude"))
        out: list[bytes] = []
        for chunk in r.iter_bytes():
            for e in dec.feed(chunk):
                out += tr.event(e.data, e.event)
        for e in dec.flush():
            out += tr.event(e.data, e.event)
        out += tr.finish()
    msg = accumulate(check_events(b"".join(out)))
    return msg.to_dict()


def test_fake_raw_non_stream_and_stream_shapes(
    up: FakeResponsesUpstream, client: httpx.Client
) -> None:
    up.script(reply_text("hello world"), reply_text("streamed"))
    r = client.post("/v1/responses", json={"model": "gpt-x", "input": "hi"})
    obj = r.json()
    assert r.status_code == 200 and obj["object"] == "response"
    assert obj["status"] == "completed" and obj["model"] == "gpt-x"
    assert obj["output"][0]["content"][0] == {
        "type": "output_text",
        "text": "hello world",
        "annotations": [],
    }
    assert obj["usage"]["input_tokens"] == 10 and obj["usage"]["output_tokens"] == 5
    r = client.post("/v1/responses", json={"model": "gpt-x", "input": "hi", "stream": True})
    dec = SSEDecoder()
    events = dec.feed(r.content) + dec.flush()
    datas = [json.loads(e.data) for e in events]
    assert all(e.event == d["type"] for e, d in zip(events, datas, strict=True))
    assert [d["sequence_number"] for d in datas] == list(range(len(datas)))
    assert [d["type"] for d in datas] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert "".join(d["delta"] for d in datas if d["type"].endswith(".delta")) == "streamed"
    assert up.pending() == 0


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("path", [RESPONSES_PATH, CODEX_PATH])
def test_fake_replies_through_the_translator(
    up: FakeResponsesUpstream, client: httpx.Client, stream: bool, path: str
) -> None:
    body = {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "q"}]}
    up.script(
        reply_text("plain", usage={"input_tokens": 40, "output_tokens": 4, "cached_tokens": 30}),
        reply_function_call("Bash", {"command": "ls"}, call_id="call_9", text_before="Sure."),
        reply_reasoning("Thinking it over.", "Answer."),
        reply_incomplete("cut", reason="max_output_tokens"),
        reply_refusal("Nope."),
    )
    msg = translate_call(client, body, stream, path)
    assert msg["content"] == [{"type": "text", "text": "plain"}]
    assert msg["usage"]["input_tokens"] == 10 and msg["usage"]["cache_read_input_tokens"] == 30
    msg = translate_call(client, body, stream, path)
    assert [b["type"] for b in msg["content"]] == ["text", "tool_use"]
    assert msg["content"][1] == {
        "type": "tool_use",
        "id": "call_9",
        "name": "Bash",
        "input": {"command": "ls"},
    }
    assert msg["stop_reason"] == "tool_use"
    msg = translate_call(client, body, stream, path)
    assert msg["content"] == [
        {"type": "thinking", "thinking": "Thinking it over.", "signature": R0},
        {"type": "text", "text": "Answer."},
    ]
    msg = translate_call(client, body, stream, path)
    assert msg["stop_reason"] == "max_tokens"
    msg = translate_call(client, body, stream, path)
    assert msg["stop_reason"] == "refusal" and msg["content"][0]["text"] == "Nope."
    assert [r.url_path for r in up.requests] == [path] * 5
    assert all(r.json["store"] is False for r in up.requests)


@pytest.mark.parametrize("stream", [False, True])
def test_fake_tool_loop_end_to_end(
    up: FakeResponsesUpstream, client: httpx.Client, stream: bool
) -> None:
    """A Claude Code style tool loop, Anthropic on one side and Responses on the other."""
    up.default = tool_loop("echo hi")
    body = load("claude-code-main-turn.json")
    body["stream"] = stream
    first = translate_call(client, body, stream)
    tool = first["content"][-1]
    assert first["stop_reason"] == "tool_use"
    assert tool["name"] == "Bash" and tool["input"] == {"command": "echo hi"}
    body["messages"] += [
        {"role": "assistant", "content": first["content"]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool["id"],
                    "content": [{"type": "text", "text": "hi"}],
                },
                {"type": "text", "text": "continue"},
            ],
        },
    ]
    second = translate_call(client, body, stream)
    assert second["content"] == [{"type": "text", "text": "done: hi"}]
    assert second["stop_reason"] == "end_turn"
    sent = up.requests[1].json
    outputs = [i for i in sent["input"] if i["type"] == "function_call_output"]
    assert outputs == [{"type": "function_call_output", "call_id": tool["id"], "output": "hi"}]
    # a new user turn without a tool result starts the loop again
    body["messages"] += [
        {"role": "assistant", "content": second["content"]},
        {"role": "user", "content": "again"},
    ]
    assert translate_call(client, body, stream)["stop_reason"] == "tool_use"


def test_fake_tool_loop_require_offered(up: FakeResponsesUpstream, client: httpx.Client) -> None:
    up.default = tool_loop("true", require_offered=True)
    body = {"model": "claude-haiku", "messages": [{"role": "user", "content": "title?"}]}
    assert translate_call(client, body, False)["content"] == [{"type": "text", "text": "ok"}]


def test_fake_failures_through_the_translator(
    up: FakeResponsesUpstream, client: httpx.Client
) -> None:
    body = {"model": "claude-x", "messages": [{"role": "user", "content": "q"}]}
    up.script(fail("quota gone", "insufficient_quota"), fail("server fell over"))
    with pytest.raises(TranslationError, match="quota gone"):
        translate_call(client, body, True)
    with pytest.raises(TranslationError, match="server fell over"):
        translate_call(client, body, False)
    up.script(error_event("Context too long", "context_length_exceeded"))
    with pytest.raises(TranslationError, match="Context too long"):
        translate_call(client, body, True)
    up.script(cut_stream(5))
    tr = StreamTranslator("claude-x")
    dec = SSEDecoder()
    payload = request_to_responses(body, "gpt-5", stream=True)
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", RESPONSES_PATH, json=payload) as r,
    ):
        for chunk in r.iter_bytes():
            for e in dec.feed(chunk):
                tr.event(e.data, e.event)
    assert tr.started  # created and some text went out: the proxy must end with an error
    with pytest.raises(TranslationError, match="ended early"):
        tr.finish()
    up.script(status(429))
    payload = request_to_responses(body, "gpt-5", stream=True)
    r = client.post(RESPONSES_PATH, json=payload)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"


def test_fake_codex_rules() -> None:
    body = {"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": "q"}]}
    with (
        FakeResponsesUpstream(codex_rules=True) as up,
        httpx.Client(base_url=up.base_url, timeout=5) as c,
    ):
        assert up.codex_base_url.endswith("/backend-api")
        plain = request_to_responses(body, "gpt-5-codex", stream=False)
        r = c.post(CODEX_PATH, json=plain)
        assert r.status_code == 400 and r.json() == {"detail": "Stream must be set to true"}
        for key, value, detail in [
            ("store", True, "Store must be set to false"),
            ("instructions", "", "Instructions are required"),
            ("max_output_tokens", 50, "Unsupported parameter: max_output_tokens"),
        ]:
            bad = dict(plain, stream=True, instructions="x")
            bad.pop("max_output_tokens")
            bad[key] = value
            assert c.post(CODEX_PATH, json=bad).json() == {"detail": detail}
        # the translator's codex output passes, even for a non-stream client request
        ok = request_to_responses(body, "gpt-5-codex", stream=False, **_of("openai-codex"))
        r = c.post(CODEX_PATH, json=ok)
        assert r.status_code == 200
        assert response_from_responses(r.content, "claude-x")["content"][0]["type"] == "text"
        # /v1/responses is not the Codex backend: anything goes
        assert c.post(RESPONSES_PATH, json=plain).status_code == 200
        assert len(up.refusals) == 4 and len(up.requests) == 6


def test_fake_builtins_and_recording(up: FakeResponsesUpstream, client: httpx.Client) -> None:
    r = client.get("/v1/models")
    assert [m["id"] for m in r.json()["data"]] == up.models
    r = client.post("/v1/chat/completions", json={})
    assert r.status_code == 404 and "error" in r.json()
    up.script(reply_text("x"))
    client.post(RESPONSES_PATH, json={"model": "m", "input": []}, headers={"X-Probe": "1"})
    rec = up.requests[-1]
    assert rec.method == "POST" and rec.headers["x-probe"] == "1"
    assert rec.json == {"model": "m", "input": []} and rec.outcome == "complete"
    assert "FakeResponsesUpstream" in repr(up)


def test_reasoning_items_go_back_with_their_encrypted_content() -> None:
    history = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "plan", "signature": RE},
                {"type": "thinking", "thinking": "no content", "signature": R0},
                {"type": "thinking", "thinking": "anthropic's", "signature": "REAL"},
                {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "ok"}],
        },
    ]
    items = _req(history, model="gpt-5")["input"]
    assert [i["type"] for i in items] == [
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
    ]
    assert items[1] == {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "plan"}],
        "encrypted_content": "gAAAA",
    }
