"""POST /api/explain (why a request routes where it does, by the running or unsaved rules) and
POST /api/test (one message through exactly the path Claude Code's requests take)."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from ccm.diagnostics import DiagnosticError
from ccm.rules.explain import explain
from ccm.runtime import State
from ccm.server.admin.bodies import ExplainBody, TestBody
from ccm.server.admin.errors import Invalid
from ccm.server.admin.rules import compiled
from ccm.server.messages import Answer, send_messages


async def _unwatched(work: Any) -> Any:
    return await work


class ToolsController(Controller):
    path = "/"

    @post("/explain", status_code=200)
    async def explain(
        self, data: JSONBody[ExplainBody], ccm_state: NamedDependency[State]
    ) -> dict[str, Any]:
        router = ccm_state.runtime.router
        if data.text is not None:  # explain by unsaved rules, e.g. the page's editor
            try:
                router = compiled(ccm_state, data.text, "draft.rules")
            except DiagnosticError as e:
                raise Invalid(e, "rules") from None
        headers = {k.lower(): v for k, v in data.headers.items()}
        return explain(router, data.request, headers)

    @post("/test", status_code=200)
    async def test(
        self, data: JSONBody[TestBody], ccm_state: NamedDependency[State]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": data.model,
            "max_tokens": data.max_tokens,
            "messages": [{"role": "user", "content": data.message}],
            "stream": data.stream,
        }
        headers = {"x-provider": data.provider} if data.provider else {}
        t0 = time.perf_counter()
        answer = await send_messages(ccm_state, body, headers, _unwatched, t0)
        message, text = await _read(answer)
        route = dict(
            part.split("=", 1)
            for part in answer.headers.get("x-ccm-route", "").split("; ")
            if "=" in part
        )
        error = None
        status = answer.status
        if status != 200 or message.get("type") == "error":
            error = (message.get("error") or {}).get("message") or f"HTTP {status}"
            status = status if status != 200 else 502  # the stream ended with an error event
        return {
            "status": status,
            "text": text,
            "stream": data.stream,
            "route": {
                "rule": route.get("rule"),
                "model": route.get("model"),
                "provider": None if route.get("provider") in (None, "-") else route["provider"],
            },
            "attempts": [a.to_json() for a in answer.attempts],
            "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
            "message": message or None,
            "error": error,
        }


async def _read(answer: Answer) -> tuple[dict[str, Any], str]:
    """The answer as a message and its text; a stream is read to its end and assembled."""
    if answer.stream is None:
        try:
            message = msgspec.json.decode(answer.body) if answer.body else {}
        except msgspec.DecodeError:
            message = {}
        if not isinstance(message, dict):
            message = {}
        text = "".join(
            b.get("text", "")
            for b in message.get("content", [])
            if isinstance(b, dict) and b.get("type") == "text"
        )
        return message, text
    message: dict[str, Any] = {}
    parts: list[str] = []
    buf = b""
    async for chunk in answer.stream:
        buf += chunk
    for block in buf.split(b"\n\n"):
        for line in block.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            try:
                ev = msgspec.json.decode(line[5:])
            except msgspec.DecodeError:
                continue
            if not isinstance(ev, dict):
                continue
            kind = ev.get("type")
            if kind == "message_start":
                message = dict(ev.get("message") or {})
            elif (
                kind == "content_block_delta"
                and (ev.get("delta") or {}).get("type") == "text_delta"
            ):
                parts.append(ev["delta"].get("text", ""))
            elif kind == "message_delta":
                message.update(ev.get("delta") or {})
            elif kind == "error":
                message = ev
    text = "".join(parts)
    if message.get("type") == "message":
        message["content"] = [{"type": "text", "text": text}]
    return message, text
