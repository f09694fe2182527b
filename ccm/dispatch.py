"""Try the chain the rules chose: one provider after another until one answers.

Failover happens only before the first byte reaches the client: on connect errors, timeouts,
401/402/403/408/429/5xx/529, garbage answers and streams that die before their first event.
400/404/413/422 mean the request itself is wrong and go back to the client as they came.
After a stream has started, a failure becomes an SSE `error` event, never a silent cut.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from ccm.config.secrets import MissingSecret
from ccm.health import Health
from ccm.providers.client import ProviderClient
from ccm.rules.chain import ChainEntry
from ccm.translate import anthropic as anth
from ccm.translate.sse import SSEDecoder, SSEEvent
from ccm.wire.anthropic import error_body, error_event

log = logging.getLogger("ccm.dispatch")

NOT_RETRYABLE = frozenset({400, 404, 413, 422})
MAX_ERROR_BODY = 64 * 1024


def retryable(status: int) -> bool:
    return status not in NOT_RETRYABLE and (status >= 500 or status in (401, 402, 403, 408, 429))


@dataclass(slots=True)
class Attempt:
    provider: str
    actual_model: str
    status: int | None  # upstream HTTP status; None when there was none (connect, timeout)
    reason: str
    ms: float

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "actual_model": self.actual_model,
            "status": self.status,
            "reason": self.reason,
            "ms": round(self.ms, 1),
        }


class Failure(Exception):
    def __init__(
        self,
        reason: str,
        status: int | None = None,
        *,
        can_retry: bool = True,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.can_retry = can_retry
        self.body = body
        self.headers = dict(headers or {})
        self.timeout = timeout


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    provider: str | None = None
    actual_model: str | None = None
    attempts: list[Attempt] = field(default_factory=list)


class Translator(Protocol):
    started: bool

    def feed(self, ev: SSEEvent) -> list[bytes]: ...
    def finish(self) -> list[bytes]: ...


@dataclass(frozen=True, slots=True)
class Job:
    """One client request, the same for every provider tried."""

    body: dict[str, Any]
    client_headers: Mapping[str, str]
    stream: bool
    requested_model: str
    input_tokens: Callable[[], int]


def _same_status(status: int, _raw: bytes) -> int:
    return status


@dataclass(frozen=True, slots=True)
class Call:
    """How one attempt talks to one provider, per dialect."""

    url: str
    headers: dict[str, str]
    content: bytes
    parse: Callable[[bytes], bytes]  # non-stream answer -> Anthropic message JSON
    translator: Callable[[], Translator]  # stream answer, event by event
    error_message: Callable[[bytes], str]
    upstream_is_anthropic: bool
    # the status an error answer really means (some dialects misreport), for failover
    error_status: Callable[[int, bytes], int] = _same_status


def _capped(job: Job, entry: ChainEntry) -> Job:
    """The job with max_tokens lowered to the mapping's cap, if it has one and it is lower."""
    cap = entry.max_tokens
    asked = job.body.get("max_tokens")
    if cap is None or not isinstance(asked, int) or asked <= cap:
        return job
    return dataclasses.replace(job, body={**job.body, "max_tokens": cap})


