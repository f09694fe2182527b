"""Anthropic <-> Google Gemini translation: request, response and stream; and the fake
Gemini upstream (tests/fakes/gemini_upstream.py) driven with plain httpx.

Streams are checked by strict structural checks of our own and by the official anthropic
SDK, which validates each event with its pydantic models and accumulates them into the
final message, as Claude Code's SDK does.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccm.dialects import gemini_schema
from ccm.dialects.gemini import (
    SKIP_SIGNATURE,
    StreamTranslator,
    TranslationError,
    clean_schema,
    request_to_gemini,
    response_from_gemini,
)
from ccm.dialects.roundtrip import read as read_signature
from ccm.dialects.roundtrip import sign
from ccm.dialects.sse import SSEDecoder
from tests.anthropic_events import accumulate
from tests.anthropic_events import check_events as _check_events
from tests.dialects.cases import (
    NEVER_CRASHES,
    TWO_CALLS,
    blocks_of,
    bodies,
    check_message,
    image_tool_turns,
    json_values,
    load,
    translate_all,
)
from tests.fakes.gemini_upstream import (
    COUNT_TOKENS,
    FakeGemini,
    cut_stream,
    garbage,
    is_stream,
    model_of,
    reply_blocked,
    reply_function_call,
    reply_parts,
    reply_text,
    reply_thinking,
    slow_chunks,
    status,
    tool_use_loop_script,
)
from tests.proxy_setup import upstream_fixture

SCHEMA_KEYS = gemini_schema._SCHEMA_KEYS


def schema_nodes(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every schema node (never a `properties` map itself)."""
    yield schema
    for name in ("items",):
        if isinstance(schema.get(name), dict):
            yield from schema_nodes(schema[name])
    for sub in schema.get("anyOf") or ():
        yield from schema_nodes(sub)
    for sub in (schema.get("properties") or {}).values():
        yield from schema_nodes(sub)


def assert_gemini_schema(schema: dict[str, Any]) -> None:
    """What Gemini accepts: only its keywords, strings in enums, children only where the
    type allows, `required` naming real properties, typed array items."""
    for node in schema_nodes(schema):
        assert set(node) <= SCHEMA_KEYS, set(node) - SCHEMA_KEYS
        kind = node.get("type")
        assert kind is None or kind in {"string", "number", "integer", "boolean", "array", "object"}
        assert not ("type" in node and "anyOf" in node)
        if "enum" in node:
            assert kind == "string" and all(isinstance(v, str) for v in node["enum"])
        if "properties" in node or "required" in node:
            assert kind == "object"
            assert set(node.get("required", ())) <= set(node.get("properties", {}))
        if kind == "array":
            assert "type" in node["items"] or "anyOf" in node["items"]
        else:
            assert "items" not in node
        if "format" in node:
            assert (kind, node["format"]) in {
                ("string", "enum"),
                ("string", "date-time"),
                ("number", "float"),
                ("number", "double"),
                ("integer", "int32"),
                ("integer", "int64"),
            }


def _req(messages: list, **extra: Any) -> dict[str, Any]:
    body = {"model": "claude-x", "max_tokens": 1000, "messages": messages, **extra}
    return request_to_gemini(body, "gemini-2.5-pro", stream=False)


# =========================================================================== request


def test_main_turn_contents_and_system_instruction() -> None:
    body = load("claude-code-main-turn.json")
    req = request_to_gemini(body, "gemini-2.5-pro", stream=True)
    system_texts = [b["text"] for b in body["system"]]
    assert body["messages"][1]["role"] == "system"
    # Claude Code's system blocks, then its mid-conversation system message
    assert req["systemInstruction"] == {
        "parts": [{"text": t} for t in [*system_texts, body["messages"][1]["content"]]]
    }
    user_texts = [b["text"] for b in body["messages"][0]["content"]]
    assert req["contents"] == [{"role": "user", "parts": [{"text": t} for t in user_texts]}]
    assert req["generationConfig"] == {
        "maxOutputTokens": 64000,
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": -1},  # adaptive
    }
    assert "toolConfig" not in req
    assert '"cache_control"' not in json.dumps(req)
    assert set(req) == {"contents", "systemInstruction", "tools", "generationConfig"}


def test_main_turn_24_function_declarations_with_clean_schemas() -> None:
    body = load("claude-code-main-turn.json")
    req = request_to_gemini(body, "gemini-2.5-pro", stream=True)
    assert len(req["tools"]) == 1
    decls = req["tools"][0]["functionDeclarations"]
    assert len(decls) == 24
    assert [d["name"] for d in decls] == [t["name"] for t in body["tools"]]
    originals = {t["name"]: t for t in body["tools"]}
    for decl in decls:
        tool = originals[decl["name"]]
        assert decl["description"] == tool["description"]
        if not tool["input_schema"].get("properties"):
            assert "parameters" not in decl  # Gemini rejects an object without properties
            continue
        params = decl["parameters"]
        assert params["type"] == "object"
        assert list(params["properties"]) == list(tool["input_schema"]["properties"])
        assert params.get("required", []) == tool["input_schema"].get("required", [])
        assert_gemini_schema(params)
    assert {d["name"] for d in decls if "parameters" not in d} == {"CronList", "TaskList"}
    wire = json.dumps(req["tools"])
    for keyword in ("$schema", "additionalProperties", "propertyNames", "exclusiveMinimum"):
        assert keyword not in wire
    by_name = {d["name"]: d for d in decls}
    bash = by_name["Bash"]["parameters"]["properties"]
    assert bash["description"]["type"] == "string"  # a property *named* description stays
    assert bash["command"] == {"description": "The command to execute", "type": "string"}
    assert "format" not in by_name["WebFetch"]["parameters"]["properties"]["url"]  # uri
    read = by_name["Read"]["parameters"]["properties"]
    assert read["limit"] == {
        "description": read["limit"]["description"],
        "type": "integer",
        "maximum": 9007199254740991,
    }
    status_ = by_name["TaskUpdate"]["parameters"]["properties"]["status"]
    assert status_ == {  # anyOf [enum, const] -> one string enum
        "description": "New status for the task",
        "type": "string",
        "enum": ["pending", "in_progress", "completed", "deleted"],
    }
    meta = by_name["TaskCreate"]["parameters"]["properties"]["metadata"]
    assert meta == {"description": "Arbitrary metadata to attach to the task", "type": "object"}


