"""POST /v1/chat/completions through the official `openai` SDK: text, stream, tool calls (both
ways), usage, finish reasons and OpenAI-shaped errors, to an OpenAI-dialect and an
Anthropic-dialect fake upstream, through the ASGI fast path and through Litestar."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from ccm.server.chat_completions import ChunkWriter, SSEEvents, to_anthropic, to_completion
from tests.fakes.upstream import (
    FakeUpstream,
    cut_stream,
    reply_text,
    reply_thinking,
    reply_tool_call,
    status,
)
from tests.harness import RunningCCM, running_ccm
from tests.proxy_setup import model_toml, provider_toml, write_config

USAGE = {"input_tokens": 20, "cache_read_input_tokens": 5, "output_tokens": 7}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(params=["openai", "anthropic"])
def up(request) -> Iterator[FakeUpstream]:
    with FakeUpstream(request.param) as fake:
        yield fake


@pytest.fixture(params=["fast-path", "litestar"])
def ccm(request, tmp_path: Path, up: FakeUpstream) -> Iterator[RunningCCM]:
    cfg = write_config(
        tmp_path / "config.toml",
        provider_toml("up", up) + model_toml("coder", ("up", "up-model-1")),
        router='default = "coder"',
    )
    with running_ccm(cfg, fast_path=request.param == "fast-path") as running:
        yield running


def client(ccm: RunningCCM, key: str = "sk-client") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{ccm.base_url}/v1", api_key=key, max_retries=0, timeout=20)


def generation(up: FakeUpstream) -> list:
    return [r for r in up.requests if r.url_path == up.generation_path]


def test_text(ccm: RunningCCM, up: FakeUpstream) -> None:
    up.script(reply_text("hello there", usage=USAGE))
    raw = client(ccm).chat.completions.with_raw_response.create(
        model="claude-sonnet-4-5",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": "and kind"},
            {"role": "user", "content": "hi"},
        ],
        max_tokens=50,
        temperature=0.2,
        stop=["END"],
    )
    done = raw.parse()
    assert done.object == "chat.completion" and done.id.startswith("chatcmpl-")
    assert done.model == "claude-sonnet-4-5"  # the name the client asked for
    choice = done.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == "hello there"
    assert choice.finish_reason == "stop" and choice.message.tool_calls is None
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (25, 7)
    assert done.usage.total_tokens == 32
    assert raw.headers["x-ccm-route"] == "rule=default; model=coder; provider=up"
    (req,) = generation(up)
    assert req.json["model"] == "up-model-1"
    field = "max_tokens" if up.dialect == "anthropic" else "max_completion_tokens"
    assert req.json[field] == 50
    sent = json.dumps(req.json)
    assert "be brief" in sent and "and kind" in sent and "END" in sent


def test_stream_with_usage(ccm: RunningCCM, up: FakeUpstream) -> None:
    up.script(reply_text("one two three four", usage=USAGE))
    stream = client(ccm).chat.completions.create(
        model="coder",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 7 and chunks[-1].usage.prompt_tokens == 25
    assert len({c.id for c in chunks}) == 1
    assert generation(up)[0].json["stream"] is True


def test_stream_without_usage_has_no_usage_chunk(ccm: RunningCCM, up: FakeUpstream) -> None:
    up.script(reply_text("hi"))
    with httpx.stream(
        "POST",
        f"{ccm.base_url}/v1/chat/completions",
        json={"model": "coder", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        timeout=20,
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all('"usage"' not in line for line in lines)


def _tool_turns() -> list[dict]:
    return [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc123",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc123", "content": "sunny, 21C"},
    ]


def test_tool_call_and_tool_result(ccm: RunningCCM, up: FakeUpstream) -> None:
    up.script(reply_tool_call("get_weather", {"city": "Paris"}, tool_id="toolu_01"))
    c = client(ccm)
    first = c.chat.completions.create(
        model="coder",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id
    req = generation(up)[0].json
    if up.dialect == "anthropic":
        assert req["tools"][0]["name"] == "get_weather"
        assert req["tools"][0]["input_schema"]["required"] == ["city"]
        assert req["tool_choice"] == {"type": "any"}
    else:
        assert req["tools"][0]["function"]["name"] == "get_weather"
        assert req["tool_choice"] == "required"

    up.script(reply_text("It is sunny in Paris."))
    second = c.chat.completions.create(model="coder", messages=_tool_turns(), tools=[WEATHER])  # type: ignore[arg-type,list-item]
    assert second.choices[0].message.content == "It is sunny in Paris."
    req = generation(up)[1].json
    if up.dialect == "anthropic":
        assistant, result = req["messages"][1], req["messages"][2]
        assert assistant["content"] == [
            {
                "type": "tool_use",
                "id": "call_abc123",
                "name": "get_weather",
                "input": {"city": "Paris"},
            }
        ]
        assert result["role"] == "user"
        assert result["content"][0]["type"] == "tool_result"
        assert result["content"][0]["tool_use_id"] == "call_abc123"
        assert "sunny, 21C" in json.dumps(result["content"][0]["content"])
    else:
        roles = [m["role"] for m in req["messages"]]
        assert roles == ["user", "assistant", "tool"]
        assert req["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert json.loads(req["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {
            "city": "Paris"
        }
        assert req["messages"][2]["content"] == "sunny, 21C"


def test_tool_call_stream(ccm: RunningCCM, up: FakeUpstream) -> None:
    up.script(
        reply_tool_call("get_weather", {"city": "Lyon", "unit": "C"}, text_before="Checking.")
    )
    chunks = list(
        client(ccm).chat.completions.create(
            model="coder",
            messages=[{"role": "user", "content": "weather in Lyon?"}],
            tools=[WEATHER],  # type: ignore[list-item]
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Checking."
    calls: dict[int, dict] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            entry = calls.setdefault(tc.index, {"id": None, "name": "", "args": ""})
            entry["id"] = entry["id"] or tc.id
            if tc.function and tc.function.name:
                entry["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                entry["args"] += tc.function.arguments
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_weather" and calls[0]["id"]
    assert json.loads(calls[0]["args"]) == {"city": "Lyon", "unit": "C"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_reasoning_comes_back_as_reasoning_content(ccm: RunningCCM, up: FakeUpstream) -> None:
    up.script(reply_thinking("let me think", "42"))
    done = client(ccm).chat.completions.create(
        model="coder", messages=[{"role": "user", "content": "?"}], reasoning_effort="low"
    )
    assert done.choices[0].message.content == "42"
    assert done.choices[0].message.model_extra["reasoning_content"] == "let me think"


def test_errors_are_openai_shaped(ccm: RunningCCM, up: FakeUpstream) -> None:
    c = client(ccm)
    with pytest.raises(openai.BadRequestError) as bad:
        c.chat.completions.create(model="coder", messages=[])
    assert bad.value.status_code == 400 and "messages" in bad.value.message
    assert bad.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as missing:
        c.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert "no-such-model" in missing.value.message
    up.script(status(400, None))
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="coder", messages=[{"role": "user", "content": "x"}])
    up.default = status(500)
    with pytest.raises(openai.APIStatusError) as failed:
        c.chat.completions.create(model="coder", messages=[{"role": "user", "content": "x"}])
    assert failed.value.status_code >= 500
    assert failed.value.body["type"] == "api_error"  # type: ignore[index]
    r = httpx.post(f"{ccm.base_url}/v1/chat/completions", content=b"{nope", timeout=10)
    assert r.status_code == 400 and set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_failure_mid_stream_is_an_error_chunk(ccm: RunningCCM, up: FakeUpstream) -> None:
    up.script(cut_stream(after_events=3, text="partial answer"))
    stream = client(ccm).chat.completions.create(
        model="coder", messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_client_key_is_enforced(tmp_path: Path) -> None:
    with FakeUpstream("openai") as up:
        up.default = reply_text("ok")
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("up", up) + model_toml("coder", ("up", "m")),
            server='api_key = "sk-ccm-client"',
        )
        with running_ccm(cfg) as ccm:
            with pytest.raises(openai.AuthenticationError) as denied:
                client(ccm, "wrong").chat.completions.create(
                    model="coder", messages=[{"role": "user", "content": "x"}]
                )
            assert denied.value.body["type"] == "authentication_error"  # type: ignore[index]
            ok = client(ccm, "sk-ccm-client").chat.completions.create(
                model="coder", messages=[{"role": "user", "content": "x"}]
            )
            assert ok.choices[0].message.content == "ok"
            assert all("sk-ccm-client" not in json.dumps(r.headers) for r in up.requests)


def test_rules_route_chat_requests(tmp_path: Path) -> None:
    """The same rules decide: an image goes to the image route's model."""
    with FakeUpstream("openai") as up:
        up.default = reply_text("seen")
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("up", up)
            + model_toml("coder", ("up", "text-model"))
            + model_toml("eyes", ("up", "vision-model")),
            router='default = "coder"\nimage = "eyes"',
        )
        pixel = (
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
            "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
        )
        with running_ccm(cfg) as ccm:
            done = client(ccm).chat.completions.create(
                model="claude-x",
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {"type": "image_url", "image_url": {"url": pixel}},
                        ],
                    }
                ],
            )
            assert done.choices[0].message.content == "seen"
        (req,) = generation(up)
        assert req.json["model"] == "vision-model"
        assert "image_url" in json.dumps(req.json["messages"])


