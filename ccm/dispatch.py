"""Try the chain the rules chose: one provider after another until one answers.

Failover happens only before the first byte reaches the client: on connect errors, timeouts,
401/402/403/408/429/5xx/529, garbage answers and streams that die before their first event.
400/404/413/422 mean the request itself is wrong and go back to the client as they came (each
dialect says what its upstream's error statuses mean). After a stream has started, a failure
becomes an SSE `error` event, never a silent cut; a stream ends for the client when the
dialect's translator says the answer is complete, whatever the upstream's connection does.

The whole request has one deadline: the longest api_timeout in its chain. Every wait (headers,
a non-stream body, a stream's first event, a retry pass) fits inside it, so a chain of N
hanging providers costs one api_timeout, not N.

Keys: a provider's key pool gives each attempt its key. A 429 rests that key and a 401/402/403
removes it (ccm.providers.keys), and the next key of the same provider is tried; the chain
goes on to the next mapping only when no key of the provider can serve. Nothing waits long
inside ccm: when every candidate is resting the answer is an immediate 429 whose retry-after
is the shortest rest (capped by [server] max_client_retry_after_s); when every circuit is open,
an immediate 529 whose retry-after is the nearest half-open probe; a retry pass happens only
when its wait fits in max_retry_wait_ms. Answers a retry cannot fix (the request, the
upstream's refusal of every key, a configuration fault) carry `x-should-retry: false`, which
Claude Code honours.

Nothing here knows a dialect: the provider's client gives the dialect, the target and the
credential for each attempt (ccm.dialects, ccm.providers.client).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ccm.config.secrets import MissingSecret
from ccm.dialects.base import Credential, Job, Translator, Usage, retryable, returned_headers
from ccm.health import Health
from ccm.providers.client import ProviderClient
from ccm.providers.keys import NoKey, fingerprint
from ccm.rules.chain import ChainEntry
from ccm.wire.anthropic import error_body, error_event
from ccm.wire.claude_code import session_id

log = logging.getLogger("ccm.dispatch")

MAX_ERROR_BODY = 64 * 1024
DRAIN_S = 0.05  # after the answer is complete: how long the rest of the upstream's body may take
NO_RETRY = {"x-should-retry": "false"}  # Claude Code: retrying cannot fix this answer
DEFAULT_CLIENT_RETRY_AFTER_S = 30

__all__ = ["Attempt", "Failure", "Job", "Reply", "RetryPolicy", "dispatch", "retryable"]


@dataclass(slots=True)
class Attempt:
    provider: str
    actual_model: str
    status: int | None  # upstream HTTP status; None when there was none (connect, timeout)
    reason: str
    ms: float
    key: str | None = None  # the fingerprint of the key used (never the key)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "provider": self.provider,
            "actual_model": self.actual_model,
            "status": self.status,
            "reason": self.reason,
            "ms": round(self.ms, 1),
        }
        if self.key is not None:
            out["key"] = self.key
        return out


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
        kind: str = "other",
        until: float = 0.0,
        upstream: Mapping[str, str] | None = None,
        message: str = "",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.can_retry = can_retry
        self.body = body
        self.headers = dict(headers or {})
        self.timeout = timeout
        # what the failure says about the provider: "other" (its health), "rest" (every key
        # rate-limited until `until`), "removed" (every key refused), "config" (a configuration
        # fault), "circuit" (skipped: open circuit, half-open at `until`)
        self.kind = kind
        self.until = until
        self.upstream = upstream or {}  # the upstream's answer headers (rate-limit resets)
        self.message = message  # the upstream's own error text


@dataclass
class Reply:
    """An answer, a stream, or an error to send. `usage`: the answer's usage (for a stream,
    filled in as the stream ends)."""

    status: int
    headers: dict[str, str]
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    provider: str | None = None
    actual_model: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    usage: Usage | None = None


def _capped(job: Job, entry: ChainEntry) -> Job:
    """The job with max_tokens lowered to the mapping's cap, if it has one and it is lower."""
    cap = entry.max_tokens
    asked = job.body.get("max_tokens")
    if cap is None or not isinstance(asked, int) or asked <= cap:
        return job
    return dataclasses.replace(job, body={**job.body, "max_tokens": cap})


