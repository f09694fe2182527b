"""The Messages endpoints' logic, independent of the web framework: admit (auth, headers,
JSON), route, dispatch, answer. Litestar's routes (proxy.py) and the ASGI fast path
(fastpath.py) are thin adapters over `handle_messages` and `handle_count_tokens`.

One request reads straight down: decode -> rules decide -> dispatch tries the chain ->
the answer (or stream) goes back with the client's model name and an x-ccm-route header.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from ccm.config.secrets import MissingSecret, resolve
from ccm.dispatch import NO_RETRY, dispatch
from ccm.ledger.recorder import NoTrail, Trail
from ccm.rules.tokens import estimate_tokens
from ccm.runtime import State
from ccm.server.access import browser_refusal, client_credential, same_secret
from ccm.wire.anthropic import error_body

log = logging.getLogger("ccm.proxy")
_decode = msgspec.json.decode
_encode = msgspec.json.encode
T = TypeVar("T")
MAX_HEADER_BYTES = 64 * 1024  # Anthropic's API and most proxies refuse far less
Receive = Callable[[], Awaitable[dict[str, Any]]]
Watch = Callable[[Awaitable[Any]], Awaitable[Any]]


@dataclass
class Answer:
    """What goes back to the client: a body, or a stream of SSE bytes."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    media_type: str = "application/json"
    attempts: list[Any] = field(default_factory=list)  # dispatch's Attempts, for the admin page


# ccm's own answers that a retry cannot fix: Claude Code must not retry them (it would for
# minutes); x-should-retry: false says so
NO_RETRY_STATUSES = frozenset({400, 401, 403, 404, 413, 422, 431})


def error_answer(
    status: int, message: str, kind: str | None = None, headers: dict[str, str] | None = None
) -> Answer:
    out = dict(headers or {})
    if status in NO_RETRY_STATUSES:
        out.update(NO_RETRY)
    return Answer(status, out, error_body(status, message, kind))


