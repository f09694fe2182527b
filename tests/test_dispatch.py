"""dispatch's decisions, one rule per test, with httpx.MockTransport (no sockets): failover,
error classification, the request deadline, when a stream is committed and when it ends; and
a dialect registered from inside the test suite, routed to without editing ccm/."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from ccm.config.load import parse_config
from ccm.config.schema import ProviderConfig, ServerConfig, Timeouts
from ccm.dialects import registry
from ccm.dialects.base import Call, Credential, Decoded, Job, Target, Usage, Verdict, classify
from ccm.dialects.sse import encode_event
from ccm.dispatch import Reply, dispatch
from ccm.providers.client import ProviderClient
from ccm.rules.chain import ChainEntry

BODY = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
Handler = Callable[[httpx.Request], Any]


def anthropic_message(text: str = "ok") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "up",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }


def anthropic_events(text: str = "ok") -> list[bytes]:
    start = dict(anthropic_message(""), content=[], stop_reason=None)
    return [
        encode_event(
            "message_start", json.dumps({"type": "message_start", "message": start}).encode()
        ),
        encode_event(
            "content_block_start",
            b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
        ),
        encode_event(
            "content_block_delta",
            json.dumps(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": text},
                }
            ).encode(),
        ),
        encode_event("content_block_stop", b'{"type":"content_block_stop","index":0}'),
        encode_event(
            "message_delta",
            b'{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}',
        ),
        encode_event("message_stop", b'{"type":"message_stop"}'),
    ]


async def chunks(items: list[bytes | float]) -> AsyncIterator[bytes]:
    for item in items:
        if isinstance(item, float):
            await asyncio.sleep(item)
        else:
            yield item


def client(
    name: str, handler: Handler, ptype: str = "anthropic", **timeouts: int
) -> ProviderClient:
    config = ProviderConfig(
        name=name,
        provider_type=ptype,
        api_key="sk-" + name,
        base_url="http://up.test",
        timeouts=Timeouts(**timeouts) if timeouts else None,
    )
    return ProviderClient(config, ServerConfig(), transport=httpx.MockTransport(handler))


async def run(*clients: ProviderClient, stream: bool = False, body: dict | None = None) -> Reply:
    chain = tuple(ChainEntry(c.name, f"{c.name}-model", i, "m") for i, c in enumerate(clients))
    return await dispatch(
        {c.name: c for c in clients},
        chain,
        {**(body or BODY), "stream": stream},
        {},
        stream=stream,
        requested_model="claude-x",
        input_tokens=lambda: 1,
    )


async def text_of(reply: Reply) -> bytes:
    assert reply.stream is not None
    return b"".join([piece async for piece in reply.stream])


def ok(request: httpx.Request) -> httpx.Response:
    if json.loads(request.content).get("stream"):
        return httpx.Response(200, content=chunks(list(anthropic_events("backup"))))
    return httpx.Response(200, json=anthropic_message("backup"))


# --------------------------------------------------------------------------- failover rules


@pytest.mark.parametrize("code", [401, 402, 403, 408, 429, 500, 502, 503, 529])
async def test_retryable_status_fails_over(code: int) -> None:
    reply = await run(
        client("a", lambda r: httpx.Response(code, json={"error": "x"})), client("b", ok)
    )
    assert (reply.status, reply.provider) == (200, "b")
    assert [a.status for a in reply.attempts] == [code, 200]


@pytest.mark.parametrize("code", [400, 404, 413, 422])
async def test_request_errors_go_back_as_they_came(code: int) -> None:
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    seen: list[str] = []

    def b(request: httpx.Request) -> httpx.Response:
        seen.append("b")
        return ok(request)

    reply = await run(client("a", lambda r: httpx.Response(code, json=body)), client("b", b))
    assert reply.status == code and json.loads(reply.body or b"") == body  # verbatim
    assert seen == []


async def test_connect_error_fails_over() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    reply = await run(client("a", refuse), client("b", ok))
    assert reply.provider == "b" and "connection failed" in reply.attempts[0].reason


async def test_garbage_answer_fails_over() -> None:
    reply = await run(
        client("a", lambda r: httpx.Response(200, content=b"<html>")), client("b", ok)
    )
    assert reply.provider == "b" and reply.attempts[0].reason.startswith("bad answer")


async def test_stream_dead_before_its_first_event_fails_over() -> None:
    reply = await run(
        client("a", lambda r: httpx.Response(200, content=b"")), client("b", ok), stream=True
    )
    assert reply.provider == "b" and b"backup" in await text_of(reply)


async def test_google_bad_key_400_is_the_key_and_fails_over() -> None:
    bad_key = {
        "error": {
            "code": 400,
            "message": "API key not valid",
            "details": [{"reason": "API_KEY_INVALID"}],
        }
    }
    reply = await run(
        client("a", lambda r: httpx.Response(400, json=bad_key), "gemini"), client("b", ok)
    )
    assert reply.provider == "b" and reply.attempts[0].status == 401


async def test_same_429_everywhere_stays_429_with_retry_after() -> None:
    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": "slow down"}, headers={"retry-after": "7"})

    reply = await run(client("a", busy), client("b", busy))
    assert reply.status == 429 and reply.headers["retry-after"] == "7"


async def test_missing_key_fails_over_without_a_request() -> None:
    sent: list[httpx.Request] = []
    config = ProviderConfig(name="a", provider_type="openai", api_key="$CCM_TEST_UNSET_KEY")
    a = ProviderClient(
        config, ServerConfig(), transport=httpx.MockTransport(lambda r: sent.append(r))
    )
    reply = await run(a, client("b", ok))
    assert reply.provider == "b" and sent == []


# --------------------------------------------------------------------------- deadline


async def test_a_chain_of_hanging_providers_gets_one_deadline() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    hanging = [client(n, hang, api_timeout_ms=300) for n in "abcd"]
    t0 = time.monotonic()
    reply = await run(*hanging)
    elapsed = time.monotonic() - t0
    assert reply.status == 504
    assert elapsed < 0.9, f"4 providers of 0.3 s each took {elapsed:.2f}s: not one deadline"
    assert "deadline" in reply.attempts[-1].reason


# --------------------------------------------------------------------------- streams


async def test_anthropic_stream_garbage_first_event_fails_over() -> None:
    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=chunks([b"data: {not json\n\n", *anthropic_events("no")])
        )

    reply = await run(client("a", garbage), client("b", ok), stream=True)
    assert reply.provider == "b"
    out = await text_of(reply)
    assert b"{not json" not in out and b"backup" in out


async def test_anthropic_stream_malformed_event_after_start_is_an_error_event() -> None:
    events = anthropic_events("partial")
    broken = [events[0], events[1], b"event: content_block_delta\ndata: {oops\n\n", *events[2:]]
    reply = await run(
        client("a", lambda r: httpx.Response(200, content=chunks(broken))), stream=True
    )
    out = await text_of(reply)
    assert b"data: {oops" not in out  # not relayed (the error event quotes it)
    assert out.rstrip().endswith(b"}") and b"event: error" in out and b"message_stop" not in out


async def test_data_only_anthropic_stream_takes_event_names_from_the_json() -> None:
    nameless = [e.split(b"\n", 1)[1] for e in anthropic_events("named")]  # drop `event:` lines
    reply = await run(
        client("a", lambda r: httpx.Response(200, content=chunks(nameless))), stream=True
    )
    out = await text_of(reply)
    assert b"event: message\n" not in out and b"event: error" not in out
    assert b"event: message_start\n" in out and out.endswith(
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )


@pytest.mark.parametrize("ptype", ["anthropic", "openai"])
async def test_stream_ends_at_the_last_event_whatever_the_upstream_does(ptype: str) -> None:
    """An upstream that idles after message_stop / [DONE] must not hold the client, nor turn a
    complete answer into an idle-timeout error."""
    if ptype == "anthropic":
        events: list[bytes | float] = [*anthropic_events("done"), 30.0]
    else:
        chunk = {"choices": [{"index": 0, "delta": {"content": "done"}, "finish_reason": "stop"}]}
        events = [b"data: " + json.dumps(chunk).encode() + b"\n\n", b"data: [DONE]\n\n", 30.0]
    idle = client(
        "a", lambda r: httpx.Response(200, content=chunks(events)), ptype, idle_timeout_ms=1000
    )
    t0 = time.monotonic()
    out = await text_of(await run(idle, stream=True))
    assert time.monotonic() - t0 < 0.5
    assert out.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert b"event: error" not in out


async def test_stream_usage_is_known_when_it_ends() -> None:
    reply = await run(client("a", ok), stream=True)
    await text_of(reply)
    assert reply.usage == Usage(input_tokens=3, output_tokens=7)


# --------------------------------------------------------------------------- a dialect from outside


class ToyDialect:
    """A made-up wire format: POST {base}/toy with {"q": last user text}; answers {"a": text}."""

    name = "toy"

    def build(self, job: Job, target: Target, credential: Credential) -> Call:
        text = job.body["messages"][-1]["content"]
        headers = {"content-type": "application/json", "toy-key": credential.secret or ""}
        return Call(
            f"{target.base_url}/toy", headers, json.dumps({"q": text, "m": target.model}).encode()
        )

    def decode(self, raw: bytes, job: Job) -> Decoded:
        message = anthropic_message(json.loads(raw)["a"])
        message["model"] = job.requested_model
        return Decoded(json.dumps(message).encode(), Usage(1, 1))

    def translator(self, job: Job) -> Any:
        raise NotImplementedError

    def classify(self, status: int, raw: bytes) -> Verdict:
        return classify(status, raw)


async def test_a_registered_toy_dialect_is_routed_to(tmp_path: Any) -> None:
    undo = registry.register(
        "toy", registry.Preset(ToyDialect(), "http://toy.test", "x-api-key", "Toys")
    )
    try:
        text = '[[providers]]\nname = "t"\nprovider_type = "toy"\napi_key = "k1"\n'
        loaded = parse_config(text, tmp_path / "config.toml")  # the type validates
        seen: list[httpx.Request] = []

        def toy(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json={"a": "toy says " + json.loads(request.content)["q"]})

        c = ProviderClient(
            loaded.config.providers[0], ServerConfig(), transport=httpx.MockTransport(toy)
        )
        reply = await run(c)
        assert reply.status == 200
        assert json.loads(reply.body or b"")["content"][0]["text"] == "toy says hi"
        assert str(seen[0].url) == "http://toy.test/toy" and seen[0].headers["toy-key"] == "k1"
    finally:
        undo()
    assert registry.preset("toy") is None


async def test_a_short_first_timeout_leaves_the_backup_its_time() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    async def slow_ok(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.3)
        return ok(request)

    reply = await run(
        client("a", hang, api_timeout_ms=200), client("b", slow_ok, api_timeout_ms=2000)
    )
    assert (reply.status, reply.provider) == (200, "b")