async def _next_chunk(it: AsyncIterator[bytes], idle: float) -> bytes | None:
    """The next chunk, None at the end; TimeoutError after `idle` seconds of silence."""
    try:
        async with asyncio.timeout(idle):
            return await it.__anext__()
    except StopAsyncIteration:
        return None


def _within(wait: float, deadline: float, what: str) -> float:
    """`wait`, cut to what is left of the request's deadline (Failure when nothing is)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise Failure(f"the request's deadline passed before {what}", timeout=True)
    return min(wait, left)


async def _attempt(
    client: ProviderClient, entry: ChainEntry, job: Job, deadline: float, credential: Credential
) -> Reply:
    dialect = client.dialect
    try:
        call = dialect.build(_capped(job, entry), client.target(entry.actual_model), credential)
    except Exception as e:  # a body the dialect cannot handle: say so, don't 500
        log.exception("cannot translate the request for provider %s", entry.provider)
        raise Failure(
            f"this request cannot be translated for the {dialect.name} dialect ({type(e).__name__}: {e})",
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
    wait = _within(lim.first_byte if job.stream else lim.total, deadline, "an answer")
    fo = client.failover_on
    try:
        async with asyncio.timeout(wait):
            resp = await client.transport.handle_async_request(request)
    except TimeoutError:
        raise Failure(
            f"no response within {wait:.3g}s", timeout=True, can_retry=fo.timeout
        ) from None
    except httpx.ConnectTimeout:
        raise Failure(
            f"connect timeout after {lim.connect:g}s", timeout=True, can_retry=fo.connect
        ) from None
    except httpx.TimeoutException as e:
        raise Failure(f"timeout: {type(e).__name__}", timeout=True, can_retry=fo.timeout) from None
    except httpx.HTTPError as e:
        raise Failure(f"connection failed: {type(e).__name__}: {e}", can_retry=fo.connect) from None

    ok = False
    try:
        status = resp.status_code
        if status >= 400:
            raw = await _read_bounded(resp, lim.idle)
            verdict = dialect.classify(status, raw)
            raise Failure(
                f"{verdict.status}: {verdict.message}",
                verdict.status,
                can_retry=fo.status(verdict.status, verdict.retryable),
                body=verdict.body,
                headers=returned_headers(resp.headers),
                upstream=resp.headers,
                message=verdict.message,
            )
        passed = returned_headers(resp.headers) if call.passthrough else {}
        if not job.stream:
            wait = _within(lim.total, deadline, "the answer was complete")
            try:
                async with asyncio.timeout(wait):
                    raw = await resp.aread()
            except TimeoutError:
                raise Failure(f"answer not complete within {wait:.3g}s", timeout=True) from None
            except httpx.HTTPError as e:
                raise Failure(f"answer cut: {type(e).__name__}") from None
            if not raw.strip():
                raise Failure("empty answer (200 with no body)")
            try:
                decoded = dialect.decode(raw, job)
            except ValueError as e:  # the dialect's TranslationError: a garbage answer
                raise Failure(f"bad answer: {e}") from None
            passed["content-type"] = "application/json"
            ok = True
            return Reply(
                200,
                passed,
                body=decoded.content,
                provider=entry.provider,
                actual_model=entry.actual_model,
                usage=decoded.usage,
            )

        # stream: read until the first event the client would see; failover is still possible
        chunks = resp.aiter_bytes()
        translator = dialect.translator(job)
        pending: list[bytes] = []
        got = False  # any byte at all
        while not pending:
            wait = _within(lim.first_byte, deadline, "the stream's first event")
            try:
                chunk = await _next_chunk(chunks, wait)
            except TimeoutError:
                raise Failure(
                    f"stream silent for {wait:.3g}s before its first event", timeout=True
                ) from None
            except httpx.HTTPError as e:
                raise Failure(f"stream cut before its first event: {type(e).__name__}") from None
            if chunk is None and not got:
                raise Failure("empty stream: 200 with no event")
            got = got or bool(chunk)
            try:
                if chunk is None:
                    pending.extend(translator.finish())
                    if not pending:
                        raise Failure("empty stream: it ended before its first event")
                else:
                    pending.extend(translator.feed(chunk))
            except ValueError as e:
                raise Failure(f"bad stream: {e}") from None
        passed["content-type"] = "text/event-stream"
        passed["cache-control"] = "no-cache"
        ok = True
        reply = Reply(200, passed, provider=entry.provider, actual_model=entry.actual_model)
        reply.stream = _relay(reply, resp, chunks, translator, pending, lim.idle)
        return reply
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


async def _let_go(resp: httpx.Response, chunks: AsyncIterator[bytes]) -> None:
    """Read what is left of a complete answer's body for a moment (so the connection can go
    back to the pool), then close the response whatever the upstream does."""
    try:
        async with asyncio.timeout(DRAIN_S):
            async for _ in chunks:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass
    finally:
        await resp.aclose()


async def _relay(
    reply: Reply,
    resp: httpx.Response,
    chunks: AsyncIterator[bytes],
    translator: Translator,
    pending: list[bytes],
    idle: float,
) -> AsyncIterator[bytes]:
    """The rest of a committed stream. Ends when the translator says the answer is complete,
    with the upstream's end, or with an SSE error event."""
    provider = reply.provider
    try:
        yield b"".join(pending)
        while not translator.done:
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
                out = translator.finish() if chunk is None else translator.feed(chunk)
            except ValueError as e:  # the dialect's TranslationError
                log.warning("provider %s: stream broke: %s", provider, e)
                yield error_event(502, f"upstream {provider}: {e}")
                return
            if out:
                yield b"".join(out)
            if chunk is None:
                return
    finally:
        reply.usage = translator.usage
        await _let_go(resp, chunks)