async def _call_for(client: ProviderClient, entry: ChainEntry, job: Job) -> Call:
    job = _capped(job, entry)
    # MissingSecret propagates: this provider cannot be used
    auth = await client.request_auth(job.client_headers)
    if client.dialect == "anthropic":
        headers = {**anth.request_headers(job.client_headers), **client.extra_headers(), **auth}
        return Call(
            client.url("messages"),
            headers,
            anth.request_bytes(
                job.body,
                entry.actual_model,
                signed_thinking_only=client.config.provider_type == "anthropic",
            ),
            lambda raw: anth.response_bytes(raw, job.requested_model),
            lambda: anth.StreamRelay(job.requested_model),
            anth.error_message,
            True,
        )
    model, requested, stream = entry.actual_model, job.requested_model, job.stream
    if client.dialect == "openai":
        from ccm.translate import openai_chat as oai

        return _translated(
            client,
            auth,
            client.url("chat"),
            oai.request_to_openai(
                job.body, model, stream=stream, provider_type=client.translate_as
            ),
            lambda raw: oai.response_from_openai(raw, requested),
            lambda: _OpenAIEvents(oai.StreamTranslator(requested, job.input_tokens())),
        )
    if client.dialect == "gemini":
        from ccm.translate import gemini

        payload = gemini.request_to_gemini(job.body, model, stream=stream)
        # Google sign-in goes through the Code Assist API, which wraps both ways
        wrapped = client.code_assist
        unwrap = _code_assist_answer if wrapped else _as_is

        def gemini_stream() -> Translator:
            inner = gemini.StreamTranslator(requested, job.input_tokens())
            return _OpenAIEvents(_Unwrapping(inner) if wrapped else inner)

        return _translated(
            client,
            auth,
            client.gemini_url(model, stream),
            _code_assist_request(client, model, payload) if wrapped else payload,
            lambda raw: gemini.response_from_gemini(unwrap(raw), requested),
            gemini_stream,
            error_status=_google_error_status,
        )
    if client.dialect == "openai-responses":
        from ccm.translate import openai_responses as resp

        return _translated(
            client,
            auth,
            client.url("responses"),
            resp.request_to_responses(
                job.body, model, stream=stream, provider_type=client.translate_as
            ),
            lambda raw: resp.response_from_responses(raw, requested),
            lambda: _OpenAIEvents(resp.StreamTranslator(requested, job.input_tokens()), named=True),
        )
    raise Failure(f"dialect {client.dialect!r} is not supported", can_retry=True)


def _translated(
    client: ProviderClient,
    auth: dict[str, str],
    url: str,
    payload: dict[str, Any],
    parse: Callable[[bytes], dict[str, Any]],
    translator: Callable[[], Translator],
    *,
    error_status: Callable[[int, bytes], int] | None = None,
) -> Call:
    """A Call to a translated (non-Anthropic) dialect: JSON body out, Anthropic JSON back."""
    headers = {"content-type": "application/json", **client.extra_headers(), **auth}
    return Call(
        url,
        headers,
        anth._encode(payload),
        lambda raw: anth._encode(parse(raw)),
        translator,
        anth.error_message,
        False,
        error_status or _same_status,
    )


def _as_is(raw: bytes) -> bytes:
    return raw


def _google_error_status(status: int, raw: bytes) -> int:
    """Google answers a bad API key with 400: it is the key, so it should fail over like 401."""
    return 401 if status == 400 and b"API_KEY_INVALID" in raw else status


def _code_assist_request(
    client: ProviderClient, model: str, payload: dict[str, Any]
) -> dict[str, Any]:
    wrapped: dict[str, Any] = {
        "model": model,
        "request": payload,
        "user_prompt_id": uuid.uuid4().hex,
    }
    project = client.code_assist_project()
    if project:
        wrapped["project"] = project
    return wrapped


def _code_assist_answer(raw: bytes) -> bytes:
    """Code Assist wraps each generateContent answer as {"response": {...}}."""
    try:
        data = anth._decode(raw)
    except ValueError:
        return raw  # let the Gemini translator report the garbage
    if isinstance(data, dict) and isinstance(data.get("response"), dict):
        return anth._encode(data["response"])
    return raw


