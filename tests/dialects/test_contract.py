"""The Anthropic contract every translated dialect honours, one set of cases run over each
(msgspec's `proto` fixture is the model): the `dialect` fixture walks the registry's
translated dialects; what differs between them (the shape of a part, the tool_choice
spelling, how an upstream stream looks) is data in `SURFACES`, not `if`s in the tests.
Dialect-only behaviour stays in tests/dialects/test_<name>.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ccm.dialects import registry
from ccm.dialects.base import Job, Target, TranslationError
from ccm.dialects.common import Translated
from tests.anthropic_events import accumulate, check_events
from tests.dialects.cases import load

TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]


def _sse(*payloads: str) -> bytes:
    return b"".join(f"data: {p}\n\n".encode() for p in payloads)


def _chat_stream(thought: str, text: str, end: bool = True) -> bytes:
    def chunk(delta: dict, finish: str | None = None) -> str:
        return json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    usage = {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"reasoning_content": thought[:2]}), chunk({"reasoning_content": thought[2:]})]
    events += [chunk({"content": text[:3]}), chunk({"content": text[3:]})]
    if end:
        events += [chunk({}, "stop"), json.dumps({"choices": [], "usage": usage}), "[DONE]"]
    return _sse(*events)


def _responses_stream(thought: str, text: str, end: bool = True) -> bytes:
    def ev(kind: str, **fields: Any) -> str:
        return json.dumps({"type": kind, **fields})

    usage = {
        "input_tokens": 120,
        "output_tokens": 30,
        "input_tokens_details": {"cached_tokens": 100},
    }
    events = [
        ev("response.created", response={"id": "r", "status": "in_progress"}),
        ev(
            "response.output_item.added",
            output_index=0,
            item={"id": "rs", "type": "reasoning", "summary": []},
        ),
        ev(
            "response.reasoning_summary_text.delta",
            output_index=0,
            item_id="rs",
            summary_index=0,
            delta=thought,
        ),
        ev(
            "response.output_item.done",
            output_index=0,
            item={
                "id": "rs",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": thought}],
            },
        ),
        ev(
            "response.output_item.added",
            output_index=1,
            item={"id": "m", "type": "message", "content": []},
        ),
        ev(
            "response.output_text.delta",
            output_index=1,
            item_id="m",
            content_index=0,
            delta=text[:3],
        ),
        ev(
            "response.output_text.delta",
            output_index=1,
            item_id="m",
            content_index=0,
            delta=text[3:],
        ),
    ]
    if end:
        events.append(
            ev("response.completed", response={"id": "r", "status": "completed", "usage": usage})
        )
    return b"".join(f"event: x\n{e}\n\n".encode() for e in (f"data: {p}" for p in events))


def _gemini_stream(thought: str, text: str, end: bool = True) -> bytes:
    def chunk(parts: list[dict], finish: str | None = None) -> str:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        usage = {
            "promptTokenCount": 120,
            "cachedContentTokenCount": 100,
            "candidatesTokenCount": 30,
        }
        return json.dumps({"candidates": [candidate], "usageMetadata": usage})

    events = [
        chunk([{"text": thought, "thought": True}]),
        chunk([{"text": text[:3]}]),
        chunk([{"text": text[3:]}]),
    ]
    if end:
        events.append(chunk([{"text": ""}], "STOP"))
    return b"".join(f"data: {e}\r\n\r\n".encode() for e in events)


@dataclass(frozen=True)
class Surface:
    """How one dialect spells what the contract is about."""

    ptype: str  # a provider type that speaks it
    model: str
    turns: Callable[[dict], list[dict]]  # the payload's turns (messages, input items, contents)
    parts: Callable[[dict], list[dict]]  # the parts of a turn
    stream: Callable[..., bytes]  # an upstream stream: thinking then text
    # the parts of the shared mixed user turn (USER_BLOCKS), in order
    user_blocks: list[dict]
    # tool_choice -> what the payload carries (None: nothing)
    tool_choice: Callable[[dict], Any]
    choices: dict[str, Any]
    garbage: list[bytes] = field(default_factory=list)  # answers of this dialect's shape


SURFACES = {
    "chat": Surface(
        "openai",
        "gpt-4o",
        lambda p: p["messages"],
        lambda turn: (
            turn["content"]
            if isinstance(turn["content"], list)
            else [{"type": "text", "text": turn["content"]}]
        ),
        _chat_stream,
        [
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            {
                "type": "file",
                "file": {"filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBE"},
            },
            {"type": "text", "text": "[document: https://x/a.pdf]"},
            {"type": "text", "text": "plain doc"},
            {"type": "text", "text": "T\n\nc"},
            {"type": "text", "text": "found"},
            {"type": "text", "text": "mystery text"},
            {"type": "text", "text": "question"},
        ],
        lambda p: p.get("tool_choice"),
        {
            "auto": "auto",
            "any": "required",
            "none": "none",
            "tool": {"type": "function", "function": {"name": "Bash"}},
        },
        [
            b'{"choices": []}',
            b'{"id": "x"}',
            b'{"choices": "nope"}',
            b'{"error": {"message": "quota", "type": "insufficient_quota"}}',
        ],
    ),
    "resp": Surface(
        "openai-responses",
        "gpt-4.1",
        lambda p: p["input"],
        lambda turn: turn["content"],
        _responses_stream,
        [
            {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"},
            {
                "type": "input_file",
                "filename": "spec.pdf",
                "file_data": "data:application/pdf;base64,JVBE",
            },
            {"type": "input_file", "file_url": "https://x/a.pdf"},
            {"type": "input_text", "text": "plain doc"},
            {"type": "input_text", "text": "T\n\nc"},
            {"type": "input_text", "text": "found"},
            {"type": "input_text", "text": "mystery text"},
            {"type": "input_text", "text": "question"},
        ],
        lambda p: p.get("tool_choice"),
        {
            "auto": "auto",
            "any": "required",
            "none": "none",
            "tool": {"type": "function", "name": "Bash"},
        },
        [b'{"output": "nope"}', b"{}"],
    ),
    "gemini": Surface(
        "gemini",
        "gemini-2.5-pro",
        lambda p: p["contents"],
        lambda turn: turn["parts"],
        _gemini_stream,
        [
            {"fileData": {"mimeType": "image/png", "fileUri": "https://x/y.png"}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
            {"fileData": {"mimeType": "application/pdf", "fileUri": "https://x/a.pdf"}},
            {"text": "plain doc"},
            {"text": "T\n\nc"},
            {"text": "found"},
            {"text": "mystery text"},
            {"text": "question"},
        ],
        lambda p: (p.get("toolConfig") or {}).get("functionCallingConfig"),
        {
            "auto": {"mode": "AUTO"},
            "any": {"mode": "ANY"},
            "none": {"mode": "NONE"},
            "tool": {"mode": "ANY", "allowedFunctionNames": ["Bash"]},
        },
        [
            b"{}",
            b'{"candidates": []}',
            b'{"candidates": "nope"}',
            b'{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}',
        ],
    ),
}


@dataclass(frozen=True)
class Subject:
    name: str
    dialect: Translated
    surface: Surface

    def payload(self, body: dict, *, stream: bool = False) -> dict:
        pre = registry.preset(self.surface.ptype)
        assert pre is not None
        target = Target(self.surface.model, pre.base_url, pre.auth, pre.quirks, None, {})  # type: ignore[arg-type]
        return self.dialect.payload(Job(body, {}, stream, "claude-x"), target)


@pytest.fixture(params=sorted(SURFACES))
def dialect(request: pytest.FixtureRequest) -> Subject:
    surface = SURFACES[request.param]
    pre = registry.preset(surface.ptype)
    assert pre is not None and pre.dialect.name == request.param
    assert isinstance(pre.dialect, Translated)
    return Subject(request.param, pre.dialect, surface)


def body(messages: list, **extra: Any) -> dict:
    return {"model": "claude-x", "max_tokens": 1000, "messages": messages, **extra}


def stream_message(subject: Subject, raw: bytes, step: int) -> tuple[list[dict], Any]:
    """The upstream bytes through the dialect's translator in pieces of `step` bytes."""
    tr = subject.dialect.translator(Job(body([]), {}, True, "claude-opus-4-8", lambda: 777))
    out: list[bytes] = []
    for i in range(0, len(raw), step):
        out += tr.feed(raw[i : i + step])
    out += tr.finish()
    assert tr.started and tr.done
    payloads = check_events(b"".join(out))
    return payloads, accumulate(payloads)