def test_tool_result_turn_function_call_and_response() -> None:
    body = load("claude-code-tool-result-turn.json")
    req = request_to_gemini(body, "gemini-3-pro-preview", stream=True)
    tool_use = body["messages"][2]["content"][0]
    assert [c["role"] for c in req["contents"]] == ["user", "model", "user"]
    assert req["contents"][1]["parts"] == [
        {
            "functionCall": {"name": "Bash", "args": tool_use["input"]},
            "thoughtSignature": SKIP_SIGNATURE,
        }
    ]
    assert req["contents"][2]["parts"] == [
        {"functionResponse": {"name": "Bash", "response": {"content": "hello-from-tool"}}}
    ]
    assert len(req["systemInstruction"]["parts"]) == len(body["system"]) + 1


def test_parallel_calls_results_in_call_order_errors_and_text_after() -> None:
    contents = _req(TWO_CALLS)["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [  # thinking dropped; signature on the first call only
        {"text": "Running two."},
        {"functionCall": {"name": "A", "args": {"x": 1}}, "thoughtSignature": SKIP_SIGNATURE},
        {"functionCall": {"name": "B", "args": {}}},
    ]
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "A", "response": {"error": "a\n\nb"}}},
        {"functionResponse": {"name": "B", "response": {"content": "two"}}},
        {"text": "before"},
        {"text": "after"},
    ]


def test_unanswered_calls_orphan_results_and_assistant_after_assistant() -> None:
    contents = _req(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "A"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t2", "name": "B"}]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "zzz", "content": "stray"}],
            },
            {"role": "user", "content": "plain"},
        ]
    )["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    (resp_a,) = contents[2]["parts"]
    assert resp_a["functionResponse"]["name"] == "A"
    assert "error" in resp_a["functionResponse"]["response"]
    resp_b, stray, plain = contents[4]["parts"]
    assert resp_b["functionResponse"]["name"] == "B"
    assert "error" in resp_b["functionResponse"]["response"]
    assert stray == {"text": "[tool result zzz]\nstray"}
    assert plain == {"text": "plain"}


def test_system_message_between_call_and_result_goes_to_system_instruction() -> None:
    req = _req(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "A"}]},
            {"role": "system", "content": "reminder"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ],
        system="base",
    )
    assert req["systemInstruction"] == {"parts": [{"text": "base"}, {"text": "reminder"}]}
    assert [c["role"] for c in req["contents"]] == ["user", "model", "user"]
    assert req["contents"][2]["parts"] == [
        {"functionResponse": {"name": "A", "response": {"content": ""}}}
    ]


def test_tool_result_images_follow_the_responses() -> None:
    img = {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}
    look = {"type": "text", "text": "look"}
    contents = _req([{"role": "user", "content": "shot"}, *image_tool_turns(img, look)])["contents"]
    response, label, image, text = contents[2]["parts"]
    assert response["functionResponse"]["response"]["content"].startswith("(the result is")
    assert label["text"] == "[media from tool result t1]"
    assert image == {"inlineData": {"mimeType": "image/jpeg", "data": "AAAA"}}
    assert text == {"text": "look"}


def test_roles_merge_and_empty_turns_vanish() -> None:
    req = _req(
        [
            {"role": "user", "content": "a"},
            {"role": "user", "content": [{"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t"}]},
            {"role": "assistant", "content": ""},
            {"role": "tool", "content": "c"},  # unknown roles are user turns
            {"role": "assistant", "content": "x"},
            {"role": "assistant", "content": [{"type": "text", "text": "y"}]},
            {"role": "user", "content": ""},
        ],
        system=[],
    )
    assert "systemInstruction" not in req
    assert req["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}, {"text": "c"}]},
        {"role": "model", "parts": [{"text": "x"}, {"text": "y"}]},
    ]


def test_system_string_and_developer_role() -> None:
    req = _req(
        [{"role": "developer", "content": "dev"}, {"role": "user", "content": "hi"}],
        system="be brief",
    )
    assert req["systemInstruction"] == {"parts": [{"text": "be brief"}, {"text": "dev"}]}


def test_web_search_alone_becomes_google_search() -> None:
    req = request_to_gemini(load("haiku-websearch.json"), "gemini-2.5-flash", stream=False)
    assert req["tools"] == [{"googleSearch": {}}]
    assert "toolConfig" not in req


def test_web_search_with_functions_is_skipped_and_other_server_tools_too() -> None:
    tools = [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"name": "NoSchema"},
        {"type": "custom", "name": "Plain", "input_schema": {"type": "object"}},
        {"name": "X", "description": 5, "input_schema": {"properties": {"a": {}}}},
        "junk",
    ]
    req = _req([{"role": "user", "content": "hi"}], tools=tools)
    assert req["tools"] == [
        {
            "functionDeclarations": [
                {"name": "NoSchema"},  # no parameters: none sent (tool_choice auto)
                {"name": "Plain"},
                {"name": "X", "parameters": {"type": "object", "properties": {"a": {}}}},
            ]
        }
    ]
    assert "toolConfig" not in req
    req = _req([{"role": "user", "content": "hi"}], tools=tools, tool_choice={"type": "any"})
    assert req["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert req["tools"] == [
        {
            "functionDeclarations": [
                {"name": "NoSchema", "parameters": {"type": "object", "properties": {}}},
                {"name": "Plain", "parameters": {"type": "object", "properties": {}}},
                {"name": "X", "parameters": {"type": "object", "properties": {"a": {}}}},
            ]
        }
    ]