class _Unwrapping:
    """A Gemini stream translator fed Code Assist chunks."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def started(self) -> bool:
        return bool(self.inner.started)

    def feed(self, data: str) -> list[bytes]:
        return self.inner.feed(_code_assist_answer(data.encode()).decode())

    def finish(self) -> list[bytes]:
        return self.inner.finish()


class _OpenAIEvents:
    """Adapts a translator that takes data payloads (and, if `named`, the event name)."""

    def __init__(self, inner: Any, named: bool = False) -> None:
        self.inner = inner
        self.named = named

    @property
    def started(self) -> bool:
        return bool(self.inner.started)

    def feed(self, ev: SSEEvent) -> list[bytes]:
        if not ev.data:
            return []
        if self.named:
            return self.inner.feed(ev.data, ev.event)
        return self.inner.feed(ev.data)

    def finish(self) -> list[bytes]:
        return self.inner.finish()


def _translation_errors() -> tuple[type[Exception], ...]:
    """Every dialect's TranslationError (each is a ValueError: a garbage answer)."""
    return (ValueError,)


async def _next_chunk(it: AsyncIterator[bytes], idle: float) -> bytes | None:
    """The next chunk, None at the end; TimeoutError after `idle` seconds of silence."""
    try:
        async with asyncio.timeout(idle):
            return await it.__anext__()
    except StopAsyncIteration:
        return None


async def _attempt(client: ProviderClient, entry: ChainEntry, job: Job) -> Reply:
    try:
        call = await _call_for(client, entry, job)
    except MissingSecret as e:
        raise Failure(str(e)) from None
    except Failure:
        raise
    except Exception as e:  # a body the translator cannot handle: say so, don't 500
        log.exception("cannot translate the request for provider %s", entry.provider)
        raise Failure(
            f"this request cannot be translated for the {client.dialect} dialect ({type(e).__name__}: {e})",
            400,
            can_retry=False,
        ) from None
    lim = client.limits
    # straight to the transport: no cookie jar, redirects or auth hooks on this hot path
    request = httpx.Request(
        "POST",
        client.parsed_url(call.url),
        content=call.content,
        headers=call.headers,
        extensions=client.timeout_ext,
    )
    wait = lim.first_byte if job.stream else lim.total
    try:
        async with asyncio.timeout(wait):
            resp = await client.transport.handle_async_request(request)
    except TimeoutError:
        raise Failure(f"no response within {wait:g}s", timeout=True) from None
    except httpx.ConnectTimeout:
        raise Failure(f"connect timeout after {lim.connect:g}s", timeout=True) from None
    except httpx.TimeoutException as e:
        raise Failure(f"timeout: {type(e).__name__}", timeout=True) from None
    except httpx.HTTPError as e:
        raise Failure(f"connection failed: {type(e).__name__}: {e}") from None

    ok = False
    try:
        status = resp.status_code
        if status >= 400:
            raw = await _read_bounded(resp, lim.idle)
            message = call.error_message(raw)
            status = call.error_status(status, raw)
            body_out = raw if call.upstream_is_anthropic and anth.is_anthropic_error(raw) else None
            raise Failure(
                f"{status}: {message}",
                status,
                can_retry=retryable(status),
                body=body_out,
                headers=anth.returned_headers(resp.headers),
            )
        passed = anth.returned_headers(resp.headers) if call.upstream_is_anthropic else {}
        if not job.stream:
            try:
                async with asyncio.timeout(lim.total):
                    raw = await resp.aread()
            except TimeoutError:
                raise Failure(f"answer not complete within {lim.total:g}s", timeout=True) from None
            except httpx.HTTPError as e:
                raise Failure(f"answer cut: {type(e).__name__}") from None
            try:
                out = call.parse(raw)
            except _translation_errors() as e:
                raise Failure(f"bad answer: {e}") from None
            passed["content-type"] = "application/json"
            ok = True
            return Reply(
                200, passed, body=out, provider=entry.provider, actual_model=entry.actual_model
            )

        # stream: read until the first event the client would see; failover is still possible
        chunks = resp.aiter_bytes()
        decoder = SSEDecoder()
        translator = call.translator()
        pending: list[bytes] = []
        while not pending:
            try:
                chunk = await _next_chunk(chunks, lim.first_byte)
            except TimeoutError:
                raise Failure(
                    f"stream silent for {lim.first_byte:g}s before its first event", timeout=True
                ) from None
            except httpx.HTTPError as e:
                raise Failure(f"stream cut before its first event: {type(e).__name__}") from None
            if chunk is None:
                events = decoder.flush()
                if not events:
                    raise Failure("stream ended before its first event")
            else:
                events = decoder.feed(chunk)
            try:
                for ev in events:
                    pending.extend(translator.feed(ev))
                if chunk is None:
                    pending.extend(translator.finish())
                    if not pending:
                        raise Failure("stream ended before its first event")
            except _translation_errors() as e:
                raise Failure(f"bad stream: {e}") from None
        passed["content-type"] = "text/event-stream"
        passed["cache-control"] = "no-cache"
        ok = True
        return Reply(
            200,
            passed,
            stream=_relay(resp, chunks, decoder, translator, pending, lim.idle, entry.provider),
            provider=entry.provider,
            actual_model=entry.actual_model,
        )
    finally:
        if not ok:
            await resp.aclose()