def _client_wait(seconds: float, cap: int) -> str:
    """A retry-after for the client: whole seconds, at least 1, at most `cap`."""
    return str(max(1, min(cap, int(seconds + 0.999))))


def _failure_reply(
    attempts: list[Attempt], failures: list[Failure], model: str, policy: RetryPolicy
) -> Reply:
    """One answer for a chain that could not serve. Every candidate rate-limited: 429 with the
    shortest rest; every circuit open: 529 with the nearest half-open probe (both at once, so
    Claude Code waits on its own); nothing a retry can fix: `x-should-retry: false`."""
    tried = (
        "; ".join(f"{a.provider} ({a.actual_model}): {a.reason}" for a in attempts) or "no provider"
    )
    message = f"all providers failed for model {model!r}: {tried}"
    headers = {"content-type": "application/json"}
    kinds = {f.kind for f in failures}
    now = time.time()
    cap = policy.client_retry_after
    waiting = [f for f in failures if f.kind in ("rest", "circuit")]
    if waiting and kinds <= {"rest", "circuit", "removed", "config"}:
        # nothing answered but resting keys and open circuits (and what cannot serve at all):
        # the client may try again when the first of them can serve
        wait = min(f.until for f in waiting) - now
        headers["retry-after"] = _client_wait(wait, cap)
        if "rest" in kinds:
            status = 429
            message = f"rate limited: every key for model {model!r} is resting; {tried}"
        else:
            status = 529
            message = f"every provider for model {model!r} has an open circuit; {tried}"
        return Reply(status, headers, body=error_body(status, message), attempts=attempts)
    if failures and kinds <= {"removed", "config", "client"}:
        # refused keys, or a client that sent no credential to forward: 401; else ccm's config
        status = 401 if kinds & {"removed", "client"} else 500
        if status == 500:
            message = f"ccm configuration: {'; '.join(f.reason for f in failures)}"
        headers.update(NO_RETRY)
        return Reply(status, headers, body=error_body(status, message), attempts=attempts)
    statuses = [a.status for a in attempts if not a.reason.startswith("skipped")]
    last = failures[-1] if failures else None
    if attempts and statuses and all(s is not None for s in statuses) and len(set(statuses)) == 1:
        status = statuses[0]  # every provider said the same (429 stays 429)
    elif last is not None and last.timeout and all(s is None for s in statuses):
        status = 504
    elif statuses and all(s is not None and s in (429, 529, 503) for s in statuses):
        status = 529
    else:
        status = 502
    assert status is not None
    if status == 429:
        waits = [f.until - now for f in failures if f.until]
        waits += [w for f in failures if (w := _retry_after(f.headers)) is not None]
        if waits:
            headers["retry-after"] = _client_wait(min(waits), cap)
    if status in (401, 403):
        headers.update(NO_RETRY)
    return Reply(status, headers, body=error_body(status, message), attempts=attempts)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    passes: int = 1  # extra passes over the chain after every provider failed retryably
    backoff: float = 0.5  # seconds before the first extra pass; doubles, with jitter
    max_wait: float = 10.0  # longest wait inside ccm; a longer one is the client's (retry-after)
    client_retry_after: int = DEFAULT_CLIENT_RETRY_AFTER_S  # cap on the retry-after answered

    @classmethod
    def from_server(cls, server: Any) -> RetryPolicy:
        return cls(
            server.retries,
            server.retry_backoff_ms / 1000,
            server.max_retry_wait_ms / 1000,
            server.max_client_retry_after_s,
        )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from APIs; fall back to our backoff