def test_generation_config() -> None:
    extra = {
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["a", "", "b", "c", "d", "e", "f"],
    }
    gen = _req([{"role": "user", "content": "hi"}], **extra)["generationConfig"]
    assert gen == {
        "maxOutputTokens": 1000,
        "temperature": 0.3,
        "topP": 0.9,
        "topK": 40,
        "stopSequences": ["a", "b", "c", "d", "e"],  # Gemini takes at most five
    }
    bare = request_to_gemini({"messages": []}, "g", stream=False)
    assert bare == {"contents": []}  # nothing given: no generationConfig, no topK of 40


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        (
            {"type": "enabled", "budget_tokens": 8000},
            {"includeThoughts": True, "thinkingBudget": 8000},
        ),
        ({"type": "enabled"}, {"includeThoughts": True, "thinkingBudget": -1}),
        ({"type": "adaptive"}, {"includeThoughts": True, "thinkingBudget": -1}),
        ({"type": "disabled"}, None),
        ("yes", None),
    ],
)
def test_thinking_config(thinking: Any, expected: dict | None) -> None:
    gen = _req([{"role": "user", "content": "hi"}], thinking=thinking)["generationConfig"]
    assert gen.get("thinkingConfig") == expected


def test_sonnet_thinking_example() -> None:
    req = request_to_gemini(load("sonnet-thinking.json"), "gemini-2.5-pro", stream=True)
    assert req["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingBudget": 8000,
    }


def test_background_structured_output() -> None:
    body = load("claude-code-background.json")
    gen = request_to_gemini(body, "gemini-2.5-flash", stream=True)["generationConfig"]
    assert gen == {
        "maxOutputTokens": 32000,
        "temperature": 1,
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "object",
            "properties": {"title": {"type": "string"}},
            "required": ["title"],
        },
    }
    tools = [{"name": "A", "input_schema": {"type": "object", "properties": {"x": {}}}}]
    gen = request_to_gemini({**body, "tools": tools}, "g", stream=True)["generationConfig"]
    assert "responseMimeType" not in gen  # Gemini refuses JSON mode with function calling


# --- schema cleaning


def test_schema_keywords_cleaned_but_property_names_kept() -> None:
    odd_names = ["$schema", "additionalProperties", "format", "type", "const", "$ref", "items"]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "x",
        "type": "object",
        "additionalProperties": False,
        "propertyNames": {"pattern": "^a"},
        "patternProperties": {"^x": {"type": "string"}},
        "properties": {name: {"type": "string", "description": name} for name in odd_names},
        "required": ["type", "missing", "type"],
        "examples": [{}],
        "unevaluatedProperties": False,
    }
    out = clean_schema(schema)
    assert out == {
        "type": "object",
        "properties": {name: {"type": "string", "description": name} for name in odd_names},
        "required": ["type"],
    }


def test_schema_refs_inlined_and_cycles_cut() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Point": {"type": "object", "properties": {"x": {"type": "number"}}},
            "Node": {
                "type": "object",
                "properties": {"value": {"type": "string"}, "next": {"$ref": "#/$defs/Node"}},
            },
        },
        "definitions": {"Name": {"type": "string", "minLength": 1}},
        "properties": {
            "p": {"$ref": "#/$defs/Point", "description": "a point"},
            "n": {"$ref": "#/$defs/Node"},
            "name": {"$ref": "#/definitions/Name"},
            "lost": {"$ref": "#/$defs/Nope", "description": "unresolvable"},
            "remote": {"$ref": "https://example.com/s.json"},
        },
    }
    out = clean_schema(schema)
    props = out["properties"]
    assert props["p"] == {
        "description": "a point",
        "type": "object",
        "properties": {"x": {"type": "number"}},
    }
    assert props["n"]["properties"]["value"] == {"type": "string"}
    assert props["n"]["properties"]["next"] == {"type": "object"}  # the cycle, cut
    assert props["name"] == {"type": "string", "minLength": 1}
    assert props["lost"] == {"description": "unresolvable"}
    assert props["remote"] == {}
    assert "$defs" not in json.dumps(out) and "$ref" not in json.dumps(out)
    assert_gemini_schema(out)


def test_schema_unions_nullables_and_all_of() -> None:
    schema = {
        "type": "object",
        "properties": {
            "opt": {"type": ["string", "null"], "description": "maybe"},
            "either": {"type": ["string", "integer"], "description": "s or i", "minimum": 1},
            "any_null": {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "n"},
            "one": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "number"}}]},
            "merged": {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
                ],
                "description": "both",
            },
            "consts": {"enum": ["x", None]},
            "numeric_enum": {"type": "integer", "enum": [1, 2], "description": "level"},
            "const_num": {"const": 3},
            "bool_const": {"type": "string", "const": True},
        },
    }
    props = clean_schema(schema)["properties"]
    assert props["opt"] == {"description": "maybe", "type": "string", "nullable": True}
    assert props["either"] == {
        "description": "s or i",
        "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 1}],
    }
    assert props["any_null"] == {"description": "n", "type": "integer", "nullable": True}
    assert props["one"] == {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "number"}}]
    }
    assert props["merged"] == {
        "description": "both",
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "boolean"}},
        "required": ["a", "b"],
    }
    assert props["consts"] == {"type": "string", "enum": ["x"], "nullable": True}
    assert props["numeric_enum"] == {"description": "level (One of: 1, 2.)", "type": "integer"}
    assert props["const_num"] == {"type": "string", "enum": ["3"]}
    assert props["bool_const"] == {"type": "string", "enum": ["true"]}