async def _read_bounded(resp: httpx.Response, idle: float) -> bytes:
    buf = bytearray()
    try:
        async with asyncio.timeout(min(idle, 30)):
            async for chunk in resp.aiter_bytes():
                buf += chunk
                if len(buf) > MAX_ERROR_BODY:
                    break
    except (TimeoutError, httpx.HTTPError):
        pass
    return bytes(buf[:MAX_ERROR_BODY])


async def _relay(
    resp: httpx.Response,
    chunks: AsyncIterator[bytes],
    decoder: SSEDecoder,
    translator: Translator,
    pending: list[bytes],
    idle: float,
    provider: str,
) -> AsyncIterator[bytes]:
    """The rest of a committed stream. Ends with the upstream's end or an SSE error event."""
    errors = _translation_errors()
    try:
        yield b"".join(pending)
        while True:
            try:
                chunk = await _next_chunk(chunks, idle)
            except TimeoutError:
                log.warning(
                    "provider %s: stream silent for %gs; ending it with an error event",
                    provider,
                    idle,
                )
                yield error_event(504, f"upstream {provider} went silent for {idle:g}s mid-stream")
                return
            except httpx.HTTPError as e:
                log.warning("provider %s: stream cut: %s", provider, type(e).__name__)
                yield error_event(502, f"upstream {provider} cut the stream ({type(e).__name__})")
                return
            try:
                if chunk is None:
                    out = []
                    for ev in decoder.flush():
                        out.extend(translator.feed(ev))
                    out.extend(translator.finish())
                    if out:
                        yield b"".join(out)
                    return
                out = []
                for ev in decoder.feed(chunk):
                    out.extend(translator.feed(ev))
                if out:
                    yield b"".join(out)
            except errors as e:
                log.warning("provider %s: stream broke: %s", provider, e)
                yield error_event(502, f"upstream {provider}: {e}")
                return
    finally:
        await resp.aclose()


def _failure_reply(attempts: list[Attempt], last: Failure | None, model: str) -> Reply:
    statuses = [a.status for a in attempts if not a.reason.startswith("skipped")]
    if attempts and all(s is not None for s in statuses) and len(set(statuses)) == 1:
        status = statuses[0]  # every provider said the same (429 stays 429)
    elif last is not None and last.timeout and all(s is None for s in statuses):
        status = 504
    elif statuses and all(s is not None and s in (429, 529, 503) for s in statuses):
        status = 529
    else:
        status = 502
    assert status is not None
    tried = (
        "; ".join(f"{a.provider} ({a.actual_model}): {a.reason}" for a in attempts) or "no provider"
    )
    message = f"all providers failed for model {model!r}: {tried}"
    headers = {"content-type": "application/json"}
    if last is not None and "retry-after" in last.headers and status == 429:
        headers["retry-after"] = last.headers["retry-after"]
    return Reply(status, headers, body=error_body(status, message), attempts=attempts)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    passes: int = 1  # extra passes over the chain after every provider failed retryably
    backoff: float = 0.5  # seconds before the first extra pass; doubles, with jitter
    max_wait: float = 10.0  # cap on one wait, even when retry-after asks for more

    @classmethod
    def from_server(cls, server: Any) -> RetryPolicy:
        return cls(server.retries, server.retry_backoff_ms / 1000, server.max_retry_wait_ms / 1000)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from APIs; fall back to our backoff