def _wait_before_pass(n: int, policy: RetryPolicy, failures: list[Failure]) -> float | None:
    """How long to wait before pass `n`, or None when another pass cannot help soon enough:
    a configuration fault or refused keys never mend by waiting, and a wait longer than
    max_wait is the client's to do (it gets retry-after)."""
    if not failures or any(f.kind in ("removed", "config") for f in failures):
        return None
    now = time.time()
    rests = [f.until - now for f in failures if f.kind in ("rest", "circuit")]
    asked = [
        w for f in failures if f.kind == "other" and (w := _retry_after(f.headers)) is not None
    ]
    if any(f.kind == "other" for f in failures) and not asked:
        asked.append(policy.backoff * (2 ** (n - 1)))
    # the pass is worth it once the first provider can be tried again
    base = min([*rests, *asked]) if rests or asked else None
    if base is None or base > policy.max_wait:
        return None
    return max(0.0, base) * random.uniform(1.0, 1.25)


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
    """Try the chain in order, skipping open circuits and providers whose keys all rest; if
    every provider failed retryably and the first can be tried again within max_retry_wait,
    wait and pass again, within the deadline. The Reply is an answer, a stream, or an error."""
    job = Job(body, client_headers, stream, requested_model, input_tokens)
    health = health or Health()
    usable = [e for e in chain if e.provider in clients]
    # one deadline for the whole request: the longest api_timeout of the chain (a provider's
    # own short timeout must not leave its backups no time)
    deadline = time.monotonic() + max((clients[e.provider].limits.total for e in usable), default=0)
    session = (
        session_id(body)
        if any(clients[e.provider].keys.strategy == "session" for e in usable)
        else None
    )
    attempts: list[Attempt] = []
    failures: list[Failure] = []
    for n in range(policy.passes + 1):
        failures = []
        for entry in usable:
            if not health.allow(entry.provider):
                attempts.append(
                    Attempt(entry.provider, entry.actual_model, None, "skipped: circuit open", 0.0)
                )
                failures.append(
                    Failure("circuit open", kind="circuit", until=health.probe_at(entry.provider))
                )
                continue
            if time.monotonic() >= deadline:
                why = "skipped: the request's deadline passed"
                attempts.append(Attempt(entry.provider, entry.actual_model, None, why, 0.0))
                continue
            try:
                reply = await _provider(
                    clients[entry.provider], entry, job, deadline, session, attempts
                )
            except Failure as f:
                if f.kind != "other":
                    health.release(entry.provider)  # no upstream call: says nothing of health
                else:
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
                nxt = "; trying the next provider" if entry is not usable[-1] else ""
                # a rest, a removal or a config fault was said once where it happened
                log.log(
                    logging.WARNING if f.kind == "other" else logging.DEBUG,
                    "provider %s (%s) failed: %s%s",
                    entry.provider,
                    entry.actual_model,
                    f.reason,
                    nxt,
                )
                continue
            health.success(entry.provider)
            return reply
        if n == policy.passes:
            break
        wait = _wait_before_pass(n + 1, policy, failures)
        if wait is None or time.monotonic() + wait >= deadline:
            break
        log.info("every provider for %r failed; trying again in %.1fs", requested_model, wait)
        await asyncio.sleep(wait)
    return _failure_reply(attempts, failures, requested_model, policy)