def test_schema_formats_bounds_and_misplaced_children() -> None:
    schema = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "format": "uri", "pattern": "^h"},
            "when": {"type": "string", "format": "date-time"},
            "n": {"type": "integer", "format": "int64", "exclusiveMinimum": 0, "maximum": 9},
            "x": {"type": "number", "format": "decimal", "exclusiveMaximum": 1.5},
            "s": {"type": "string", "properties": {"a": {}}, "required": ["a"], "items": {}},
            "list": {"type": "array", "minItems": 1, "maxItems": True},
            "tuple": {"type": "array", "items": [{"type": "integer"}, {"type": "string"}]},
            "implicit": {"properties": {"k": {"type": "string"}}},
            "weird": {"type": "any", "default": 3, "title": 5, "nullable": True},
        },
    }
    props = clean_schema(schema)["properties"]
    assert props["url"] == {"type": "string", "pattern": "^h"}
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["n"] == {"type": "integer", "format": "int64", "maximum": 9}
    assert props["x"] == {"type": "number"}
    assert props["s"] == {"type": "string"}
    assert props["list"] == {"type": "array", "minItems": 1, "items": {"type": "string"}}
    assert props["tuple"] == {"type": "array", "items": {"type": "integer"}}
    assert props["implicit"] == {"type": "object", "properties": {"k": {"type": "string"}}}
    assert props["weird"] == {"default": 3, "nullable": True}


json_schemas = st.recursive(
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(
                ["string", "integer", "number", "boolean", "object", "array", "null", "x"]
            )
            | st.lists(st.sampled_from(["string", "integer", "null", "object"]), max_size=3),
            "format": st.sampled_from(["uri", "date-time", "int64", "enum", "double"]),
            "enum": st.lists(st.none() | st.integers() | st.text(max_size=3), max_size=3),
            "const": st.integers() | st.text(max_size=3),
            "additionalProperties": st.booleans(),
            "$ref": st.sampled_from(["#/$defs/A", "#/nope", "#", "x"]),
            "required": st.lists(st.sampled_from(["a", "b", "zz"]), max_size=3) | json_values,
            "propertyOrdering": st.lists(st.sampled_from(["b", "a", "q"]) | json_values),
            "minimum": st.integers(),
            "exclusiveMinimum": st.integers(),
            "description": st.text(max_size=4),
        },
    ),
    lambda inner: st.fixed_dictionaries(
        {},
        optional={
            "properties": st.dictionaries(st.sampled_from(["a", "b", "$ref", "type"]), inner),
            "items": inner | st.lists(inner, max_size=2),
            "anyOf": st.lists(inner | json_values, max_size=3),
            "oneOf": st.lists(inner, max_size=3) | json_values,
            "allOf": st.lists(inner | json_values, max_size=2),
            "type": st.sampled_from(["object", "array", "string"]),
            "$defs": st.fixed_dictionaries({"A": inner}),
        },
    ),
    max_leaves=12,
)


@given(json_schemas)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_any_json_schema_cleans_to_what_gemini_accepts(schema: dict) -> None:
    out = clean_schema(schema)
    json.dumps(out)
    assert_gemini_schema(out)


# --- robustness


@given(bodies)
@NEVER_CRASHES
def test_request_never_crashes_and_calls_are_answered(body: dict) -> None:
    req = request_to_gemini(body, "gemini-2.5-pro", stream=True)
    json.dumps(req)  # always serialisable
    contents = req["contents"]
    for prev, cur in itertools.pairwise(contents):
        assert prev["role"] != cur["role"]  # merged: roles alternate
    for i, content in enumerate(contents):
        assert content["parts"] and content["role"] in ("user", "model")
        for part in content["parts"]:
            assert part.get("text", "x") != ""
        responses = [
            p["functionResponse"]["name"] for p in content["parts"] if "functionResponse" in p
        ]
        calls = [p["functionCall"]["name"] for p in content["parts"] if "functionCall" in p]
        if responses:  # responses answer exactly the calls of the model turn just before
            assert content["role"] == "user" and i > 0
            before = [
                p["functionCall"]["name"] for p in contents[i - 1]["parts"] if "functionCall" in p
            ]
            assert responses == before
            assert all("functionResponse" in p for p in content["parts"][: len(responses)])
        if calls and i + 1 < len(contents):
            after = contents[i + 1]["parts"]
            assert [
                p["functionResponse"]["name"] for p in after if "functionResponse" in p
            ] == calls


# =========================================================================== response


def gemini_response(
    parts: list[dict] | None = None,
    finish: str | None = "STOP",
    usage: dict | None = None,
    **extra: Any,
) -> bytes:
    candidate: dict[str, Any] = {"index": 0}
    if parts is not None:
        candidate["content"] = {"role": "model", "parts": parts}
    if finish is not None:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-pro", **extra}
    if usage is not None:
        body["usageMetadata"] = usage
    return json.dumps(body).encode()


USAGE = {
    "promptTokenCount": 1000,
    "cachedContentTokenCount": 800,
    "candidatesTokenCount": 50,
    "thoughtsTokenCount": 20,
    "totalTokenCount": 1070,
}


def test_response_text_and_usage() -> None:
    raw = gemini_response([{"text": "Hel"}, {"text": "lo"}], usage=USAGE)
    msg = response_from_gemini(raw, "claude-opus-4-8")
    check_message(msg)
    assert msg["model"] == "claude-opus-4-8"
    assert msg["content"] == [{"type": "text", "text": "Hello"}]
    assert msg["stop_reason"] == "end_turn" and msg["stop_sequence"] is None
    assert msg["usage"] == {
        "input_tokens": 200,
        "output_tokens": 70,  # candidates + thoughts
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 800,
    }