# ---- the translation itself, without a server ---------------------------------------------


@pytest.mark.parametrize(
    ("req", "fragment"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "system", "content": "x"}]}, "at least one user"),
        ({"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]}, "n:"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "audio"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
        ),
        (
            {
                "model": "m",
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{x"}}],
                    }
                ],
            },
            "arguments: not valid JSON",
        ),
        (
            {"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]},
            "max_tokens",
        ),
        ({"model": "m", "stop": 3, "messages": [{"role": "user", "content": "x"}]}, "stop"),
        (
            {
                "model": "m",
                "tools": [{"type": "x"}],
                "messages": [{"role": "user", "content": "x"}],
            },
            "tools[0]",
        ),
    ],
)
def test_bad_requests_name_the_field(req: dict, fragment: str) -> None:
    from ccm.server.chat_completions import BadRequest

    with pytest.raises(BadRequest, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        to_anthropic(req)


def test_request_translation_details() -> None:
    out = to_anthropic(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "b"}]},
                {"role": "assistant", "content": "c"},
                {"role": "tool", "tool_call_id": "t1", "content": "r1"},
                {"role": "tool", "tool_call_id": "t2", "content": [{"type": "text", "text": "r2"}]},
            ],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "parallel_tool_calls": False,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "user": "u-1",
            "max_completion_tokens": 100,
        }
    )
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    assert [b["text"] for b in out["messages"][0]["content"]] == ["a", "b"]
    assert [b["tool_use_id"] for b in out["messages"][2]["content"]] == ["t1", "t2"]
    assert out["tool_choice"] == {"type": "tool", "name": "f", "disable_parallel_tool_use": True}
    assert out["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]
    assert out["metadata"] == {"user_id": "u-1"} and out["max_tokens"] == 100
    assert out["stream"] is False
    url = to_anthropic(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                }
            ],
        }
    )
    assert url["messages"][0]["content"][0]["source"] == {"type": "url", "url": "https://x/y.png"}
    assert url["max_tokens"] == 8192


