"""Tests for the scriptable fake upstream (tests/fakes/upstream.py), driven with plain httpx."""

from __future__ import annotations

import itertools
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ccm.dialects.sse import SSEDecoder
from tests.fakes.upstream import (
    CLOSE,
    FakeUpstream,
    Recorded,
    cut_stream,
    dynamic,
    echo,
    garbage,
    hang,
    reply_text,
    reply_thinking,
    reply_tool_call,
    respond,
    slow_chunks,
    stall_stream,
    status,
    tool_use_loop_script,
)

DIALECTS = ["anthropic", "openai"]
ANTHROPIC_STREAM = [
    "message_start",
    "ping",
    "content_block_start",
    "content_block_delta",
    "content_block_delta",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


@pytest.fixture(params=DIALECTS)
def up(request: pytest.FixtureRequest) -> Iterator[FakeUpstream]:
    with FakeUpstream(request.param) as fake:
        yield fake


@pytest.fixture
def client(up: FakeUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=up.base_url, timeout=5.0, verify=False) as c:
        yield c


def make_body(up: FakeUpstream, stream: bool = False, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "test-model-1",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
    }
    if stream and up.dialect == "openai":
        body["stream_options"] = {"include_usage": True}
    body.update(extra)
    return body


def stream_events(
    client: httpx.Client, path: str, body: dict[str, Any], timeout: Any = None
) -> tuple[httpx.Response, list[tuple[float, str | None, str]], Exception | None]:
    """POST and read SSE as it arrives (ccm's own decoder); return (response,
    [(recv time, event name or None, data)], the error that ended the read or None)."""
    events: list[tuple[float, str | None, str]] = []
    decoder = SSEDecoder()
    kwargs = {} if timeout is None else {"timeout": timeout}
    with client.stream("POST", path, json=body, **kwargs) as resp:
        try:
            for chunk in resp.iter_bytes():
                now = time.monotonic()
                events += [(now, e.event or None, e.data) for e in decoder.feed(chunk)]
        except Exception as exc:
            return resp, events, exc
    return resp, events, None


def collect(dialect: str, events: list[tuple[str | None, str]]) -> dict[str, Any]:
    """Reassemble a streamed answer in either dialect."""
    out: dict[str, Any] = {
        "text": "",
        "thinking": "",
        "signature": "",
        "args": "",
        "text_deltas": 0,
        "usage": None,
        "stop": None,
        "tool_name": None,
        "tool_id": None,
        "done": False,
        "model": None,
    }
    for name, data in events:
        if dialect == "openai":
            if data == "[DONE]":
                out["done"] = True
                continue
            obj = json.loads(data)
            out["model"] = obj["model"]
            if obj.get("usage"):
                out["usage"] = obj["usage"]
            for choice in obj["choices"]:
                delta = choice["delta"]
                if delta.get("content"):
                    out["text"] += delta["content"]
                    out["text_deltas"] += 1
                out["thinking"] += delta.get("reasoning_content") or ""
                for call in delta.get("tool_calls") or []:
                    out["tool_id"] = call.get("id") or out["tool_id"]
                    fn = call.get("function") or {}
                    out["tool_name"] = fn.get("name") or out["tool_name"]
                    out["args"] += fn.get("arguments") or ""
                if choice["finish_reason"]:
                    out["stop"] = choice["finish_reason"]
        else:
            obj = json.loads(data)
            assert obj["type"] == name
            if name == "message_start":
                out["model"] = obj["message"]["model"]
                out["usage"] = dict(obj["message"]["usage"])
            elif name == "content_block_start":
                block = obj["content_block"]
                if block["type"] == "tool_use":
                    out["tool_id"], out["tool_name"] = block["id"], block["name"]
            elif name == "content_block_delta":
                d = obj["delta"]
                if d["type"] == "text_delta":
                    out["text"] += d["text"]
                    out["text_deltas"] += 1
                elif d["type"] == "thinking_delta":
                    out["thinking"] += d["thinking"]
                elif d["type"] == "signature_delta":
                    out["signature"] += d["signature"]
                elif d["type"] == "input_json_delta":
                    out["args"] += d["partial_json"]
            elif name == "message_delta":
                out["stop"] = obj["delta"]["stop_reason"]
                out["usage"].update(obj["usage"])
            elif name == "message_stop":
                out["done"] = True
    return out


def non_stream_text(dialect: str, obj: dict[str, Any]) -> str:
    if dialect == "openai":
        return obj["choices"][0]["message"]["content"]
    return "".join(b["text"] for b in obj["content"] if b["type"] == "text")


def port_is_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


# --------------------------------------------------------------------------
# normal answers
# --------------------------------------------------------------------------


def test_reply_text_non_stream(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(reply_text("hello world"))
    r = client.post(up.generation_path, json=make_body(up))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    obj = r.json()
    assert obj["model"] == "test-model-1"
    assert non_stream_text(up.dialect, obj) == "hello world"
    if up.dialect == "openai":
        assert obj["object"] == "chat.completion"
        assert obj["choices"][0]["finish_reason"] == "stop"
        assert obj["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    else:
        assert obj["type"] == "message" and obj["role"] == "assistant"
        assert obj["stop_reason"] == "end_turn"
        assert obj["usage"]["input_tokens"] == 10 and obj["usage"]["output_tokens"] == 5


def test_reply_text_stream(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(reply_text("streamed hello"))
    resp, events, err = stream_events(client, up.generation_path, make_body(up, stream=True))
    assert err is None
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["transfer-encoding"] == "chunked"
    pairs = [(n, d) for _, n, d in events]
    got = collect(up.dialect, pairs)
    assert got["text"] == "streamed hello"
    assert got["text_deltas"] == 3
    assert got["done"] and got["model"] == "test-model-1"
    if up.dialect == "anthropic":
        assert [n for n, _ in pairs] == ANTHROPIC_STREAM
        assert got["stop"] == "end_turn"
        assert got["usage"]["output_tokens"] == 5
    else:
        first = json.loads(pairs[0][1])
        assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert got["stop"] == "stop"
        # final usage chunk (choices == []) just before [DONE]
        usage_chunk = json.loads(pairs[-2][1])
        assert usage_chunk["choices"] == [] and usage_chunk["usage"]["total_tokens"] == 15
        assert pairs[-1][1] == "[DONE]"


def test_openai_stream_without_include_usage() -> None:
    with (
        FakeUpstream("openai") as up,
        httpx.Client(base_url=up.base_url, timeout=5, verify=False) as c,
    ):
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
        _, events, err = stream_events(c, "/v1/chat/completions", body)
        assert err is None
        datas = [d for _, _, d in events]
        assert datas[-1] == "[DONE]"
        chunks = [json.loads(d) for d in datas[:-1]]
        assert all("usage" not in ch and ch["choices"] for ch in chunks)
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_reply_text_custom_usage(up: FakeUpstream, client: httpx.Client, stream: bool) -> None:
    usage = {"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 2}
    up.script(reply_text("u", usage=usage))
    if stream:
        _, events, _ = stream_events(client, up.generation_path, make_body(up, stream=True))
        got = collect(up.dialect, [(n, d) for _, n, d in events])["usage"]
    else:
        got = client.post(up.generation_path, json=make_body(up)).json()["usage"]
    if up.dialect == "openai":
        assert got["prompt_tokens"] == 9 and got["completion_tokens"] == 3
        assert got["prompt_tokens_details"] == {"cached_tokens": 2}
    else:
        assert got["input_tokens"] == 7 and got["output_tokens"] == 3
        assert got["cache_read_input_tokens"] == 2


@pytest.mark.parametrize("stream", [False, True])
def test_reply_tool_call(up: FakeUpstream, client: httpx.Client, stream: bool) -> None:
    args = {"command": "ls -la /tmp", "description": "list"}
    up.script(reply_tool_call("Bash", args, tool_id="tool_42", text_before="Let me look."))
    body = make_body(up, stream=stream)
    if stream:
        _, events, err = stream_events(client, up.generation_path, body)
        assert err is None
        got = collect(up.dialect, [(n, d) for _, n, d in events])
        assert (got["tool_name"], got["tool_id"]) == ("Bash", "tool_42")
        assert json.loads(got["args"]) == args
        assert got["text"] == "Let me look."
        # the arguments really arrive in several pieces
        key = "input_json_delta" if up.dialect == "anthropic" else '"arguments":"'
        assert sum(key in d for _, _, d in events) >= 2
        assert got["stop"] == ("tool_use" if up.dialect == "anthropic" else "tool_calls")
        return
    obj = client.post(up.generation_path, json=body).json()
    if up.dialect == "openai":
        choice = obj["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["content"] == "Let me look."
        (call,) = choice["message"]["tool_calls"]
        assert call["id"] == "tool_42" and call["type"] == "function"
        assert call["function"]["name"] == "Bash"
        assert json.loads(call["function"]["arguments"]) == args
    else:
        assert obj["stop_reason"] == "tool_use"
        text, tool = obj["content"]
        assert text == {"type": "text", "text": "Let me look."}
        assert tool == {"type": "tool_use", "id": "tool_42", "name": "Bash", "input": args}


def test_reply_tool_call_generates_ids(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(reply_tool_call("Read", {"path": "a"}), reply_tool_call("Read", {"path": "b"}))
    ids = []
    for _ in range(2):
        obj = client.post(up.generation_path, json=make_body(up)).json()
        if up.dialect == "openai":
            ids.append(obj["choices"][0]["message"]["tool_calls"][0]["id"])
        else:
            ids.append(obj["content"][0]["id"])
    prefix = "toolu_" if up.dialect == "anthropic" else "call_"
    assert all(i.startswith(prefix) for i in ids) and ids[0] != ids[1]


@pytest.mark.parametrize("stream", [False, True])
def test_reply_thinking(up: FakeUpstream, client: httpx.Client, stream: bool) -> None:
    up.script(reply_thinking("pondering deeply", "the answer"))
    body = make_body(up, stream=stream)
    if stream:
        _, events, err = stream_events(client, up.generation_path, body)
        assert err is None
        got = collect(up.dialect, [(n, d) for _, n, d in events])
        assert got["thinking"] == "pondering deeply" and got["text"] == "the answer"
        datas = [d for _, _, d in events]
        if up.dialect == "anthropic":
            assert got["signature"] == "fake-signature-AbCd=="
            first_text = next(i for i, d in enumerate(datas) if "text_delta" in d)
            last_thinking = max(i for i, d in enumerate(datas) if "thinking_delta" in d)
            assert last_thinking < first_text
        else:
            first_text = next(i for i, d in enumerate(datas) if '"content":"the' in d)
            last_thinking = max(i for i, d in enumerate(datas) if "reasoning_content" in d)
            assert last_thinking < first_text
        return
    obj = client.post(up.generation_path, json=body).json()
    if up.dialect == "openai":
        msg = obj["choices"][0]["message"]
        assert msg["reasoning_content"] == "pondering deeply" and msg["content"] == "the answer"
    else:
        thinking, text = obj["content"]
        assert thinking["type"] == "thinking" and thinking["thinking"] == "pondering deeply"
        assert thinking["signature"]
        assert text == {"type": "text", "text": "the answer"}


# --------------------------------------------------------------------------
# errors and faults
# --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [400, 401, 429, 500, 529])
def test_status_default_bodies(up: FakeUpstream, client: httpx.Client, code: int) -> None:
    up.script(status(code))
    r = client.post(up.generation_path, json=make_body(up, stream=True))
    assert r.status_code == code
    obj = r.json()
    if up.dialect == "anthropic":
        assert obj["type"] == "error" and obj["error"]["type"] and obj["error"]["message"]
        expected = {
            400: "invalid_request_error",
            401: "authentication_error",
            429: "rate_limit_error",
            500: "api_error",
            529: "overloaded_error",
        }[code]
        assert obj["error"]["type"] == expected
    else:
        assert set(obj["error"]) == {"message", "type", "param", "code"}
    assert (r.headers.get("retry-after") == "1") == (code == 429)


def test_status_custom_body_and_headers(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(
        status(503, {"custom": True}, {"Retry-After": "7", "X-Extra": "y"}),
        status(502, "bad gateway"),
    )
    r = client.post(up.generation_path, json=make_body(up))
    assert r.status_code == 503 and r.json() == {"custom": True}
    assert r.headers["retry-after"] == "7" and r.headers["x-extra"] == "y"
    r = client.post(up.generation_path, json=make_body(up))
    assert r.status_code == 502 and r.text == "bad gateway"
    assert r.headers["content-type"].startswith("text/plain")


def test_hang_triggers_read_timeout(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(hang(3.0))
    t0 = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post(up.generation_path, json=make_body(up), timeout=httpx.Timeout(5, read=0.2))
    assert 0.15 < time.monotonic() - t0 < 1.5
    # httpx dropped the connection; the fake notices and stops hanging
    up.wait_until(lambda: up.requests[-1].outcome is not None, timeout=2)
    rec = up.requests[-1]
    assert rec.outcome == "client_gone" and rec.status is None and rec.sent == []


def test_hang_then_close_without_response(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(hang(0.1))
    t0 = time.monotonic()
    with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
        client.post(up.generation_path, json=make_body(up))
    assert time.monotonic() - t0 >= 0.09
    assert up.requests[-1].outcome == "closed"
    # the client recovers on a fresh connection
    assert client.post(up.generation_path, json=make_body(up)).status_code == 200
    assert up.connections == 2


def test_cut_stream_ends_connection_without_terminator(
    up: FakeUpstream, client: httpx.Client
) -> None:
    up.script(cut_stream(after_events=2))
    resp, events, err = stream_events(client, up.generation_path, make_body(up, stream=True))
    assert resp.status_code == 200
    # the chunked body never gets its terminating 0-chunk: httpx raises
    assert isinstance(err, httpx.RemoteProtocolError)
    assert "incomplete chunked read" in str(err)
    assert len(events) == 2
    datas = [d for _, _, d in events]
    assert "[DONE]" not in datas and not any("message_stop" in d for d in datas)
    rec = up.requests[-1]
    assert rec.outcome == "closed" and len(rec.sent) == 2


def test_cut_stream_clamps_to_before_the_terminator(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(cut_stream(after_events=100))
    _, events, err = stream_events(client, up.generation_path, make_body(up, stream=True))
    assert isinstance(err, httpx.RemoteProtocolError)
    last = events[-1][2]
    assert last != "[DONE]" and "message_stop" not in last
    if up.dialect == "anthropic":
        assert events[-1][1] == "message_delta"


def test_cut_stream_non_streaming_request(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(cut_stream())
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(up.generation_path, json=make_body(up))


def test_cut_stream_with_reset(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(cut_stream(after_events=1, reset=True))
    _, _events, err = stream_events(client, up.generation_path, make_body(up, stream=True))
    assert isinstance(err, httpx.ReadError | httpx.RemoteProtocolError)
    assert up.requests[-1].outcome == "closed"


def test_stall_stream_triggers_idle_timeout(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(stall_stream(after_events=3, seconds=3.0))
    t0 = time.monotonic()
    _, events, err = stream_events(
        client, up.generation_path, make_body(up, stream=True), timeout=httpx.Timeout(5, read=0.2)
    )
    assert isinstance(err, httpx.ReadTimeout)
    assert len(events) == 3
    assert time.monotonic() - t0 < 1.5
    up.wait_until(lambda: up.requests[-1].outcome == "client_gone", timeout=2)


def test_stall_stream_then_close(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(stall_stream(after_events=2, seconds=0.1))
    _, events, err = stream_events(client, up.generation_path, make_body(up, stream=True))
    assert isinstance(err, httpx.RemoteProtocolError)
    assert len(events) == 2


def test_stall_stream_then_finish(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(stall_stream(after_events=2, seconds=0.15, text="abc def", then="finish"))
    _, events, err = stream_events(client, up.generation_path, make_body(up, stream=True))
    assert err is None
    got = collect(up.dialect, [(n, d) for _, n, d in events])
    assert got["text"] == "abc def" and got["done"]
    assert events[2][0] - events[1][0] >= 0.12  # the silence is visible to the client


def test_garbage(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(garbage(), garbage(b"not json {", status=502, content_type="text/plain"))
    for stream in (True, False):
        r = client.post(up.generation_path, json=make_body(up, stream=stream))
        if stream:
            assert r.status_code == 200 and r.headers["content-type"] == "text/html"
            assert r.content == b"<html>oops</html>"
        else:
            assert r.status_code == 502 and r.content == b"not json {"
        with pytest.raises(json.JSONDecodeError):
            r.json()


def test_slow_chunks_stream_are_paced(up: FakeUpstream, client: httpx.Client) -> None:
    delay = 0.1
    up.script(slow_chunks(["one ", "two ", "three"], delay))
    _, events, err = stream_events(client, up.generation_path, make_body(up, stream=True))
    assert err is None
    got = collect(up.dialect, [(n, d) for _, n, d in events])
    assert got["text"] == "one two three" and got["text_deltas"] == 3
    key = "text_delta" if up.dialect == "anthropic" else '"content":"'
    received = [t for t, _, d in events if key in d and '"content":""' not in d]
    assert len(received) == 3
    # the client sees each delta separately, `delay` apart (not all at once at the end)
    assert all(b - a >= delay * 0.8 for a, b in itertools.pairwise(received))
    # the fake records the monotonic send time of each event
    rec = up.requests[-1]
    sent = [
        t for t, payload in rec.sent if key.encode() in payload and b'"content":""' not in payload
    ]
    assert len(sent) == 3
    assert all(b - a >= delay * 0.95 for a, b in itertools.pairwise(sent))
    assert all(r >= s for r, s in zip(received, sent, strict=True))


def test_slow_chunks_splits_words_and_non_stream(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(slow_chunks("alpha beta", 0.06), slow_chunks("alpha beta", 0.06))
    _, events, _ = stream_events(client, up.generation_path, make_body(up, stream=True))
    got = collect(up.dialect, [(n, d) for _, n, d in events])
    assert got["text"] == "alpha beta" and got["text_deltas"] == 2
    t0 = time.monotonic()
    r = client.post(up.generation_path, json=make_body(up))
    assert time.monotonic() - t0 >= 0.1  # body written in three pieces, 0.06 s apart
    assert non_stream_text(up.dialect, r.json()) == "alpha beta"
    assert len(up.requests[-1].sent) == 3


def test_echo(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(echo(), echo())
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    r = client.post(up.generation_path, json=make_body(up, messages=messages))
    summary = json.loads(non_stream_text(up.dialect, r.json()))
    assert summary["model"] == "test-model-1"
    assert summary["messages"] == 3 and summary["roles"] == ["user", "assistant", "user"]
    assert summary["stream"] is False and summary["max_tokens"] == 64
    _, events, _ = stream_events(client, up.generation_path, make_body(up, stream=True))
    summary = json.loads(collect(up.dialect, [(n, d) for _, n, d in events])["text"])
    assert summary["stream"] is True and summary["messages"] == 1


def test_respond_escape_hatch(up: FakeUpstream, client: httpx.Client) -> None:
    def fn(req: Recorded) -> tuple[int, dict[str, str], Any]:
        assert req.json["model"] == "test-model-1"

        def body() -> Iterator[Any]:
            yield b"part1,"
            yield 0.05
            yield b"part2"

        return 207, {"X-Custom": "1", "Content-Type": "text/plain"}, body()

    up.script(respond(fn))
    r = client.post(up.generation_path, json=make_body(up))
    assert r.status_code == 207 and r.headers["x-custom"] == "1"
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.text == "part1,part2"
    t1, t2 = up.requests[-1].sent_times
    assert t2 - t1 >= 0.045


def test_respond_raw_bytes_and_close(up: FakeUpstream, client: httpx.Client) -> None:
    # raw mode: no framing generated; here a response promising more than it sends
    raw = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort"
    up.script(respond(lambda req: (None, {}, [raw, CLOSE])))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(up.generation_path, json=make_body(up))


def test_step_error_becomes_500(up: FakeUpstream, client: httpx.Client) -> None:
    def boom(req: Recorded) -> Any:
        raise RuntimeError("kaput")

    up.script(respond(boom))
    r = client.post(up.generation_path, json=make_body(up))
    assert r.status_code == 500 and "kaput" in r.text
    assert isinstance(up.errors[0], RuntimeError)
    assert up.requests[-1].outcome == "error"

    def body_then_boom(req: Recorded) -> Any:
        def gen() -> Iterator[bytes]:
            yield b"data: {}\n\n"
            raise ValueError("mid-body")

        return 200, {"content-type": "text/event-stream"}, gen()

    up.script(respond(body_then_boom))
    _, _, err = stream_events(client, up.generation_path, make_body(up, stream=True))
    assert isinstance(err, httpx.RemoteProtocolError | httpx.ReadError)
    assert isinstance(up.errors[1], ValueError)
    assert up.requests[-1].outcome == "error"


def test_delay_before_response(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(reply_text("late", delay=0.2), reply_text("late again").with_delay(0.1))
    with pytest.raises(httpx.ReadTimeout):
        client.post(up.generation_path, json=make_body(up), timeout=httpx.Timeout(5, read=0.05))
    t0 = time.monotonic()
    r = client.post(up.generation_path, json=make_body(up))
    assert time.monotonic() - t0 >= 0.09
    assert non_stream_text(up.dialect, r.json()) == "late again"
    rec = up.requests[-1]
    assert rec.response_started_at is not None
    assert rec.response_started_at - rec.received_at >= 0.09


def test_dynamic_step(up: FakeUpstream, client: httpx.Client) -> None:
    up.default = dynamic(lambda req: reply_text(f"n={len(req.json['messages'])}"))
    r = client.post(up.generation_path, json=make_body(up))
    assert non_stream_text(up.dialect, r.json()) == "n=1"
    assert isinstance(up.requests[-1].step, type(reply_text()))  # resolved step recorded


# --------------------------------------------------------------------------
# tool loop
# --------------------------------------------------------------------------


BASH_TOOL_ANTHROPIC = {"name": "Bash", "input_schema": {"type": "object"}}
BASH_TOOL_OPENAI = {"type": "function", "function": {"name": "Bash", "parameters": {}}}


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_loop_script(up: FakeUpstream, client: httpx.Client, stream: bool) -> None:
    up.default = tool_use_loop_script("echo hi")
    tools = [BASH_TOOL_ANTHROPIC if up.dialect == "anthropic" else BASH_TOOL_OPENAI]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "run it"}]

    def ask() -> dict[str, Any]:
        body = make_body(up, stream=stream, messages=messages, tools=tools)
        if stream:
            _, events, err = stream_events(client, up.generation_path, body)
            assert err is None
            return collect(up.dialect, [(n, d) for _, n, d in events])
        obj = client.post(up.generation_path, json=body).json()
        if up.dialect == "openai":
            msg = obj["choices"][0]["message"]
            call = (msg.get("tool_calls") or [{}])[0]
            fn = call.get("function") or {}
            return {
                "text": msg["content"] or "",
                "tool_id": call.get("id"),
                "tool_name": fn.get("name"),
                "args": fn.get("arguments", ""),
            }
        tool = next((b for b in obj["content"] if b["type"] == "tool_use"), {})
        return {
            "text": non_stream_text("anthropic", obj),
            "tool_id": tool.get("id"),
            "tool_name": tool.get("name"),
            "args": json.dumps(tool.get("input", {})),
        }

    first = ask()
    assert first["tool_name"] == "Bash"
    assert json.loads(first["args"]) == {"command": "echo hi", "description": "run"}
    if up.dialect == "anthropic":
        messages += [
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": first["tool_id"],
                        "name": "Bash",
                        "input": json.loads(first["args"]),
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": first["tool_id"],
                        "content": [{"type": "text", "text": "hi"}],
                    },
                    {"type": "text", "text": "continue"},
                ],
            },
        ]
    else:
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": first["tool_id"],
                        "type": "function",
                        "function": {"name": "Bash", "arguments": first["args"]},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": first["tool_id"], "content": "hi"},
        ]
    second = ask()
    assert second["text"] == "done: hi" and not second["tool_name"]
    # a new user turn without a tool result starts the loop again
    messages += [{"role": "assistant", "content": "done: hi"}, {"role": "user", "content": "again"}]
    assert ask()["tool_name"] == "Bash"


def test_tool_use_loop_require_offered(up: FakeUpstream, client: httpx.Client) -> None:
    up.default = tool_use_loop_script("true", require_offered=True)
    r = client.post(up.generation_path, json=make_body(up))  # no tools: a title-style call
    assert non_stream_text(up.dialect, r.json()) == "ok"


# --------------------------------------------------------------------------
# server behaviour: routing, recording, keep-alive, stop
# --------------------------------------------------------------------------


def test_script_queue_then_default(up: FakeUpstream, client: httpx.Client) -> None:
    up.default = reply_text("fallback")
    up.script(status(500), reply_text("second"))
    assert up.pending() == 2
    codes_texts = []
    for _ in range(3):
        r = client.post(up.generation_path, json=make_body(up))
        codes_texts.append(
            (r.status_code, non_stream_text(up.dialect, r.json()) if r.is_success else None)
        )
    assert codes_texts == [(500, None), (200, "second"), (200, "fallback")]
    assert up.pending() == 0


def test_builtin_endpoints_and_404(up: FakeUpstream, client: httpx.Client) -> None:
    r = client.get("/v1/models")
    assert r.status_code == 200 and [m["id"] for m in r.json()["data"]] == up.models
    if up.dialect == "anthropic":
        r = client.post("/v1/messages/count_tokens", json=make_body(up))
        assert r.json() == {"input_tokens": 100}
    else:
        assert r.json()["object"] == "list"
        assert client.post("/v1/messages/count_tokens", json={}).status_code == 404
    r = client.post("/v1/nowhere", json={})
    assert r.status_code == 404
    assert "error" in r.json()
    # built-ins do not consume the generation script
    up.script(status(500))
    client.get("/v1/models")
    assert up.pending() == 1


def test_path_specific_script(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(status(503), path="/v1/models")
    assert client.get("/v1/models").status_code == 503
    assert client.get("/v1/models").status_code == 200
    assert client.post(up.generation_path, json=make_body(up)).status_code == 200


def test_recorded_request(up: FakeUpstream, client: httpx.Client) -> None:
    client.post(
        up.generation_path + "?beta=true",
        json=make_body(up),
        headers={"X-API-Key": "sk-test", "Anthropic-Version": "2023-06-01"},
    )
    client.post(up.generation_path, content=b"not json", headers={"content-type": "text/plain"})

    def chunks() -> Iterator[bytes]:
        yield b'{"model": '
        yield b'"chunked"}'

    client.post(up.generation_path, content=chunks())
    first, second, third = up.requests
    assert first.method == "POST" and first.path == up.generation_path + "?beta=true"
    assert first.url_path == up.generation_path and first.query == {"beta": ["true"]}
    assert first.headers["x-api-key"] == "sk-test"
    assert first.headers["anthropic-version"] == "2023-06-01"
    assert all(k == k.lower() for k in first.headers)
    assert json.loads(first.body) == first.json == make_body(up)
    assert first.outcome == "complete" and first.status == 200
    assert first.response_started_at is not None and first.finished_at is not None
    assert second.body == b"not json" and second.json is None
    assert third.headers["transfer-encoding"] == "chunked"
    assert third.json == {"model": "chunked"}


def test_keep_alive_reuses_one_connection(up: FakeUpstream, client: httpx.Client) -> None:
    up.script(reply_text("a"), status(500), reply_text("b"), reply_tool_call("X", {}))
    client.post(up.generation_path, json=make_body(up))
    client.post(up.generation_path, json=make_body(up))
    _, _, err = stream_events(client, up.generation_path, make_body(up, stream=True))
    assert err is None
    client.get("/v1/models")
    client.post(up.generation_path, json=make_body(up, stream=True)).read()
    assert len(up.requests) == 5
    assert up.connections == 1
    assert {r.connection for r in up.requests} == {1}
    # a cut connection cannot be reused: the next request opens a second one
    up.script(cut_stream(1))
    stream_events(client, up.generation_path, make_body(up, stream=True))
    client.post(up.generation_path, json=make_body(up))
    assert up.connections == 2 and up.requests[-1].connection == 2


def test_connection_close_header_is_honoured(up: FakeUpstream, client: httpx.Client) -> None:
    for _ in range(2):
        r = client.post(up.generation_path, json=make_body(up), headers={"Connection": "close"})
        assert r.status_code == 200
    assert up.connections == 2


def test_wait_for_requests(up: FakeUpstream) -> None:
    assert up.wait_for_requests(0) == []
    with pytest.raises(TimeoutError):
        up.wait_for_requests(1, timeout=0.05)


def test_stop_closes_port_and_is_idempotent() -> None:
    up = FakeUpstream("anthropic").start()
    port = up.port
    assert up.base_url == f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=up.base_url, timeout=5, verify=False) as c:
        assert c.get("/v1/models").status_code == 200
        # stop while a request hangs and a keep-alive connection is open: still quick
        up.script(hang(30))
        with pytest.raises(httpx.ReadTimeout):
            c.post("/v1/messages", json={"model": "m"}, timeout=httpx.Timeout(5, read=0.1))
        t0 = time.monotonic()
        up.stop()
        assert time.monotonic() - t0 < 2
        assert port_is_closed(port)
        with pytest.raises(httpx.ConnectError):
            c.get("/v1/models")
    up.stop()  # second stop is a no-op


def test_context_manager_and_bad_dialect() -> None:
    with FakeUpstream("openai") as up:
        port = up.port
        assert up.generation_path == "/v1/chat/completions"
        assert not port_is_closed(port)
    assert port_is_closed(port)
    with pytest.raises(ValueError):
        FakeUpstream("gemini")  # type: ignore[arg-type]