def test_response_thinking_text_and_function_calls() -> None:
    raw = gemini_response(
        [
            {"text": "Let me ", "thought": True},
            {"text": "think.", "thought": True, "thoughtSignature": "c2ln"},
            {"text": "Running."},
            {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": "x"},
            {"functionCall": {"name": "Read", "args": "nope", "id": "up-1"}},
            {"functionCall": {"name": "Empty"}},
            {"executableCode": {"code": "print(1)"}},
        ],
        usage={"promptTokenCount": 7.0, "candidatesTokenCount": 3},
    )
    msg = response_from_gemini(raw, "m")
    check_message(msg)
    thinking, text, signed, bash, read, empty = msg["content"]
    assert thinking["thinking"] == "Let me think."
    assert read_signature(thinking["signature"], "gemini") == {"s": [["", "c2ln"]]}
    assert text == {"type": "text", "text": "Running."}
    # the call's own signature, in an empty thinking block just before it
    assert signed["type"] == "thinking" and signed["thinking"] == ""
    assert read_signature(signed["signature"], "gemini") == {"s": [[bash["id"], "x"]]}
    assert bash["type"] == "tool_use" and bash["name"] == "Bash"
    assert bash["input"] == {"command": "ls"}
    assert read["input"] == {} and empty["input"] == {}
    ids = {bash["id"], read["id"], empty["id"]}
    assert len(ids) == 3 and all(i.startswith("toolu_") for i in ids)
    assert msg["stop_reason"] == "tool_use"
    assert msg["usage"]["input_tokens"] == 7 and msg["usage"]["output_tokens"] == 3


def test_response_thought_without_signature() -> None:
    msg = response_from_gemini(gemini_response([{"text": "t", "thought": True}]), "m")
    assert msg["content"] == [{"type": "thinking", "thinking": "t", "signature": "ccm1.gemini.e30"}]
    assert read_signature(msg["content"][0]["signature"], "gemini") == {}


@pytest.mark.parametrize(
    ("finish", "tools", "expected"),
    [
        ("STOP", False, "end_turn"),
        ("MAX_TOKENS", False, "max_tokens"),
        ("SAFETY", False, "refusal"),
        ("RECITATION", False, "refusal"),
        ("BLOCKLIST", False, "refusal"),
        ("PROHIBITED_CONTENT", False, "refusal"),
        ("SPII", False, "refusal"),
        ("MALFORMED_FUNCTION_CALL", False, "end_turn"),
        ("OTHER", False, "end_turn"),
        ("FINISH_REASON_UNSPECIFIED", False, "end_turn"),
        (None, False, "end_turn"),
        ("STOP", True, "tool_use"),
        ("MAX_TOKENS", True, "max_tokens"),
        ("SAFETY", True, "refusal"),
    ],
)
def test_response_finish_reasons(finish: str | None, tools: bool, expected: str) -> None:
    parts: list[dict] = [{"text": "x"}]
    if tools:
        parts.append({"functionCall": {"name": "f", "args": {}}})
    msg = response_from_gemini(gemini_response(parts, finish), "m")
    check_message(msg)
    assert msg["stop_reason"] == expected


@pytest.mark.parametrize("finish", ["SAFETY", "PROHIBITED_CONTENT", "OTHER", None])
def test_response_candidate_without_content_is_a_refusal(finish: str | None) -> None:
    msg = response_from_gemini(gemini_response(None, finish), "m")
    check_message(msg)
    assert msg["content"] == [] and msg["stop_reason"] == "refusal"


def test_response_empty_but_normal_finish() -> None:
    msg = response_from_gemini(gemini_response([{"text": ""}], "STOP"), "m")
    assert msg["content"] == [] and msg["stop_reason"] == "end_turn"
    msg = response_from_gemini(gemini_response(None, "MAX_TOKENS"), "m")
    assert msg["content"] == [] and msg["stop_reason"] == "max_tokens"


def test_response_prompt_blocked() -> None:
    raw = json.dumps(
        {
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT", "safetyRatings": []},
            "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
        }
    ).encode()
    msg = response_from_gemini(raw, "m")
    check_message(msg)
    assert msg["stop_reason"] == "refusal"
    (block,) = msg["content"]
    assert block["type"] == "text" and "PROHIBITED_CONTENT" in block["text"]
    assert msg["usage"]["input_tokens"] == 12 and msg["usage"]["output_tokens"] == 0


def test_response_second_candidate_ignored() -> None:
    body = {
        "candidates": [
            {"index": 1, "content": {"parts": [{"text": "second"}]}, "finishReason": "STOP"},
            {"index": 0, "content": {"parts": [{"text": "first"}]}, "finishReason": "STOP"},
        ]
    }
    msg = response_from_gemini(json.dumps(body).encode(), "m")
    assert msg["content"] == [{"type": "text", "text": "first"}]


def test_response_error_message_kept() -> None:
    raw = b'{"error": {"code": 429, "message": "quota exceeded", "status": "RESOURCE_EXHAUSTED"}}'
    with pytest.raises(TranslationError, match=r"quota exceeded.*RESOURCE_EXHAUSTED"):
        response_from_gemini(raw, "m")


# =========================================================================== stream


def chunk(
    parts: list[dict] | None = None,
    finish: str | None = None,
    *,
    usage: dict | None = None,
    candidates: bool = True,
    **extra: Any,
) -> str:
    body: dict[str, Any] = dict(extra)
    if candidates:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts or []}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        body["candidates"] = [candidate]
    if usage is not None:
        body["usageMetadata"] = usage
    return json.dumps(body)


def check_events(raw: bytes) -> list[dict]:
    """Gemini thinking carries signatures; nothing but blocks between start and end."""
    return _check_events(raw, signature_deltas=True, pings_inside=False)


def run(
    chunks: list[str], *, model: str = "claude-opus-4-8", estimate: int = 0
) -> tuple[list[dict], Any]:
    return translate_all(
        StreamTranslator(model, estimate),
        chunks,
        late=chunk([{"text": "late"}]),
        check=check_events,
    )


PARTIAL = {"promptTokenCount": 120, "totalTokenCount": 120}
FINAL = {
    "promptTokenCount": 120,
    "cachedContentTokenCount": 100,
    "candidatesTokenCount": 30,
    "thoughtsTokenCount": 4,
    "totalTokenCount": 154,
}


def test_stream_text() -> None:
    payloads, msg = run(
        [
            chunk([{"text": "Hel"}], usage=PARTIAL),
            chunk([{"text": "lo ✓"}], usage=PARTIAL),
            chunk([{"text": ""}], "STOP", usage=FINAL),
        ],
        estimate=777,
    )
    start = payloads[0]["message"]
    assert start["model"] == "claude-opus-4-8"
    assert start["usage"]["input_tokens"] == 120  # the first chunk says it: no estimate
    assert start["usage"]["output_tokens"] == 0
    assert blocks_of(msg) == [{"type": "text", "text": "Hello ✓"}]
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.input_tokens == 20
    assert msg.usage.cache_read_input_tokens == 100
    assert msg.usage.output_tokens == 34
    assert msg.model == "claude-opus-4-8"