def test_completion_finish_reasons() -> None:
    for stop, finish in [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ]:
        msg = {"id": "msg_1", "content": [{"type": "text", "text": "x"}], "stop_reason": stop}
        assert to_completion(msg, "m", 1)["choices"][0]["finish_reason"] == finish


def test_stream_translation_across_any_byte_split() -> None:
    events = [
        (
            "message_start",
            {"type": "message_start", "message": {"id": "msg_9", "usage": {"input_tokens": 3}}},
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "héllo"},
            },
        ),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 2},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    raw = b"".join(f"event: {n}\r\ndata: {json.dumps(d)}\r\n\r\n".encode() for n, d in events)
    for size in (1, 3, 7, len(raw)):
        sse, writer, out = SSEEvents(), ChunkWriter("m", 1, True), b""
        for i in range(0, len(raw), size):
            for name, data in sse.feed(raw[i : i + size]):
                out += b"".join(writer.event(name, data))
        lines = [line[6:] for line in out.decode().split("\n\n") if line]
        assert lines[-1] == "[DONE]"
        chunks = [json.loads(line) for line in lines[:-1]]
        assert (
            "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
            == "héllo"
        )
        assert (
            chunks[-1]["usage"]["prompt_tokens"] == 3
            and chunks[-1]["usage"]["completion_tokens"] == 2
        )
        assert {c["id"] for c in chunks} == {"chatcmpl-msg_9"}
