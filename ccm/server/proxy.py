"""Litestar routes for the Anthropic-compatible endpoints: /v1/messages (when the ASGI fast
path is off), /v1/messages/count_tokens, /v1/models, /health, HEAD /. The Messages logic
itself lives in messages.py."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request, Response, get, head, post
from litestar.response import Stream

from ccm.runtime import State
from ccm.server.messages import (
    Answer,
    error_answer,
    handle_count_tokens,
    handle_messages,
    unless_disconnected,
)

_encode = msgspec.json.encode


def error_response(
    status: int, message: str, kind: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    return to_response(error_answer(status, message, kind, headers))


def to_response(answer: Answer) -> Response | Stream:  # type: ignore[type-arg]
    if answer.stream is not None:
        return Stream(
            answer.stream,
            status_code=answer.status,
            headers=answer.headers,
            media_type=answer.media_type,
        )
    return Response(
        content=answer.body,
        status_code=answer.status,
        headers=answer.headers,
        media_type=answer.media_type,
    )


def _header_bytes(request: Request) -> int:
    return sum(len(k) + len(v) for k, v in request.scope["headers"])


def proxy_routes(state: State) -> list[Any]:
    """The proxy endpoints, bound to one State (no per-request lookups)."""

    @post("/v1/messages", status_code=200)
    async def messages(request: Request) -> Response | Stream:  # type: ignore[type-arg]
        """Reached when the ASGI fast path is off (create_app(fast_path=False))."""
        answer = await handle_messages(
            state,
            request.headers,
            _header_bytes(request),
            await request.body(),
            lambda work: unless_disconnected(request.receive, work),
        )
        return to_response(answer)

    @post("/v1/messages/count_tokens", status_code=200)
    async def count_tokens(request: Request) -> Response:
        answer = await handle_count_tokens(
            state, request.headers, _header_bytes(request), await request.body()
        )
        return to_response(answer)  # type: ignore[return-value]

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
    async def health(request: Request) -> Response:
        """Up or not, for anyone (load balancers, Docker); the rest only for an admin: a reload
        error quotes the config, and versions and paths are nobody else's business."""
        from ccm import __version__
        from ccm.server.access import is_admin

        rt = state.runtime
        info: dict[str, Any] = {"status": "ok", "service": "ccm"}
        peer = request.client.host if request.client else None
        if is_admin(request.headers, peer, rt.config.server)[0]:
            info |= {
                "version": __version__,
                "rules_version": rt.version,
                "rules": rt.router.rules_file.path,
                "last_reload_error": state.last_error,
                "uptime_s": round(time.time() - state.started_at, 1),
            }
        return Response(content=_encode(info), media_type="application/json")

    @head("/", status_code=200)
    async def head_root() -> None:
        """Claude Code probes `HEAD /` on start-up."""
        return None

    return [messages, count_tokens, models, health, head_root]
