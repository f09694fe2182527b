"""The Anthropic-compatible endpoints: /v1/messages, /v1/messages/count_tokens, /v1/models.

One request reads straight down: decode -> rules decide -> dispatch tries the chain ->
the answer (or stream) goes back with the client's model name and an x-ccm-route header.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response, get, head, post
from litestar.response import Stream

from ccm.dispatch import Reply, RetryPolicy, dispatch
from ccm.rules.features import apply_strip
from ccm.rules.tokens import estimate_tokens
from ccm.runtime import State
from ccm.wire.anthropic import error_body

log = logging.getLogger("ccm.proxy")
_decode = msgspec.json.decode
_encode = msgspec.json.encode
T = TypeVar("T")
MAX_HEADER_BYTES = 64 * 1024  # Anthropic's API and most proxies refuse far less


def error_response(
    status: int, message: str, kind: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        content=error_body(status, message, kind),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class ClientGone(Exception):
    pass


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it (and so the upstream request) if the client hangs up.
    One watcher task reads the ASGI channel; the work runs in this task (no extra task)."""
    current = asyncio.current_task()
    gone = False

    async def watch() -> None:
        nonlocal gone
        while True:
            message = await request.receive()
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


def _authorized(request: Request, state: State) -> bool:
    expected = state.runtime.config.server.api_key
    if not expected:
        return True
    from ccm.config.secrets import MissingSecret, resolve

    try:
        key = resolve(expected, "server.api_key")
    except MissingSecret:
        return False  # configured but unresolvable: refuse rather than run open
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization") or ""
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return bool(key) and hmac.compare_digest(given.encode(), key.encode())  # type: ignore[union-attr]