class ClientGone(Exception):
    pass


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it (and so the upstream request) if the client hangs up.
    One watcher task reads the ASGI channel; the work runs in this task."""
    current = asyncio.current_task()
    gone = False

    async def watch() -> None:
        nonlocal gone
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone = True
                if current is not None:
                    current.cancel()
                return

    watcher = asyncio.ensure_future(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if gone:
            raise ClientGone from None
        raise
    finally:
        watcher.cancel()


def authorized(headers: Mapping[str, str], state: State) -> bool:
    expected = state.runtime.config.server.api_key
    if not expected:
        return True
    try:
        key = resolve(expected, "server.api_key")
    except MissingSecret:
        return False  # configured but unresolvable: refuse rather than run open
    return same_secret(client_credential(headers), key or "")


TOO_DEEP = "request body is nested too deeply"


class BadJSON(ValueError):
    """A body that is no JSON at all, said so for the client (each API wraps it its own way)."""


def parse_json(raw: bytes) -> Any:
    """The decoded body; BadJSON when it is empty, malformed or nested too deeply."""
    if not raw:
        raise BadJSON("request body is empty; expected a JSON object")
    try:
        return _decode(raw)
    except msgspec.DecodeError as e:
        raise BadJSON(f"request body is not valid JSON: {e}") from None
    except RecursionError:
        raise BadJSON(TOO_DEEP) from None


def decode_request(raw: bytes, *, needs_max_tokens: bool = True) -> dict[str, Any] | Answer:
    try:
        body = parse_json(raw)
    except BadJSON as e:
        return error_answer(400, str(e))
    if not isinstance(body, dict):
        return error_answer(400, f"request body must be a JSON object, not {type(body).__name__}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return error_answer(400, "model: a non-empty string is required")
    if not isinstance(body.get("messages"), list):
        return error_answer(400, "messages: an array is required")
    if "stream" in body and not isinstance(body["stream"], bool):
        return error_answer(400, "stream: true or false is required")
    mt = body.get("max_tokens")
    if mt is None and needs_max_tokens:
        return error_answer(400, "max_tokens: Field required (the Messages API needs it)")
    if mt is not None and (not isinstance(mt, int) or isinstance(mt, bool) or mt < 1):
        return error_answer(400, "max_tokens: a positive integer is required")
    return body


def admit(
    state: State,
    headers: Mapping[str, str],
    header_bytes: int,
    raw: bytes,
    *,
    needs_max_tokens: bool = True,
) -> dict[str, Any] | Answer:
    """The request body, once the client is authorised and the JSON is a Messages request."""
    if header_bytes > MAX_HEADER_BYTES:
        return error_answer(
            431, f"request headers exceed {MAX_HEADER_BYTES // 1024} KiB", "invalid_request_error"
        )
    refused = browser_refusal(headers, state.runtime.config.server)
    if refused:
        return error_answer(403, refused, "permission_error")
    if not authorized(headers, state):
        return error_answer(
            401,
            "invalid or missing API key for this ccm proxy (server.api_key)",
            "authentication_error",
        )
    return decode_request(raw, needs_max_tokens=needs_max_tokens)


def header_safe(text: str) -> str:
    """Model names come from requests: keep a header printable ASCII whatever they hold."""
    text = text[:200]
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def route_header(rule: str, model: str, provider: str | None) -> str:
    return header_safe(f"rule={rule}; model={model}; provider={provider or '-'}")


async def handle_messages(
    state: State, headers: Mapping[str, str], header_bytes: int, raw: bytes, watch: Watch
) -> Answer:
    """POST /v1/messages. `watch(work)` awaits work unless the client disconnects."""
    t0 = time.perf_counter()
    await state.fresh()  # the config or rules file changed (another worker wrote it): reload
    body = admit(state, headers, header_bytes, raw)
    if isinstance(body, Answer):
        return body
    return await send_messages(state, body, headers, watch, t0)


async def send_messages(
    state: State, body: dict[str, Any], headers: Mapping[str, str], watch: Watch, t0: float
) -> Answer:
    """An admitted Messages request: route, dispatch, answer (the admin page's test sender
    comes in here too, so it goes exactly where Claude Code's requests go)."""
    # ---- usage ledger, metrics, tracing (ccm/ledger): one record when the request ends ----
    trail = state.ledger.begin(state.runtime.config, body, headers, t0)
    try:
        answer = await _messages(state, headers, body, watch, t0, trail)
    except BaseException:
        trail.fail()
        raise
    return trail.finish(answer)


async def _messages(
    state: State,
    headers: Mapping[str, str],
    body: dict[str, Any],
    watch: Watch,
    t0: float,
    trail: Trail | NoTrail,
) -> Answer:
    rt = state.runtime
    try:
        decision = trail.decision = rt.router.route(body, headers)
    except RecursionError:  # a body msgspec could decode but our walkers cannot
        return error_answer(400, TOO_DEEP)
    requested = decision.original_model
    route_hdr = {"x-ccm-route": route_header(decision.rule, decision.model, None)}
    if decision.error:
        state.record(decision, None, 404, t0, [])
        return error_answer(404, f"model: {decision.error}", "not_found_error", route_hdr)
    chain = decision.chain
    forced = headers.get("x-provider")
    if forced:
        chain = tuple(e for e in chain if e.provider == forced)
        if not chain:
            providers = ", ".join(dict.fromkeys(e.provider for e in decision.chain))
            return error_answer(
                400,
                f"X-Provider {forced!r} is not in the chain for model {decision.model!r} (providers: {providers})",
                headers=route_hdr,
            )
    decision.apply(body)  # strip, and images as a note for a text-only model
    try:
        reply = await watch(
            dispatch(
                rt.clients,
                chain,
                body,
                headers,
                stream=body.get("stream") is True,
                requested_model=requested,
                input_tokens=lambda: estimate_tokens(body),
                health=state.health,
                policy=rt.retry,
            )
        )
    except RecursionError:
        return error_answer(400, TOO_DEEP)
    except ClientGone:
        log.info(
            "client went away before an answer; upstream request cancelled (model %s)",
            decision.model,
        )
        state.record(decision, None, 499, t0, [])
        return error_answer(499, "client closed the request")
    if reply.status >= 400:
        _scrub(reply, rt)
    trail.reply = reply
    out = dict(reply.headers)
    media = out.pop(
        "content-type", "text/event-stream" if reply.stream is not None else "application/json"
    )
    out["x-ccm-route"] = route_header(decision.rule, decision.model, reply.provider)
    out["x-ccm-attempts"] = str(len(reply.attempts))
    state.record(decision, reply.provider, reply.status, t0, reply.attempts)
    if log.isEnabledFor(logging.INFO):
        log.info(
            "%s rule=%s model=%s provider=%s status=%d attempts=%d %.0fms",
            "stream" if reply.stream is not None else "message",
            decision.rule,
            decision.model,
            reply.provider or "-",
            reply.status,
            len(reply.attempts),
            (time.perf_counter() - t0) * 1000,
        )
    return Answer(reply.status, out, reply.body or b"", reply.stream, media, reply.attempts)


def _scrub(reply: Any, rt: Any) -> None:
    """An upstream error may repeat the key it was sent (OpenAI's 401 does): whatever ccm
    passes on shows a configured secret only by its fingerprint."""
    scrubber = rt.scrubber()
    if not scrubber:
        return
    if reply.body:
        reply.body = scrubber.bytes(reply.body)
    for a in reply.attempts:
        a.reason = scrubber.text(a.reason)


async def handle_count_tokens(
    state: State, headers: Mapping[str, str], header_bytes: int, raw: bytes
) -> Answer:
    """POST /v1/messages/count_tokens: the provider's own count, else the offline estimate."""
    await state.fresh()
    rt = state.runtime
    body = admit(state, headers, header_bytes, raw, needs_max_tokens=False)
    if isinstance(body, Answer):
        return body
    try:
        decision = rt.router.route(body, headers)
    except RecursionError:
        return error_answer(400, TOO_DEEP)
    decision.apply(body)
    from ccm.providers.count import upstream_count

    try:
        counted = await upstream_count(rt.clients, decision.chain, body, headers)
        if counted is None:
            counted = _encode({"input_tokens": estimate_tokens(body)})
    except RecursionError:
        return error_answer(400, TOO_DEEP)
    return Answer(200, {"x-ccm-route": route_header(decision.rule, decision.model, None)}, counted)