async def _provider(
    client: ProviderClient,
    entry: ChainEntry,
    job: Job,
    deadline: float,
    session: str | None,
    attempts: list[Attempt],
) -> Reply:
    """One provider: its keys in turn. A key answered 429 rests and one answered 401/402/403 is
    removed (the pool does that), and the next key is tried; any other failure is the
    provider's and goes up. Failure(kind=rest|removed|config) when no key can serve."""
    tried: set[str] = set()
    last: Failure | None = None
    while True:
        try:
            credential = await client.credential(job.client_headers, session=session, tried=tried)
        except NoKey as e:
            if e.kind == "tried" and last is not None:
                raise last from None
            if last is None:  # nothing was sent: the attempt list says why
                why = f"skipped: {e}" if e.kind == "rest" else str(e)
                attempts.append(Attempt(entry.provider, entry.actual_model, None, why, 0.0))
            raise Failure(
                str(e),
                last.status if last is not None else None,
                kind=e.kind if e.kind != "tried" else "other",
                until=e.until,
                headers=last.headers if last is not None else None,
                body=last.body if last is not None else None,
            ) from None
        except MissingSecret as e:  # a credential source outside the pool (Google ADC)
            attempts.append(Attempt(entry.provider, entry.actual_model, None, str(e), 0.0))
            raise Failure(str(e), kind="config") from None
        found = client.keys.member_of(credential.secret)
        key = found[1] if found else fingerprint(credential.secret) if credential.secret else None
        t0 = time.perf_counter()
        try:
            reply = await _attempt(client, entry, job, deadline, credential)
        except Failure as f:
            ms = (time.perf_counter() - t0) * 1000
            attempts.append(
                Attempt(entry.provider, entry.actual_model, f.status, f.reason, ms, key)
            )
            done = None
            if f.can_retry:
                done = client.keys.failed(credential.secret, f.status, f.upstream, f.message)
            if done is None or key is None:
                raise
            tried.add(key)
            last = f
            continue
        ms = (time.perf_counter() - t0) * 1000
        reply.attempts = [
            *attempts,
            Attempt(entry.provider, entry.actual_model, reply.status, "ok", ms, key),
        ]
        return reply


def _as_sent(f: Failure, entry: ChainEntry, attempts: list[Attempt]) -> Reply:
    """A non-retryable upstream error, for the client as the upstream sent it: the request
    itself is wrong, so a retry cannot fix it."""
    status = f.status or 502
    out = f.body if f.body is not None else error_body(status, f"{entry.provider}: {f.reason}")
    headers = {"content-type": "application/json", **f.headers}
    if status < 500 and status not in (408, 429):
        headers.update(NO_RETRY)
    return Reply(
        status,
        headers,
        body=out,
        provider=entry.provider,
        actual_model=entry.actual_model,
        attempts=attempts,
    )