def test_stream_thinking_text_and_function_calls() -> None:
    payloads, msg = run(
        [
            chunk([{"text": "Let me ", "thought": True}]),
            chunk([{"text": "think.", "thought": True, "thoughtSignature": "c2ln"}]),
            chunk([{"text": "I'll run "}]),
            chunk([{"text": "two."}]),
            chunk(
                [
                    {"functionCall": {"name": "Bash", "args": {"command": "ls -la"}}},
                    {"functionCall": {"name": "Read", "args": {"file_path": "/é"}}},
                ]
            ),
            chunk([], "STOP", usage=FINAL),
        ]
    )
    blocks = blocks_of(msg)
    assert blocks[:2] == [
        {
            "type": "thinking",
            "thinking": "Let me think.",
            "signature": sign("gemini", {"s": [["", "c2ln"]]}),
        },
        {"type": "text", "text": "I'll run two."},
    ]
    assert [(b["type"], b["name"], b["input"]) for b in blocks[2:]] == [
        ("tool_use", "Bash", {"command": "ls -la"}),
        ("tool_use", "Read", {"file_path": "/é"}),
    ]
    assert blocks[2]["id"].startswith("toolu_") and blocks[2]["id"] != blocks[3]["id"]
    json_deltas = [
        p
        for p in payloads
        if p["type"] == "content_block_delta" and p["delta"]["type"] == "input_json_delta"
    ]
    assert len(json_deltas) == 2  # one whole-args delta per call
    assert msg.stop_reason == "tool_use"


def test_stream_signature_only_thought_part() -> None:
    _, msg = run(
        [chunk([{"text": "a"}]), chunk([{"thought": True, "thoughtSignature": "s"}], "STOP")]
    )
    assert blocks_of(msg) == [
        {"type": "text", "text": "a"},
        {"type": "thinking", "thinking": "", "signature": sign("gemini", {"s": [["", "s"]]})},
    ]


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("STOP", "end_turn"),
        ("MAX_TOKENS", "max_tokens"),
        ("SAFETY", "refusal"),
        ("RECITATION", "refusal"),
        ("MALFORMED_FUNCTION_CALL", "end_turn"),
        ("OTHER", "end_turn"),
    ],
)
def test_stream_finish_reasons(finish: str, expected: str) -> None:
    _, msg = run([chunk([{"text": "x"}]), chunk([], finish)])
    assert msg.stop_reason == expected


def test_stream_max_tokens_wins_over_tool_use() -> None:
    _, msg = run([chunk([{"functionCall": {"name": "A", "args": {"a": 1}}}], "MAX_TOKENS")])
    assert msg.stop_reason == "max_tokens"
    assert blocks_of(msg)[0]["input"] == {"a": 1}


def test_stream_blocked_candidate_without_content() -> None:
    payloads, msg = run([json.dumps({"candidates": [{"finishReason": "SAFETY", "index": 0}]})])
    assert msg.content == [] and msg.stop_reason == "refusal"
    assert [p["type"] for p in payloads] == [
        "message_start",
        "ping",
        "message_delta",
        "message_stop",
    ]


def test_stream_prompt_blocked() -> None:
    raw = json.dumps(
        {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}}
    )
    _, msg = run([raw])
    (block,) = blocks_of(msg)
    assert block["type"] == "text" and "SAFETY" in block["text"]
    assert msg.stop_reason == "refusal" and msg.usage.input_tokens == 9


def test_stream_without_usage_estimates() -> None:
    payloads, msg = run([chunk([{"text": "abcdefgh"}], "STOP")], estimate=42)
    assert payloads[0]["message"]["usage"]["input_tokens"] == 42
    assert msg.usage.input_tokens == 42  # no upstream usage: the estimate stands
    assert msg.usage.output_tokens == 2  # ~ chars / 4
    assert "input_tokens" not in payloads[-2]["usage"]


def test_stream_keepalives_and_empty_parts_ignored() -> None:
    tr = StreamTranslator("m")
    assert tr.event("") == [] and tr.event("  \n") == []
    assert not tr.started
    _, msg = run(
        [
            "",
            chunk([]),
            chunk([{"text": "a"}, {"text": ""}]),
            chunk(candidates=False, usage=PARTIAL),
            json.dumps({"candidates": [{"content": {"role": "model"}, "index": 0}]}),
            json.dumps(
                {"candidates": [{"index": 1, "content": {"parts": [{"text": "b"}]}}]}
            ),  # not ours
            chunk([{"text": "c"}], "STOP"),
        ]
    )
    assert blocks_of(msg) == [{"type": "text", "text": "ac"}]


def test_stream_error_chunk_and_garbage_raise() -> None:
    tr = StreamTranslator("m")
    with pytest.raises(TranslationError, match="overloaded"):
        tr.event(json.dumps({"error": {"code": 503, "message": "The model is overloaded."}}))
    assert not tr.started  # nothing sent yet: the caller may still fail over
    tr = StreamTranslator("m")
    tr.event(chunk([{"text": "x"}]))
    with pytest.raises(TranslationError, match="RESOURCE_EXHAUSTED"):
        tr.event(
            json.dumps({"error": {"code": 429, "message": "q", "status": "RESOURCE_EXHAUSTED"}})
        )
    for bad in ("{not json", "[1]", '"text"', "<html>"):
        with pytest.raises(TranslationError, match="invalid stream chunk"):
            StreamTranslator("m").event(bad)