def _decode_request(raw: bytes) -> dict[str, Any] | Response:
    if not raw:
        return error_response(400, "request body is empty; expected a JSON object")
    try:
        body = _decode(raw)
    except msgspec.DecodeError as e:
        return error_response(400, f"request body is not valid JSON: {e}")
    if not isinstance(body, dict):
        return error_response(400, f"request body must be a JSON object, not {type(body).__name__}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return error_response(400, "model: a non-empty string is required")
    if not isinstance(body.get("messages"), list):
        return error_response(400, "messages: an array is required")
    mt = body.get("max_tokens")
    if mt is not None and (not isinstance(mt, int) or isinstance(mt, bool)):
        return error_response(400, "max_tokens: an integer is required")
    if "stream" in body and not isinstance(body["stream"], bool):
        return error_response(400, "stream: true or false is required")
    return body


async def _admit(request: Request, state: State) -> dict[str, Any] | Response:
    """The request body, once the client is authorised and the JSON is a Messages request."""
    if sum(len(k) + len(v) for k, v in request.scope["headers"]) > MAX_HEADER_BYTES:
        return error_response(
            431, f"request headers exceed {MAX_HEADER_BYTES // 1024} KiB", "invalid_request_error"
        )
    if not _authorized(request, state):
        return error_response(
            401,
            "invalid or missing API key for this ccm proxy (server.api_key)",
            "authentication_error",
        )
    return _decode_request(await request.body())


def _header_safe(text: str) -> str:
    """Model names come from requests: keep a header printable ASCII whatever they hold."""
    text = text[:200]
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _route_header(rule: str, model: str, provider: str | None) -> str:
    return _header_safe(f"rule={rule}; model={model}; provider={provider or '-'}")


def proxy_routes(state: State) -> list[Any]:
    """The proxy endpoints, bound to one State (no per-request lookups)."""

    @post("/v1/messages", status_code=200)
    async def messages(request: Request) -> Response | Stream:  # type: ignore[type-arg]
        t0 = time.perf_counter()
        rt = state.runtime
        body = await _admit(request, state)
        if isinstance(body, Response):
            return body
        headers = request.headers
        decision = rt.router.route(body, headers)
        requested = decision.original_model
        route_hdr = {"x-ccm-route": _route_header(decision.rule, decision.model, None)}
        if decision.error:
            state.record(decision, None, 404, t0, [])
            return error_response(404, f"model: {decision.error}", "not_found_error", route_hdr)
        chain = decision.chain
        forced = headers.get("x-provider")
        if forced:
            chain = tuple(e for e in chain if e.provider == forced)
            if not chain:
                providers = ", ".join(dict.fromkeys(e.provider for e in decision.chain))
                return error_response(
                    400,
                    f"X-Provider {forced!r} is not in the chain for model {decision.model!r} (providers: {providers})",
                    headers=route_hdr,
                )
        for field, pattern in decision.strips:
            apply_strip(body, field, pattern)
        stream = body.get("stream") is True
        try:
            reply: Reply = await _unless_disconnected(
                request,
                dispatch(
                    rt.clients,
                    chain,
                    body,
                    headers,
                    stream=stream,
                    requested_model=requested,
                    input_tokens=lambda: estimate_tokens(body),
                    health=state.health,
                    policy=RetryPolicy.from_server(rt.config.server),
                ),
            )
        except ClientGone:
            log.info(
                "client went away before an answer; upstream request cancelled (model %s)",
                decision.model,
            )
            state.record(decision, None, 499, t0, [])
            return error_response(499, "client closed the request")
        out_headers = {
            **reply.headers,
            "x-ccm-route": _route_header(decision.rule, decision.model, reply.provider),
            "x-ccm-attempts": str(len(reply.attempts)),
        }
        state.record(decision, reply.provider, reply.status, t0, reply.attempts)
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
        if reply.stream is not None:
            return Stream(
                reply.stream,
                status_code=reply.status,
                headers=out_headers,
                media_type="text/event-stream",
            )
        media = out_headers.pop("content-type", "application/json")
        return Response(
            content=reply.body or b"",
            status_code=reply.status,
            headers=out_headers,
            media_type=media,
        )

    @post("/v1/messages/count_tokens", status_code=200)
    async def count_tokens(request: Request) -> Response:
        rt = state.runtime
        body = await _admit(request, state)
        if isinstance(body, Response):
            return body
        decision = rt.router.route(body, request.headers)
        for field, pattern in decision.strips:
            apply_strip(body, field, pattern)
        from ccm.providers.count import upstream_count

        counted = await upstream_count(rt.clients, decision.chain, body, request.headers)
        if counted is None:
            counted = _encode({"input_tokens": estimate_tokens(body)})
        return Response(
            content=counted,
            media_type="application/json",
            headers={"x-ccm-route": _route_header(decision.rule, decision.model, None)},
        )

    @get("/v1/models")
    async def models() -> Response:
        cfg = state.runtime.config
        names: list[str] = [m.name for m in cfg.models]
        for p in cfg.providers:
            if p.is_enabled:
                names.extend(n for n in p.models if not any(c in n for c in "*?["))
        names = list(dict.fromkeys(names))
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state.started_at))
        data = [{"type": "model", "id": n, "display_name": n, "created_at": created} for n in names]
        return Response(
            content=_encode(
                {
                    "data": data,
                    "has_more": False,
                    "first_id": names[0] if names else None,
                    "last_id": names[-1] if names else None,
                }
            ),
            media_type="application/json",
        )

    @get("/health")
    async def health() -> Response:
        from ccm import __version__

        rt = state.runtime
        return Response(
            content=_encode(
                {
                    "status": "ok",
                    "service": "ccm",
                    "version": __version__,
                    "rules_version": rt.version,
                    "rules": rt.router.rules_file.path,
                    "last_reload_error": state.last_error,
                    "uptime_s": round(time.time() - state.started_at, 1),
                }
            ),
            media_type="application/json",
        )

    @head("/", status_code=200)
    async def head_root() -> None:
        """Claude Code probes `HEAD /` on start-up."""
        return None

    return [messages, count_tokens, models, health, head_root]