# --------------------------------------------------------------------------- request

USER_BLOCKS = [
    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
    {"type": "image", "source": {"type": "file", "file_id": "f1"}},  # nothing can name it
    {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
        "title": "spec.pdf",
        "cache_control": {"type": "ephemeral"},
    },
    {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}},
    {"type": "document", "source": {"type": "text", "data": "plain doc"}},
    {
        "type": "document",
        "title": "T",
        "source": {"type": "content", "content": [{"type": "text", "text": "c"}]},
    },
    {"type": "search_result", "content": [{"type": "text", "text": "found"}]},
    {"type": "mystery_block", "text": "mystery text"},
    {"type": "mystery_block_2", "weird": 1},
    {"type": "text", "text": ""},
    {"type": "text", "text": "question"},
    None,
    7,
]


def test_user_blocks_images_documents_unknown(dialect: Subject) -> None:
    turns = dialect.surface.turns(dialect.payload(body([{"role": "user", "content": USER_BLOCKS}])))
    assert len(turns) == 1
    assert dialect.surface.parts(turns[0]) == dialect.surface.user_blocks


def test_image_example(dialect: Subject) -> None:
    example = load("image.json")
    image, text = dialect.surface.parts(dialect.surface.turns(dialect.payload(example))[0])
    assert "iVBOR" in json.dumps(image) and "image/png" in json.dumps(image)
    assert "What is in this screenshot?" in json.dumps(text)


