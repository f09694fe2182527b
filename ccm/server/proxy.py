"""Litestar routes for the Anthropic-compatible endpoints: /v1/messages (when the ASGI fast
path is off), /v1/chat/completions (likewise; chat_completions.py), /v1/messages/count_tokens,
/v1/models (Anthropic's list shape and paging, with
the aliases Claude Code keeps; ccm.claude.catalogue), /v1/models/{id}, /health, HEAD /. The
Messages logic itself lives in messages.py."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, Response, get, head, post
from litestar.params import FromPath
from litestar.response import Stream

from ccm.claude.catalogue import Offered, offered_models
from ccm.runtime import State
from ccm.server.chat_completions import handle_chat_completions
from ccm.server.fastpath import health_answer
from ccm.server.messages import (
    Answer,
    authorized,
    error_answer,
    handle_count_tokens,
    handle_messages,
    unless_disconnected,
)
from ccm.wire.anthropic import error_body

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


Handler = Callable[..., Awaitable[Answer]]  # handle_messages / handle_chat_completions


def _header_bytes(request: Request) -> int:
    return sum(len(k) + len(v) for k, v in request.scope["headers"])


def proxy_routes(state: State) -> list[Any]:
    """The proxy endpoints, bound to one State (no per-request lookups)."""

    async def serve(handler: Handler, request: Request) -> Response | Stream:  # type: ignore[type-arg]
        answer = await handler(
            state,
            request.headers,
            _header_bytes(request),
            await request.body(),
            lambda work: unless_disconnected(request.receive, work),
        )
        return to_response(answer)

    @post("/v1/messages", status_code=200)
    async def messages(request: Request) -> Response | Stream:  # type: ignore[type-arg]
        """Reached when the ASGI fast path is off (create_app(fast_path=False))."""
        return await serve(handle_messages, request)

    @post("/v1/chat/completions", status_code=200)
    async def chat_completions(request: Request) -> Response | Stream:  # type: ignore[type-arg]
        """OpenAI-compatible clients (reached when the ASGI fast path is off)."""
        return await serve(handle_chat_completions, request)

    @post("/v1/messages/count_tokens", status_code=200)
    async def count_tokens(request: Request) -> Response:
        answer = await handle_count_tokens(
            state, request.headers, _header_bytes(request), await request.body()
        )
        return to_response(answer)  # type: ignore[return-value]

    @get("/v1/models")
    async def models(request: Request) -> Response:
        """Anthropic's list shape and paging; what Claude Code's model discovery reads."""
        if not authorized(request.headers, state):
            return error_response(401, UNAUTHORIZED, "authentication_error")
        status, page = models_page(
            offered_models(state.runtime.config),
            _created(state),
            request.query_params.get("limit"),
            request.query_params.get("after_id"),
            request.query_params.get("before_id"),
        )
        return Response(content=_encode(page), status_code=status, media_type="application/json")

    @get("/v1/models/{model_id:path}")
    async def model(request: Request, model_id: FromPath[str]) -> Response:
        if not authorized(request.headers, state):
            return error_response(401, UNAUTHORIZED, "authentication_error")
        model_id = model_id.lstrip("/")
        for o in offered_models(state.runtime.config):
            if o.id == model_id:
                return Response(
                    content=_encode(_model_object(o, _created(state))),
                    media_type="application/json",
                )
        return error_response(404, f"model: {model_id}", "not_found_error")

    @get("/health")
    async def health(request: Request) -> Response:
        peer = request.client.host if request.client else None
        return to_response(health_answer(state, request.headers, peer))

    @head("/", status_code=200)
    async def head_root() -> None:
        """Claude Code probes `HEAD /` on start-up."""
        return None

    return [messages, chat_completions, count_tokens, models, model, health, head_root]


UNAUTHORIZED = "invalid or missing API key for this ccm proxy (server.api_key)"


def _created(state: State) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state.started_at))


def _model_object(o: Offered, created: str) -> dict[str, Any]:
    return {"type": "model", "id": o.id, "display_name": o.display_name, "created_at": created}


def models_page(
    offered: list[Offered],
    created: str,
    limit: str | None,
    after_id: str | None,
    before_id: str | None,
) -> tuple[int, dict[str, Any]]:
    """GET /v1/models as Anthropic answers it: `limit` 1..1000 (default 20); `after_id` gives
    the page after that id, `before_id` the page before it; has_more, first_id, last_id."""
    try:
        n = 20 if limit in (None, "") else int(limit)
    except ValueError:
        n = 0
    if not 1 <= n <= 1000:
        return 400, _error_dict(400, "limit: an integer from 1 to 1000 is required")
    if after_id and before_id:
        return 400, _error_dict(400, "give after_id or before_id, not both")
    ids = [o.id for o in offered]
    if before_id:
        if before_id not in ids:
            return 400, _error_dict(400, f"before_id: no model {before_id!r}")
        end = ids.index(before_id)
        start = max(0, end - n)
        more = start > 0
    else:
        start = 0
        if after_id:
            if after_id not in ids:
                return 400, _error_dict(400, f"after_id: no model {after_id!r}")
            start = ids.index(after_id) + 1
        end = min(len(ids), start + n)
        more = end < len(ids)
    data = [_model_object(o, created) for o in offered[start:end]]
    return 200, {
        "data": data,
        "has_more": more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def _error_dict(status: int, message: str) -> dict[str, Any]:
    return msgspec.json.decode(error_body(status, message))