@given(
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"text": st.text(max_size=8)}),
            st.fixed_dictionaries({"text": st.text(max_size=8), "thought": st.just(True)}),
            st.fixed_dictionaries(
                {
                    "functionCall": st.fixed_dictionaries(
                        {"name": st.text(max_size=4), "args": json_values.filter(lambda v: True)}
                    )
                }
            ),
        ),
        max_size=12,
    ),
    st.lists(st.integers(1, 4), min_size=1, max_size=12),
    st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "OTHER"]),
)
@settings(max_examples=200, deadline=None)
def test_property_stream_equals_non_stream(
    parts: list[dict], sizes: list[int], finish: str
) -> None:
    """However the parts are spread over chunks, the stream accumulates to the same content
    and stop reason as the non-stream translation of all parts at once."""
    groups: list[list[dict]] = []
    rest = list(parts)
    for n in sizes * (len(parts) + 1):
        if not rest:
            break
        groups.append(rest[:n])
        rest = rest[n:]
    chunks = [chunk(g) for g in groups] + [chunk([], finish, usage=FINAL)]
    _, streamed = run(chunks)
    whole = response_from_gemini(gemini_response(parts, finish, usage=FINAL), "m")

    def comparable(blocks: list[dict]) -> list[tuple]:
        return [
            (b["type"], b.get("text"), b.get("thinking"), b.get("name"), b.get("input"))
            for b in blocks
        ]

    assert comparable(blocks_of(streamed)) == comparable(whole["content"])
    assert streamed.stop_reason == whole["stop_reason"]
    assert streamed.usage.output_tokens == whole["usage"]["output_tokens"]


# =========================================================================== the fake


gem = upstream_fixture(FakeGemini)


def parse_sse_payloads(raw: bytes) -> list[str]:
    dec = SSEDecoder()
    return [ev.data for ev in dec.feed(raw) + dec.flush()]


def translate_stream(raw: bytes) -> Any:
    tr = StreamTranslator("claude-x")
    out: list[bytes] = []
    for data in parse_sse_payloads(raw):
        out += tr.event(data)
    out += tr.finish()
    return accumulate(check_events(b"".join(out)))


BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_fake_text_non_stream_and_recording(gem: FakeGemini) -> None:
    assert gem.gemini_base_url == f"{gem.base_url}/v1beta"
    with httpx.Client(base_url=gem.gemini_base_url, timeout=5) as c:
        r = c.post(
            "/models/gemini-2.5-pro:generateContent",
            json=BODY,
            headers={"x-goog-api-key": "sk-g"},
        )
    assert r.status_code == 200
    msg = response_from_gemini(r.content, "claude-x")
    assert msg["content"] == [{"type": "text", "text": "Hello from FakeGemini."}]
    assert msg["usage"]["input_tokens"] == 10 and msg["usage"]["output_tokens"] == 5
    (req,) = gem.requests
    assert req.path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert req.headers["x-goog-api-key"] == "sk-g"
    assert req.json == BODY
    assert model_of(req) == "gemini-2.5-pro" and not is_stream(req)
    assert list(gem.generation_requests()) == [req]


