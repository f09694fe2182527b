"""Anthropic <-> OpenAI Chat Completions translation: request, response and stream.

Streams are checked twice: by strict structural checks of our own (event order, indices,
delta types) and by the official anthropic SDK, which validates each event with its
pydantic models and accumulates them into the final message, as Claude Code's SDK does.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccm.dialects.openai_chat import (
    StreamTranslator,
    TranslationError,
    request_to_openai,
    response_from_openai,
)
from ccm.dialects.registry import PRESETS
from ccm.dialects.roundtrip import sign, to_upstream_id
from tests.dialects.cases import (
    IMAGE_RESULT,
    NEVER_CRASHES,
    THINKING_EFFORT,
    TWO_CALLS,
    blocks_of,
    bodies,
    check_message,
    json_objects,
    load,
    split,
    translate_all,
)


def _of(provider: str) -> dict[str, Any]:
    """The keyword arguments that build a request for a provider type."""
    return {"quirks": PRESETS[provider].quirks}


RC = sign("chat", {"f": "reasoning_content"})  # the signature of reasoning_content reasoning
RS = sign("chat", {"f": "reasoning"})  # ... of `reasoning` reasoning


# =========================================================================== request


def test_main_turn_system_blocks_and_system_message_in_place() -> None:
    body = load("claude-code-main-turn.json")
    req = request_to_openai(body, "gpt-5", stream=True)
    msgs = req["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "system"]
    texts = [b["text"] for b in body["system"]]
    assert msgs[0]["content"] == "\n\n".join(texts)
    # the user turn (system-reminder + request) is one string: text-only content
    user_texts = [b["text"] for b in body["messages"][0]["content"]]
    assert msgs[1]["content"] == "\n\n".join(user_texts)
    # Claude Code's mid-conversation system message survives, after the user turn
    assert body["messages"][1]["role"] == "system"
    assert msgs[2]["content"] == body["messages"][1]["content"]
    assert "cache_control" not in json.dumps(req)


def test_main_turn_tools_params_and_dropped_fields() -> None:
    body = load("claude-code-main-turn.json")
    req = request_to_openai(body, "gpt-5", stream=True)
    assert len(req["tools"]) == 24
    by_name = {t["function"]["name"]: t for t in req["tools"]}
    bash = next(t for t in body["tools"] if t["name"] == "Bash")
    assert by_name["Bash"] == {
        "type": "function",
        "function": {
            "name": "Bash",
            "description": bash["description"],
            "parameters": bash["input_schema"],
        },
    }
    assert req["max_completion_tokens"] == 64000
    assert "max_tokens" not in req
    assert req["reasoning_effort"] == "high"  # adaptive + output_config.effort high
    assert req["stream"] is True
    assert req["stream_options"] == {"include_usage": True}
    # a stable hash of the user (never the id itself), and the session as prompt_cache_key
    assert req["user"].startswith("ccm-") and len(req["user"]) == 28
    assert body["metadata"]["user_id"] not in json.dumps(req)
    assert req["prompt_cache_key"] == json.loads(body["metadata"]["user_id"])["session_id"]
    for gone in ("context_management", "output_config", "thinking", "metadata", "system"):
        assert gone not in req
    assert "tool_choice" not in req and "parallel_tool_calls" not in req


@pytest.mark.parametrize(
    ("provider", "model", "key"),
    [
        ("openai", "gpt-4o", "max_completion_tokens"),
        ("openai", "gpt-5", "max_completion_tokens"),
        ("deepseek", "deepseek-chat", "max_tokens"),
        ("groq", "llama-3.3-70b", "max_completion_tokens"),  # Groq's API reference
        ("openrouter", "openai/gpt-5", "max_tokens"),
        ("openai-compatible", "o3-mini", "max_completion_tokens"),
    ],
)
def test_max_tokens_key(provider: str, model: str, key: str) -> None:
    req = request_to_openai(
        load("claude-code-main-turn.json"), model, stream=False, **_of(provider)
    )
    other = {"max_tokens", "max_completion_tokens"} - {key}
    assert req[key] == 64000
    assert not other & req.keys()
    assert "stream" not in req and "stream_options" not in req


def test_reasoning_effort_per_provider() -> None:
    body = load("claude-code-main-turn.json")
    assert "reasoning_effort" not in request_to_openai(body, "gpt-4o", stream=True)
    orq = request_to_openai(body, "openai/gpt-5", stream=True, **_of("openrouter"))
    assert orq["reasoning"] == {"effort": "high"}
    assert "reasoning_effort" not in orq
    ds = request_to_openai(body, "deepseek-reasoner", stream=True, **_of("deepseek"))
    assert "reasoning" not in ds and "reasoning_effort" not in ds


@pytest.mark.parametrize(("body", "effort"), THINKING_EFFORT)
def test_thinking_to_effort(body: dict, effort: str | None) -> None:
    assert request_to_openai(body, "o4-mini", stream=False).get("reasoning_effort") == effort


def test_tool_result_turn_tool_message_follows_tool_calls() -> None:
    body = load("claude-code-tool-result-turn.json")
    req = request_to_openai(body, "gpt-4o", stream=True)
    msgs = req["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "system", "assistant", "tool"]
    call = msgs[3]["tool_calls"][0]
    tool_use = body["messages"][2]["content"][0]
    assert call["id"] == tool_use["id"]
    assert call["type"] == "function"
    assert call["function"]["name"] == "Bash"
    assert json.loads(call["function"]["arguments"]) == tool_use["input"]
    assert msgs[3]["content"] is None
    assert msgs[4] == {
        "role": "tool",
        "tool_call_id": tool_use["id"],
        "content": "hello-from-tool",
    }


def _req(messages: list, **extra: Any) -> dict[str, Any]:
    body = {"model": "claude-x", "max_tokens": 1000, "messages": messages, **extra}
    return request_to_openai(body, "gpt-4o", stream=False)


def test_tool_results_go_before_user_text_of_same_turn() -> None:
    msgs = _req(TWO_CALLS)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool", "user"]
    assert msgs[1]["content"] == "Running two."  # thinking blocks dropped
    assert [c["function"]["arguments"] for c in msgs[1]["tool_calls"]] == ['{"x":1}', "{}"]
    assert msgs[2] == {"role": "tool", "tool_call_id": "t2", "content": "two"}
    assert msgs[3] == {"role": "tool", "tool_call_id": "t1", "content": "Error: a\n\nb"}
    assert msgs[4] == {"role": "user", "content": "before\n\nafter"}


def test_tool_result_images_follow_as_user_message() -> None:
    msgs = _req(IMAGE_RESULT)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "user"]
    assert msgs[2]["content"] == "here"
    parts = msgs[3]["content"]
    assert parts[0]["type"] == "text" and "t1" in parts[0]["text"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}


def test_system_message_between_tool_use_and_result_does_not_split_them() -> None:
    msgs = _req(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "A"}]},
            {"role": "system", "content": "reminder"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ]
    )["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "system"]
    assert msgs[2] == {"role": "tool", "tool_call_id": "t1", "content": ""}


def test_unanswered_call_and_orphan_result() -> None:
    msgs = _req(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "A"}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "zzz", "content": "stray"},
                ],
            },
        ]
    )["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "user"]
    assert msgs[2]["tool_call_id"] == "t1" and msgs[2]["content"].startswith("Error:")
    assert "stray" in msgs[3]["content"] and "zzz" in msgs[3]["content"]


def test_system_string_and_empty_system() -> None:
    msgs = _req([{"role": "user", "content": "hi"}], system="be brief")["messages"]
    assert msgs[0] == {"role": "system", "content": "be brief"}
    msgs = _req([{"role": "user", "content": "hi"}], system=[])["messages"]
    assert msgs == [{"role": "user", "content": "hi"}]


def test_sampling_params() -> None:
    extra = {"temperature": 0.3, "top_p": 0.9, "top_k": 40, "stop_sequences": ["END"]}
    req = _req([{"role": "user", "content": "hi"}], **extra)
    assert req["temperature"] == 0.3 and req["top_p"] == 0.9 and req["stop"] == ["END"]
    assert "top_k" not in req
    body = {"model": "x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    req = request_to_openai({**body, **extra}, "gpt-5-mini", stream=False)
    assert (
        not {"temperature", "top_p", "stop", "top_k"} & req.keys()
    )  # OpenAI reasoners reject them
    req = request_to_openai({**body, **extra}, "gpt-5", stream=False, **_of("openrouter"))
    assert req["temperature"] == 0.3 and req["stop"] == ["END"]


def test_background_structured_output() -> None:
    body = load("claude-code-background.json")
    req = request_to_openai(body, "gpt-4o-mini", stream=True)
    schema = body["output_config"]["format"]["schema"]
    assert req["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }
    assert req["temperature"] == 1
    assert "reasoning_effort" not in req  # thinking disabled
    ds = request_to_openai(body, "deepseek-chat", stream=True, **_of("deepseek"))
    assert "response_format" not in ds


@given(bodies)
@NEVER_CRASHES
def test_request_never_crashes(body: dict) -> None:
    req = request_to_openai(body, "gpt-4o", stream=True)
    json.dumps(req)  # always serialisable
    # every tool message answers a call of the assistant message just before its run
    run_ids: set[str] = set()
    for m in req["messages"]:
        if m["role"] == "assistant":
            run_ids = {c["id"] for c in m.get("tool_calls", ())}
        elif m["role"] == "tool":
            assert m["tool_call_id"] in run_ids
        else:
            run_ids = set()


# =========================================================================== response


def completion(
    message: dict, finish: str | None = "stop", usage: dict | None = None, **choice: Any
) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "upstream-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": finish,
                **choice,
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body).encode()


def test_response_text_and_usage_with_cache() -> None:
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 50,
        "total_tokens": 1050,
        "prompt_tokens_details": {"cached_tokens": 800},
        "completion_tokens_details": {"reasoning_tokens": 10},
    }
    msg = response_from_openai(completion({"content": "Hello"}, usage=usage), "claude-opus-4-8")
    check_message(msg)
    assert msg["model"] == "claude-opus-4-8"
    assert msg["content"] == [{"type": "text", "text": "Hello"}]
    assert msg["stop_reason"] == "end_turn" and msg["stop_sequence"] is None
    assert msg["usage"]["input_tokens"] == 200
    assert msg["usage"]["cache_read_input_tokens"] == 800
    assert msg["usage"]["output_tokens"] == 50


def test_response_deepseek_cache_and_reasoning_first() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 64}
    raw = completion({"content": "Answer", "reasoning_content": "Let me think"}, usage=usage)
    msg = response_from_openai(raw, "m")
    check_message(msg)
    assert msg["content"] == [
        {"type": "thinking", "thinking": "Let me think", "signature": RC},
        {"type": "text", "text": "Answer"},
    ]
    assert msg["usage"]["input_tokens"] == 36 and msg["usage"]["cache_read_input_tokens"] == 64


def test_response_openrouter_reasoning_and_null_content() -> None:
    msg = response_from_openai(completion({"content": None, "reasoning": "thoughts"}), "m")
    check_message(msg)
    assert msg["content"] == [{"type": "thinking", "thinking": "thoughts", "signature": RS}]
    assert msg["usage"]["input_tokens"] == 0 and msg["usage"]["output_tokens"] == 0


def test_response_tool_calls() -> None:
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
        },
        {"type": "function", "function": {"name": "Read", "arguments": "{not json"}},
        {
            "id": "functions.Edit:3",
            "type": "function",
            "function": {"name": "Edit", "arguments": '{"path": "a", '},
        },
        {"id": "call_3", "type": "function", "function": {"name": "Obj", "arguments": {"a": 1}}},
    ]
    raw = completion({"content": None, "tool_calls": calls}, finish="tool_calls")
    msg = response_from_openai(raw, "m")
    check_message(msg)
    assert msg["stop_reason"] == "tool_use"
    c = msg["content"]
    assert [b["type"] for b in c] == ["tool_use"] * 4
    assert c[0] == {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}}
    # not JSON at all: the text goes to the tool, which refuses it, so the model sees it
    assert c[1]["id"].startswith("toolu_") and c[1]["input"] == {"_raw_arguments": "{not json"}
    # broken JSON that json-repair can mend, and a Kimi-style id mapped into Anthropic's charset
    assert c[2]["input"] == {"path": "a"}
    assert (
        re.fullmatch(r"[a-zA-Z0-9_-]+", c[2]["id"])
        and to_upstream_id(c[2]["id"]) == "functions.Edit:3"
    )
    assert c[3]["input"] == {"a": 1}


@pytest.mark.parametrize(
    ("finish", "tools", "expected"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("function_call", True, "tool_use"),
        ("content_filter", False, "refusal"),
        (None, False, "end_turn"),
        ("stop", True, "tool_use"),  # some providers say "stop" with tool calls
        ("tool_calls", False, "end_turn"),  # ... and some say tool_calls without any
        ("length", True, "max_tokens"),
        ("eos", False, "end_turn"),
    ],
)
def test_response_finish_reasons(finish: str | None, tools: bool, expected: str) -> None:
    message: dict[str, Any] = {"content": "x"}
    if tools:
        message["tool_calls"] = [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]
    msg = response_from_openai(completion(message, finish=finish), "m")
    check_message(msg)
    assert msg["stop_reason"] == expected


def test_response_stop_sequence_reported() -> None:
    msg = response_from_openai(completion({"content": "x"}, stop_reason="END"), "m")
    assert (msg["stop_reason"], msg["stop_sequence"]) == ("stop_sequence", "END")
    msg = response_from_openai(completion({"content": "x"}, matched_stop="###"), "m")
    assert (msg["stop_reason"], msg["stop_sequence"]) == ("stop_sequence", "###")
    msg = response_from_openai(completion({"content": "x"}, stop_reason=151643), "m")
    assert (msg["stop_reason"], msg["stop_sequence"]) == ("end_turn", None)  # a token id


def test_response_refusal() -> None:
    msg = response_from_openai(completion({"content": None, "refusal": "I can't."}), "m")
    check_message(msg)
    assert msg["content"] == [{"type": "text", "text": "I can't."}]
    assert msg["stop_reason"] == "refusal"


def test_response_error_message_kept() -> None:
    raw = b'{"error": {"message": "quota exceeded", "type": "insufficient_quota"}}'
    with pytest.raises(TranslationError, match="quota exceeded"):
        response_from_openai(raw, "m")


def test_response_list_content_and_unknown_fields() -> None:
    raw = json.dumps(
        {
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                        "annotations": [],
                    },
                    "finish_reason": "stop",
                    "logprobs": None,
                    "native_finish_reason": "STOP",
                }
            ],
            "usage": {"prompt_tokens": 3.0, "completion_tokens": 2, "cost": 0.01},
            "system_fingerprint": "fp",
        }
    ).encode()
    msg = response_from_openai(raw, "m")
    check_message(msg)
    assert msg["content"] == [{"type": "text", "text": "ab"}]
    assert msg["usage"]["input_tokens"] == 3


# =========================================================================== stream


def chunk(
    delta: dict | None = None,
    finish: str | None = None,
    *,
    usage: dict | None = None,
    choices: bool = True,
    **choice: Any,
) -> str:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish, **choice}]
        if choices
        else [],
    }
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body)


def tc(
    index: int | None, args: str | None = None, *, id: str | None = None, name: str | None = None
) -> dict:
    call: dict[str, Any] = {"function": {}}
    if index is not None:
        call["index"] = index
    if id is not None:
        call["id"] = id
        call["type"] = "function"
    if name is not None:
        call["function"]["name"] = name
    if args is not None:
        call["function"]["arguments"] = args
    return {"tool_calls": [call]}


USAGE = {
    "prompt_tokens": 120,
    "completion_tokens": 30,
    "total_tokens": 150,
    "prompt_tokens_details": {"cached_tokens": 100},
}


def run(
    chunks: list[str], *, model: str = "claude-opus-4-8", estimate: int = 0
) -> tuple[list[dict], Any]:
    return translate_all(StreamTranslator(model, estimate), chunks, late=chunk({"content": "late"}))


def test_stream_text() -> None:
    payloads, msg = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hel"}),
            chunk({"content": "lo ✓"}),
            chunk({}, "stop"),
            chunk(choices=False, usage=USAGE),
            "[DONE]",
        ],
        estimate=777,
    )
    assert payloads[0]["message"]["model"] == "claude-opus-4-8"
    assert payloads[0]["message"]["usage"]["input_tokens"] == 777
    assert payloads[0]["message"]["usage"]["output_tokens"] == 0
    assert blocks_of(msg) == [{"type": "text", "text": "Hello ✓"}]
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.input_tokens == 20
    assert msg.usage.cache_read_input_tokens == 100
    assert msg.usage.output_tokens == 30
    assert msg.model == "claude-opus-4-8"


def test_stream_done_emits_the_end_and_finish_is_idempotent() -> None:
    tr = StreamTranslator("m")
    assert tr.event(chunk({"content": "x"}, "stop"))
    end = tr.event("[DONE]")
    assert [e.split(b"\n", 1)[0] for e in end] == [
        b"event: content_block_stop",
        b"event: message_delta",
        b"event: message_stop",
    ]
    assert tr.finish() == [] and tr.event(chunk({"content": "late"})) == []


def test_stream_reasoning_then_text() -> None:
    _, msg = run(
        [
            chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
            chunk({"content": None, "reasoning_content": "Let me "}),
            chunk({"content": None, "reasoning_content": "think."}),
            chunk({"content": "Answer", "reasoning_content": None}),
            chunk({"content": "!"}, "stop"),
            "[DONE]",
        ]
    )
    assert blocks_of(msg) == [
        {"type": "thinking", "thinking": "Let me think.", "signature": RC},
        {"type": "text", "text": "Answer!"},
    ]


def test_stream_openrouter_reasoning_field() -> None:
    _, msg = run(
        [
            chunk({"role": "assistant", "content": "", "reasoning": "hmm"}),
            chunk({"content": "ok", "reasoning": None}, "stop"),
        ]
    )
    assert [b["type"] for b in blocks_of(msg)] == ["thinking", "text"]


def test_stream_sequential_tool_calls_open_at_once_and_send_arguments_whole() -> None:
    tr = StreamTranslator("m")
    tr.event(chunk({"role": "assistant", "content": "Let me look."}))
    first = tr.event(chunk(tc(0, "", id="call_a", name="Read")))
    assert b'"type":"content_block_stop","index":0' in b"".join(first)  # text closed
    assert b'"name":"Read"' in b"".join(first)
    held = tr.event(chunk(tc(0, '{"file_path": ')))
    assert b"input_json_delta" not in b"".join(held)  # held until the call is complete
    tr.event(chunk(tc(0, '"/a"}')))
    second = b"".join(tr.event(chunk(tc(1, "", id="call_b", name="Bash"))))
    assert b'"partial_json":"{\\"file_path\\": \\"/a\\"}"' in second  # whole, once
    assert b'"type":"content_block_stop","index":1' in second
    assert b'"name":"Bash"' in second


def test_stream_two_interleaved_tool_calls_with_split_arguments() -> None:
    chunks = [
        chunk({"role": "assistant", "content": None}),
        chunk(tc(0, "", id="call_a", name="Read")),
        chunk(tc(1, "", id="call_b", name="Bash")),
        chunk(tc(0, '{"file_')),
        chunk(tc(1, '{"comm')),
        chunk(tc(0, 'path": "/tmp/x.py"')),
        chunk(tc(1, 'and": "ls -la", "timeout": 5')),
        chunk(tc(1, "}")),
        chunk(tc(0, "}")),
        chunk({}, "tool_calls"),
        chunk(choices=False, usage={"prompt_tokens": 10, "completion_tokens": 4}),
        "[DONE]",
    ]
    _, msg = run(chunks)
    assert blocks_of(msg) == [
        {"type": "tool_use", "id": "call_a", "name": "Read", "input": {"file_path": "/tmp/x.py"}},
        {
            "type": "tool_use",
            "id": "call_b",
            "name": "Bash",
            "input": {"command": "ls -la", "timeout": 5},
        },
    ]
    assert msg.stop_reason == "tool_use"
    assert msg.usage.input_tokens == 10 and msg.usage.output_tokens == 4


def test_stream_tool_calls_without_index_and_repeated_headers() -> None:
    # Gemini-style: whole calls without `index`; others repeat id/name on every delta
    chunks = [
        chunk({"tool_calls": [{"id": "a", "function": {"name": "A", "arguments": '{"x": 1}'}}]}),
        chunk({"tool_calls": [{"id": "b", "function": {"name": "B", "arguments": "{}"}}]}),
        chunk(tc(2, '{"y"', id="c", name="C")),
        chunk(tc(2, ": 2}", id="c", name="C")),
        chunk({}, "stop"),
    ]
    _, msg = run(chunks)
    assert [(b["name"], b["input"]) for b in blocks_of(msg)] == [
        ("A", {"x": 1}),
        ("B", {}),
        ("C", {"y": 2}),
    ]
    assert msg.stop_reason == "tool_use"


def test_stream_index_reused_with_new_id_is_a_new_call() -> None:
    chunks = [
        chunk(tc(0, '{"x": 1}', id="a", name="A")),
        chunk(tc(0, '{"x": 2}', id="b", name="A")),
        chunk({}, "tool_calls"),
    ]
    _, msg = run(chunks)
    assert [b["input"] for b in blocks_of(msg)] == [{"x": 1}, {"x": 2}]


def test_stream_arguments_as_object_and_missing_id() -> None:
    _, msg = run(
        [
            chunk(tc(0, None, name="A")),
            chunk(
                {"tool_calls": [{"index": 0, "function": {"arguments": {"k": "v"}}}]}, "tool_calls"
            ),
        ]
    )
    (block,) = blocks_of(msg)
    assert block["id"].startswith("toolu_") and block["input"] == {"k": "v"}


def test_stream_text_after_incomplete_tool_is_kept() -> None:
    chunks = [
        chunk(tc(0, '{"a": ', id="t", name="A")),
        chunk({"content": "note"}),
        chunk(tc(0, "1}")),
        chunk({}, "tool_calls"),
    ]
    _, msg = run(chunks)
    assert blocks_of(msg) == [
        {"type": "tool_use", "id": "t", "name": "A", "input": {"a": 1}},
        {"type": "text", "text": "note"},
    ]


def test_stream_text_after_complete_tool() -> None:
    chunks = [
        chunk(tc(0, '{"a": 1}', id="t", name="A")),
        chunk({"content": "after"}),
        chunk({}, "tool_calls"),
    ]
    _, msg = run(chunks)
    assert [b["type"] for b in blocks_of(msg)] == ["tool_use", "text"]


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        ("tool_calls", "end_turn"),
    ],
)
def test_stream_finish_reasons(finish: str, expected: str) -> None:
    _, msg = run([chunk({"content": "x"}), chunk({}, finish)])
    assert msg.stop_reason == expected


def test_stream_stop_sequence_and_length_with_tools() -> None:
    _, msg = run([chunk({"content": "x"}), chunk({}, "stop", stop_reason="END")])
    assert (msg.stop_reason, msg.stop_sequence) == ("stop_sequence", "END")
    _, msg = run([chunk(tc(0, '{"a": 1, "b": "trun', id="t", name="A")), chunk({}, "length")])
    assert msg.stop_reason == "max_tokens"
    assert blocks_of(msg)[0]["input"] == {"a": 1, "b": "trun"}  # truncated JSON, repaired


def test_stream_done_without_finish_reason_and_no_usage() -> None:
    payloads, msg = run([chunk({"content": "abcdefgh"}), "[DONE]"], estimate=42)
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 42  # no upstream usage: the estimate stands
    assert msg.usage.output_tokens == 2  # ~ chars / 4
    assert "input_tokens" not in payloads[-2]["usage"]


def test_stream_only_done() -> None:
    payloads, msg = run(["[DONE]"])
    assert [p["type"] for p in payloads] == [
        "message_start",
        "ping",
        "message_delta",
        "message_stop",
    ]
    assert msg.content == [] and msg.stop_reason == "end_turn"


def test_stream_keepalives_and_empty_chunks_ignored() -> None:
    tr = StreamTranslator("m")
    assert tr.event("") == [] and tr.event("  \n") == []
    assert not tr.started
    _, msg = run(
        [
            "",
            chunk(choices=False),
            chunk({"content": "a"}),
            chunk({"content": ""}),
            chunk({}),
            chunk({"content": "b"}, index=1),  # n > 1: not ours
            chunk({"content": "c"}, "stop"),
        ]
    )
    assert blocks_of(msg) == [{"type": "text", "text": "ac"}]


def test_stream_error_chunk_raises() -> None:
    tr = StreamTranslator("m")
    with pytest.raises(TranslationError, match="overloaded"):
        tr.event(json.dumps({"error": {"message": "Provider overloaded", "code": 502}}))
    assert not tr.started  # nothing sent yet: the caller may still fail over
    tr = StreamTranslator("m")
    tr.event(chunk({"content": "x"}))
    with pytest.raises(TranslationError, match="rate limited"):
        tr.event(json.dumps({"id": "x", "choices": [], "error": {"message": "rate limited"}}))
    with pytest.raises(TranslationError, match="invalid stream chunk"):
        StreamTranslator("m").event("{not json")


# --- property: argument splitting and interleaving never change the result


@given(
    st.lists(json_objects, min_size=1, max_size=3),
    st.lists(st.lists(st.integers(0, 10_000), max_size=8), min_size=3, max_size=3),
    st.lists(st.integers(0, 2), max_size=60),
    st.text(max_size=30),
    st.lists(st.integers(0, 10_000), max_size=5),
    st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_property_split_arguments_accumulate_to_same_input(
    inputs: list[dict],
    cuts: list[list[int]],
    order: list[int],
    text: str,
    text_cuts: list[int],
    spaced: bool,
) -> None:
    args = [
        json.dumps(obj, ensure_ascii=False, separators=(", ", ": ") if spaced else (",", ":"))
        for obj in inputs
    ]
    queues = [split(a, c) for a, c in zip(args, cuts, strict=False)]
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in split(text, text_cuts) if piece]
    for i in range(len(inputs)):  # every call announces itself first, then pieces interleave
        chunks.append(chunk(tc(i, queues[i].pop(0), id=f"call_{i}", name=f"T{i}")))
    pending = [i for i in range(len(inputs)) if queues[i]]
    for pick in order:
        if not pending:
            break
        i = pending[pick % len(pending)]
        chunks.append(chunk(tc(i, queues[i].pop(0))))
        if not queues[i]:
            pending.remove(i)
    for i in pending:
        chunks += [chunk(tc(i, piece)) for piece in queues[i]]
    chunks += [chunk({}, "tool_calls"), chunk(choices=False, usage=USAGE), "[DONE]"]
    _, msg = run(chunks)
    blocks = blocks_of(msg)
    tools = [b for b in blocks if b["type"] == "tool_use"]
    assert [(b["id"], b["name"], b["input"]) for b in tools] == [
        (f"call_{i}", f"T{i}", obj) for i, obj in enumerate(inputs)
    ]
    texts = [b["text"] for b in blocks if b["type"] == "text"]
    assert texts == ([text] if text else [])
    assert msg.stop_reason == "tool_use"


def test_thinking_only_assistant_turn_is_left_out() -> None:
    msgs = _req(
        [
            {"role": "user", "content": "a"},
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "t", "signature": "s"}],
            },
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "b"},
        ]
    )["messages"]
    assert msgs == [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
