"""GET /api/status, GET /api/logs, POST /api/reload."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery

from ccm import __version__
from ccm.dialects.registry import preset as provider_preset
from ccm.runtime import State
from ccm.server.admin.views import key_status


class StatusController(Controller):
    path = "/"

    @get("/status")
    async def status(self, ccm_state: NamedDependency[State]) -> Response[bytes]:
        """Health records hold upstream error texts: scrubbed of every known secret."""
        data = _status(ccm_state)
        body = ccm_state.runtime.scrubber().bytes(msgspec.json.encode(data))
        return Response(content=body, media_type="application/json")

    @get("/logs")
    async def logs(
        self, ccm_state: NamedDependency[State], limit: FromQuery[int] = 200
    ) -> list[dict[str, Any]]:
        items = list(ccm_state.recent)[-max(1, min(limit, 500)) :]
        return items[::-1]

    @post("/reload", status_code=200)
    async def reload(self, ccm_state: NamedDependency[State]) -> dict[str, Any]:
        ok = await ccm_state.reload()
        return {"ok": ok, "rules_version": ccm_state.runtime.version, "error": ccm_state.last_error}


def _status(ccm_state: State) -> dict[str, Any]:
    rt = ccm_state.runtime
    failures: dict[str, list[dict[str, Any]]] = {}
    for rec in ccm_state.recent:
        for a in rec["attempts"]:
            if a["status"] != 200:
                failures.setdefault(a["provider"], []).append(a)
    providers = []
    for p in rt.config.providers:
        preset = provider_preset(p.provider_type, p.auth_type)
        fails = failures.get(p.name, [])
        client = rt.clients.get(p.name)
        providers.append(
            {
                "name": p.name,
                "provider_type": p.provider_type,
                "dialect": preset.dialect.name if preset else None,
                "enabled": p.is_enabled,
                "auth_type": p.auth_type,
                "base_url": p.base_url or (preset.base_url if preset else None),
                "key_status": key_status(p),
                "recent_failures": len(fails),
                "last_error": fails[-1]["reason"] if fails else None,
                "health": ccm_state.health.snapshot(p.name),
                # key pool: each key by fingerprint, ok / resting until / removed: reason
                "keys": client.keys.view() if client is not None else [],
                "key_strategy": p.key_strategy or "round-robin",
            }
        )
    return {
        "version": __version__,
        "uptime_s": round(time.time() - ccm_state.started_at, 1),
        "config_path": str(ccm_state.config_path),
        "rules_path": rt.router.rules_file.path,
        "rules_version": rt.version,
        "last_reload_error": ccm_state.last_error,
        "providers": providers,
        "models": len(rt.config.models),
        "requests": len(ccm_state.recent),
        "state": ccm_state.shared.describe(),  # in-process, or Redis (shared: reachable now)
    }