def _wait_before_pass(n: int, policy: RetryPolicy, failures: list[Failure]) -> float:
    asked = [w for f in failures if (w := _retry_after(f.headers)) is not None]
    base = min(asked) if asked else policy.backoff * (2 ** (n - 1))
    return min(policy.max_wait, base * random.uniform(1.0, 1.25))


async def dispatch(
    clients: Mapping[str, ProviderClient],
    chain: tuple[ChainEntry, ...],
    body: dict[str, Any],
    client_headers: Mapping[str, str],
    *,
    stream: bool,
    requested_model: str,
    input_tokens: Callable[[], int],
    health: Health | None = None,
    policy: RetryPolicy = RetryPolicy(passes=0),
) -> Reply:
    """Try the chain in order, skipping open circuits; if every provider failed retryably, wait
    (backoff with jitter, or the upstream's retry-after) and pass again, within the deadline.
    The Reply is an answer, a stream, or an error to send."""
    job = Job(body, client_headers, stream, requested_model, input_tokens)
    health = health or Health()
    usable = [e for e in chain if e.provider in clients]
    deadline = time.monotonic() + (clients[usable[0].provider].limits.total if usable else 0)
    attempts: list[Attempt] = []
    last: Failure | None = None
    for n in range(policy.passes + 1):
        # open circuits are skipped; if every provider's is open, try them all the same
        allowed = [e for e in usable if health.allow(e.provider)] or usable
        for e in usable:
            if e not in allowed:
                attempts.append(
                    Attempt(e.provider, e.actual_model, None, "skipped: circuit open", 0.0)
                )
        failures: list[Failure] = []
        for entry in allowed:
            client = clients[entry.provider]
            t0 = time.perf_counter()
            try:
                reply = await _attempt(client, entry, job)
            except Failure as f:
                ms = (time.perf_counter() - t0) * 1000
                attempts.append(Attempt(entry.provider, entry.actual_model, f.status, f.reason, ms))
                last = f
                if not f.can_retry:
                    health.success(entry.provider)  # it answered: the request is the problem
                    log.info(
                        "provider %s (%s): %s; not retryable, returned to the client",
                        entry.provider,
                        entry.actual_model,
                        f.reason,
                    )
                    return _as_sent(f, entry, attempts)
                health.failure(entry.provider, f.reason)
                failures.append(f)
                nxt = "; trying the next provider" if entry is not allowed[-1] else ""
                log.warning(
                    "provider %s (%s) failed: %s%s",
                    entry.provider,
                    entry.actual_model,
                    f.reason,
                    nxt,
                )
                continue
            health.success(entry.provider)
            ms = (time.perf_counter() - t0) * 1000
            reply.attempts = [
                *attempts,
                Attempt(entry.provider, entry.actual_model, reply.status, "ok", ms),
            ]
            return reply
        if n == policy.passes or not failures:
            break
        wait = _wait_before_pass(n + 1, policy, failures)
        if time.monotonic() + wait >= deadline:
            break
        log.info("every provider for %r failed; trying again in %.1fs", requested_model, wait)
        await asyncio.sleep(wait)
    return _failure_reply(attempts, last, requested_model)


def _as_sent(f: Failure, entry: ChainEntry, attempts: list[Attempt]) -> Reply:
    """A non-retryable upstream error, for the client as the upstream sent it."""
    status = f.status or 502
    out = f.body if f.body is not None else error_body(status, f"{entry.provider}: {f.reason}")
    headers = {"content-type": "application/json", **f.headers}
    return Reply(
        status,
        headers,
        body=out,
        provider=entry.provider,
        actual_model=entry.actual_model,
        attempts=attempts,
    )