def test_fake_stream_sse_through_translator(gem: FakeGemini) -> None:
    gem.script(reply_thinking("Let me think.", "The answer.", signature="c2ln"))
    with httpx.Client(base_url=gem.gemini_base_url, timeout=5) as c:
        r = c.post("/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=BODY)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert b"\r\n\r\n" in r.content  # Google's framing
    payloads = parse_sse_payloads(r.content)
    assert len(payloads) > 2  # text really comes in pieces
    assert "finishReason" in payloads[-1] and all("finishReason" not in p for p in payloads[:-1])
    msg = translate_stream(r.content)
    assert blocks_of(msg) == [
        {
            "type": "thinking",
            "thinking": "Let me think.",
            "signature": sign("gemini", {"s": [["", "c2ln"]]}),
        },
        {"type": "text", "text": "The answer."},
    ]
    assert is_stream(gem.requests[0]) and gem.requests[0].query["alt"] == ["sse"]


def test_fake_stream_without_alt_sse_is_a_json_array(gem: FakeGemini) -> None:
    with httpx.Client(base_url=gem.gemini_base_url, timeout=5) as c:
        r = c.post("/models/g:streamGenerateContent", json=BODY)
    chunks = r.json()
    assert isinstance(chunks, list) and chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    text = "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text == "Hello from FakeGemini."


@pytest.mark.parametrize("stream", [False, True])
def test_fake_function_call_on_vertex_path(gem: FakeGemini, stream: bool) -> None:
    gem.script(
        reply_function_call(
            "Bash", {"command": "ls"}, text_before="Running.", thought_signature="sig"
        )
    )
    base = gem.vertex_base_url("proj", "us-central1")
    assert base.endswith("/v1/projects/proj/locations/us-central1/publishers/google")
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    with httpx.Client(timeout=5) as c:
        r = c.post(f"{base}/models/gemini-2.5-pro:{action}", json=BODY)
    assert r.status_code == 200
    if stream:
        blocks = blocks_of(translate_stream(r.content))
    else:
        call_part = r.json()["candidates"][0]["content"]["parts"][1]
        assert call_part["thoughtSignature"] == "sig"
        blocks = response_from_gemini(r.content, "m")["content"]
    assert [b["type"] for b in blocks] == ["text", "thinking", "tool_use"]
    assert (blocks[2]["name"], blocks[2]["input"]) == ("Bash", {"command": "ls"})
    assert read_signature(blocks[1]["signature"], "gemini") == {"s": [[blocks[2]["id"], "sig"]]}
    assert model_of(gem.requests[0]) == "gemini-2.5-pro"


@pytest.mark.parametrize("code", [400, 401, 403, 404, 429, 500, 503])
def test_fake_status_bodies(gem: FakeGemini, code: int) -> None:
    gem.script(status(code))
    with httpx.Client(base_url=gem.gemini_base_url, timeout=5) as c:
        r = c.post("/models/g:generateContent", json=BODY)
    assert r.status_code == code
    error = r.json()["error"]
    assert error["code"] == code and error["message"] and error["status"]
    if code == 429:
        assert error["status"] == "RESOURCE_EXHAUSTED"
        assert error["details"][0]["retryDelay"] == "1s"
    with pytest.raises(TranslationError):
        response_from_gemini(r.content, "m")


def test_fake_script_queue_default_and_builtins(gem: FakeGemini) -> None:
    gem.script(reply_text("one"), reply_blocked("OTHER"), garbage())
    gem.default = reply_parts([{"text": "dflt"}], finish_reason="MAX_TOKENS")
    with httpx.Client(base_url=gem.gemini_base_url, timeout=5) as c:
        gen = lambda: c.post("/models/g:generateContent", json=BODY)  # noqa: E731
        assert response_from_gemini(gen().content, "m")["content"][0]["text"] == "one"
        blocked = response_from_gemini(gen().content, "m")
        assert blocked["stop_reason"] == "refusal" and "OTHER" in blocked["content"][0]["text"]
        with pytest.raises(TranslationError):
            response_from_gemini(gen().content, "m")
        last = response_from_gemini(gen().content, "m")
        assert last["stop_reason"] == "max_tokens"
        assert c.post("/models/g:countTokens", json=BODY).json() == {"totalTokens": COUNT_TOKENS}
        models = c.get("/models").json()["models"]
        assert [m["name"] for m in models] == ["models/gemini-2.5-pro", "models/gemini-2.5-flash"]
        missing = c.post("/nothing", json=BODY)
        assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    assert gem.pending() == 0


def test_fake_require_key() -> None:
    with FakeGemini(require_key="sk-good") as gem, httpx.Client(timeout=5) as c:
        url = f"{gem.gemini_base_url}/models/g:generateContent"
        assert c.post(url, json=BODY, headers={"x-goog-api-key": "sk-good"}).status_code == 200
        assert c.post(url + "?key=sk-good", json=BODY).status_code == 200
        missing = c.post(url, json=BODY)
        assert missing.status_code == 403
        assert missing.json()["error"]["status"] == "PERMISSION_DENIED"
        wrong = c.post(url, json=BODY, headers={"x-goog-api-key": "sk-bad"})
        assert wrong.status_code == 400  # what Google really answers for a bad key
        assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        vertex = f"{gem.vertex_base_url()}/models/g:generateContent"
        assert (
            c.post(vertex, json=BODY, headers={"authorization": "Bearer sk-good"}).status_code
            == 200
        )
        assert c.post(vertex, json=BODY, headers={"x-goog-api-key": "sk-good"}).status_code == 401


def test_fake_cut_stream_makes_the_translator_fail(gem: FakeGemini) -> None:
    gem.script(cut_stream(2))
    raw = b""
    url = f"{gem.gemini_base_url}/models/g:streamGenerateContent?alt=sse"
    with (
        httpx.Client(timeout=5) as c,
        c.stream("POST", url, json=BODY) as resp,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        for piece in resp.iter_bytes():
            raw += piece
    tr = StreamTranslator("m")
    for data in parse_sse_payloads(raw):
        tr.event(data)
    assert tr.started
    with pytest.raises(TranslationError, match="ended early"):
        tr.finish()


def test_fake_slow_chunks(gem: FakeGemini) -> None:
    gem.script(slow_chunks(["a", "b", "c"], 0.05))
    with httpx.Client(base_url=gem.gemini_base_url, timeout=5) as c:
        r = c.post("/models/g:streamGenerateContent?alt=sse", json=BODY)
    assert blocks_of(translate_stream(r.content)) == [{"type": "text", "text": "abc"}]
    times = gem.requests[0].sent_times
    assert len(times) == 3 and times[-1] - times[0] >= 0.09


@pytest.mark.parametrize("stream", [False, True])
def test_fake_tool_use_loop_with_translated_requests(gem: FakeGemini, stream: bool) -> None:
    """A whole Claude Code-style loop: Anthropic request -> Gemini body -> fake -> Anthropic."""
    gem.default = tool_use_loop_script("echo hi", require_offered=True)
    body = load("claude-code-main-turn.json")
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"

    def turn(c: httpx.Client, anthropic_body: dict) -> dict | Any:
        gbody = request_to_gemini(anthropic_body, "gemini-2.5-pro", stream=stream)
        r = c.post(f"/models/gemini-2.5-pro:{action}", json=gbody)
        assert r.status_code == 200
        if stream:
            return [b for b in blocks_of(translate_stream(r.content))]
        return response_from_gemini(r.content, "claude-x")["content"]

    with httpx.Client(base_url=gem.gemini_base_url, timeout=5) as c:
        (call,) = turn(c, body)
        assert call["type"] == "tool_use" and call["name"] == "Bash"
        assert call["input"] == {"command": "echo hi", "description": "run"}
        follow_up = dict(body)
        follow_up["messages"] = [
            *body["messages"],
            {"role": "assistant", "content": [call]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "hi\n"}],
            },
        ]
        (answer,) = turn(c, follow_up)
        assert answer == {"type": "text", "text": "done: hi\n"}
        # a request declaring no Bash function (a title call) gets plain text
        (title,) = turn(c, load("claude-code-background.json"))
        assert title == {"type": "text", "text": "ok"}
    sent = gem.requests[1].json
    assert sent["contents"][-1]["parts"][0]["functionResponse"]["name"] == "Bash"


def test_function_calls_get_back_the_signatures_gemini_gave_them() -> None:
    signed = sign("gemini", {"s": [["toolu_2", "SIG-2"], ["", "SIG-TEXT"]]})
    history = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "", "signature": signed},
                {"type": "text", "text": "Running."},
                {"type": "tool_use", "id": "toolu_1", "name": "A", "input": {}},
                {"type": "tool_use", "id": "toolu_2", "name": "B", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}],
        },
    ]
    parts = _req(history)["contents"][1]["parts"]
    assert parts[0] == {"text": "Running.", "thoughtSignature": "SIG-TEXT"}
    # the first call came from Gemini without a signature of its own: no skip value for it
    assert "thoughtSignature" not in parts[1]
    assert parts[2]["thoughtSignature"] == "SIG-2"
