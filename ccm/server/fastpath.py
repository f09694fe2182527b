"""An ASGI layer in front of the Litestar app that serves POST /v1/messages,
/v1/messages/count_tokens and /v1/chat/completions itself, with the same logic (messages.py,
chat_completions.py), plus GET /health and HEAD / (Claude Code's start-up probe), runs the
lifespan (ccm.server.lifespan), and hands every other request to Litestar.

Why: on small requests Litestar's request/response machinery was a third of ccm's own time
per request (a bare Litestar handler: 0.135 ms p50 against 0.045 ms for raw ASGI on the
benchmark machine). The endpoints Claude Code calls on every turn skip it; the admin API,
page, /v1/models and /metrics stay on Litestar.

The Litestar app (with the admin API, and litestar's own imports: about 17 MB of RSS, a third
of an idle ccm) is built on the first request that needs it, not at start-up: a ccm that only
proxies never loads it. That first request waits for the build (a few hundred ms, once).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ccm.runtime import State
from ccm.server.chat_completions import handle_chat_completions, openai_error
from ccm.server.lifespan import serving
from ccm.server.messages import (
    Answer,
    error_answer,
    handle_count_tokens,
    handle_messages,
    unless_disconnected,
)

log = logging.getLogger("ccm.proxy")
ASGIApp = Any
CHAT = "/v1/chat/completions"
PATHS = frozenset({"/v1/messages", "/v1/messages/count_tokens", CHAT})
TOO_LARGE = "request body is larger than server.max_body_bytes"


def health_answer(state: State, headers: Mapping[str, str], peer: str | None) -> Answer:
    """GET /health: up or not, for anyone (load balancers, Docker); the rest only for an admin:
    a reload error quotes the config, and versions and paths are nobody else's business."""
    from ccm import __version__
    from ccm.server.access import is_admin

    rt = state.runtime
    info: dict[str, Any] = {"status": "ok", "service": "ccm"}
    if is_admin(headers, peer, rt.config.server)[0]:
        info |= {
            "version": __version__,
            "rules_version": rt.version,
            "rules": rt.router.rules_file.path,
            "last_reload_error": state.last_error,
            "uptime_s": round(time.time() - state.started_at, 1),
        }
    return Answer(200, body=msgspec.json.encode(info))


class FastPath:
    """`make_app()` builds the app for every other route (called once, on first need)."""

    def __init__(
        self, make_app: Callable[[], ASGIApp], state: State, *, watch: bool = True
    ) -> None:
        self._make_app = make_app
        self._app: ASGIApp | None = None
        self.state = state
        self.watch = watch

    @property
    def app(self) -> ASGIApp:
        if self._app is None:
            self._app = self._make_app()
            # it lives as long as the process, like what start-up froze (run.tune_gc): keep
            # full collections from rescanning its objects
            gc.freeze()
        return self._app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if method != "POST" or path not in PATHS:
            if method == "GET" and path == "/health":
                peer = scope.get("client")
                await _send(
                    send,
                    receive,
                    health_answer(self.state, _headers(scope)[0], peer[0] if peer else None),
                )
            elif method == "HEAD" and path == "/":  # Claude Code's probe: 200, no body
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-length", b"0")],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
            else:
                await self.app(scope, receive, send)
            return
        headers, size = _headers(scope)
        limit = self.state.runtime.config.server.max_body_bytes
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                too_large = (
                    openai_error(413, TOO_LARGE)
                    if scope["path"] == CHAT
                    else error_answer(413, TOO_LARGE, "request_too_large")
                )
                await _send(send, receive, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            if path == "/v1/messages":
                answer = await handle_messages(
                    self.state, headers, size, raw, lambda work: unless_disconnected(receive, work)
                )
            elif path == CHAT:
                answer = await handle_chat_completions(
                    self.state, headers, size, raw, lambda work: unless_disconnected(receive, work)
                )
            else:
                answer = await handle_count_tokens(self.state, headers, size, raw)
        except Exception as e:
            log.exception("unhandled error on POST %s", path)
            message = f"internal error in ccm: {type(e).__name__}"
            answer = openai_error(500, message) if path == CHAT else error_answer(500, message)
        await _send(send, receive, answer)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        await receive()  # lifespan.startup
        running = serving(self.state, watch=self.watch)
        try:
            await running.__aenter__()
        except Exception as e:
            log.exception("start-up failed")
            await send({"type": "lifespan.startup.failed", "message": repr(e)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        try:
            await running.__aexit__(None, None, None)
        except Exception as e:
            log.exception("shutdown failed")
            await send({"type": "lifespan.shutdown.failed", "message": repr(e)})
            return
        await send({"type": "lifespan.shutdown.complete"})


def _headers(scope: dict[str, Any]) -> tuple[dict[str, str], int]:
    """The request's headers (lower-case names) and their size in bytes."""
    headers: dict[str, str] = {}
    size = 0
    for k, v in scope["headers"]:
        size += len(k) + len(v)
        headers[k.decode("latin-1").lower()] = v.decode("latin-1")
    return headers, size


def _start(answer: Answer) -> dict[str, Any]:
    headers = [(b"content-type", answer.media_type.encode())]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()]
    if answer.stream is None:
        headers.append((b"content-length", str(len(answer.body)).encode()))
    return {"type": "http.response.start", "status": answer.status, "headers": headers}


async def _send(send: Any, receive: Any, answer: Answer) -> None:
    await send(_start(answer))
    if answer.stream is None:
        await send({"type": "http.response.body", "body": answer.body})
        return
    # stream chunk by chunk; a client that hangs up cancels the relay (and the upstream)
    stream = answer.stream
    try:
        await unless_disconnected(receive, _pump(stream, send))
    except Exception:  # ClientGone, or the connection broke under us
        log.info("client went away mid-stream; upstream stream closed")
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


async def _pump(stream: Any, send: Any) -> None:
    async for chunk in stream:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