@pytest.mark.parametrize("kind", ["auto", "any", "none", "tool"])
def test_tool_choice(dialect: Subject, kind: str) -> None:
    choice = {"type": kind, "name": "Bash"} if kind == "tool" else {"type": kind}
    hi = [{"role": "user", "content": "hi"}]
    payload = dialect.payload(body(hi, tools=TOOLS, tool_choice=choice))
    assert dialect.surface.tool_choice(payload) == dialect.surface.choices[kind]
    assert "parallel_tool_calls" not in payload
    # an unknown choice, or no tools to choose from: nothing is sent
    assert (
        dialect.surface.tool_choice(
            dialect.payload(body(hi, tools=TOOLS, tool_choice={"type": "weird"}))
        )
        is None
    )
    assert dialect.surface.tool_choice(dialect.payload(body(hi, tool_choice=choice))) is None


def test_server_tools_have_no_function_form(dialect: Subject) -> None:
    tools = [
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250429", "name": "e"},
    ]
    payload = dialect.payload(body([{"role": "user", "content": "hi"}], tools=tools))
    assert "bash" not in json.dumps(payload.get("tools", []))


# --------------------------------------------------------------------------- response

GARBAGE = [b"", b"<html>502 Bad Gateway</html>", b"[1, 2]", b'"text"', b"null"]


def test_garbage_answers_raise(dialect: Subject) -> None:
    for raw in GARBAGE + dialect.surface.garbage:
        with pytest.raises(TranslationError) as info:
            dialect.dialect.decode(raw, Job(body([]), {}, False, "m"))
        assert isinstance(info.value, ValueError) and str(info.value), raw


# --------------------------------------------------------------------------- stream


@pytest.mark.parametrize("step", [1, 3, 7, 64, 100_000])
def test_stream_through_any_byte_split(dialect: Subject, step: int) -> None:
    payloads, msg = stream_message(dialect, dialect.surface.stream("先想", "答案：ü ✓"), step)
    blocks = [b.to_dict() for b in msg.content]
    assert [(b["type"], b.get("thinking") or b.get("text")) for b in blocks] == [
        ("thinking", "先想"),
        ("text", "答案：ü ✓"),
    ]
    assert blocks[0]["signature"].startswith(f"ccm1.{dialect.name}.")  # what comes back next turn
    start = payloads[0]["message"]
    assert start["model"] == "claude-opus-4-8"
    assert msg.stop_reason == "end_turn" and msg.model == "claude-opus-4-8"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens) == (20, 100)


def test_stream_that_ends_early_raises(dialect: Subject) -> None:
    tr = dialect.dialect.translator(Job(body([]), {}, True, "m"))
    tr.feed(dialect.surface.stream("hm", "partial", end=False))
    assert tr.started and not tr.done
    with pytest.raises(TranslationError):
        tr.finish()
    with pytest.raises(TranslationError):
        dialect.dialect.translator(Job(body([]), {}, True, "m")).finish()


STOP_LIMITS = {"chat": 4, "resp": 0, "gemini": 5}  # OpenAI: 4; the Responses API has none


def test_stop_sequences_within_the_providers_limit(dialect: Subject) -> None:
    stops = [f"S{i}" for i in range(7)]
    payload = json.dumps(
        dialect.payload(body([{"role": "user", "content": "x"}], stop_sequences=stops))
    )
    kept = [s for s in stops if f'"{s}"' in payload]
    assert kept == stops[: STOP_LIMITS[dialect.name]]
