"""The running state: config, compiled router and provider clients, swapped as one on reload."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccm.config.load import LoadedConfig, load_config
from ccm.diagnostics import DiagnosticError
from ccm.dispatch import RetryPolicy
from ccm.health import Health
from ccm.ledger.recorder import Ledger
from ccm.providers.client import ProviderClient
from ccm.rules.compile import Router
from ccm.rules.load import build_router

log = logging.getLogger("ccm")


@dataclass
class Runtime:
    loaded: LoadedConfig
    router: Router
    clients: dict[str, ProviderClient]
    version: int
    retry: RetryPolicy
    loaded_at: float = field(default_factory=time.time)

    @property
    def config(self):
        return self.loaded.config


def build_runtime(loaded: LoadedConfig, previous: Runtime | None = None) -> Runtime:
    """Compile rules and make provider clients, reusing the pools of unchanged providers."""
    router = build_router(loaded)
    old = previous.clients if previous else {}
    clients: dict[str, ProviderClient] = {}
    for p in loaded.config.providers:
        if not p.is_enabled:
            continue
        candidate = old.get(p.name)
        fresh = ProviderClient(p, loaded.config.server) if candidate is None else None
        if candidate is not None:
            probe = ProviderClient.fingerprint_of(p, loaded.config.server)
            if probe != candidate.fingerprint:
                fresh = ProviderClient(p, loaded.config.server)
        clients[p.name] = fresh or candidate  # type: ignore[assignment]
    version = previous.version + 1 if previous else 1
    return Runtime(loaded, router, clients, version, RetryPolicy.from_server(loaded.config.server))


class State:
    """Holds the current Runtime. Requests read `state.runtime` once and keep that object,
    so a reload never changes the rules under a request in flight."""

    def __init__(self, config_path: Path, runtime: Runtime) -> None:
        self.config_path = config_path
        self.runtime = runtime
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.started_at = time.time()
        self._lock = asyncio.Lock()
        self.write_lock = asyncio.Lock()
        server = runtime.config.server
        # health outlives reloads: a provider that was failing is still failing after an edit
        self.health = Health(
            server.circuit_failures, server.circuit_cooldown_ms / 1000
        )  # admin writes: one at a time, file and reload together
        self.recent: deque[dict[str, Any]] = deque(maxlen=500)  # for the admin Logs tab
        # usage ledger, metrics and tracing ([ledger], [metrics] are read at start);
        # its writer thread runs between app start-up and shutdown (ccm/server/app.py)
        self.ledger = Ledger(config_path, runtime.config)
        self.metrics = self.ledger.metrics

    def record(
        self, decision: Any, provider: str | None, status: int, t0: float, attempts: list[Any]
    ) -> None:
        """One line of the recent-requests log (no bodies, no secrets)."""
        self.recent.append(
            {
                "time": time.time(),
                "rule": decision.rule,
                "model": decision.model,
                "original_model": decision.original_model,
                "provider": provider,
                "status": status,
                "attempts": [a.to_json() for a in attempts],
                "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
            }
        )

    def watched_paths(self) -> list[Path]:
        paths = [self.config_path]
        rules = self.runtime.loaded.rules_path()
        if rules is not None:
            paths.append(rules)
        return paths

    async def reload(self) -> bool:
        """Load and compile; swap on success, keep the old runtime and record why on failure."""
        async with self._lock:
            try:
                loaded = load_config(self.config_path)
                new = build_runtime(loaded, self.runtime)
            except DiagnosticError as e:
                self.last_error = str(e)
                self.last_error_at = time.time()
                log.error(
                    "reload failed; still serving rules version %d:\n%s", self.runtime.version, e
                )
                return False
            except Exception as e:  # an unexpected bug must not stop the server
                self.last_error = f"reload failed: {e!r}"
                self.last_error_at = time.time()
                log.exception("reload failed; still serving rules version %d", self.runtime.version)
                return False
            old = self.runtime
            self.runtime = new
            srv = new.config.server
            self.health.configure(srv.circuit_failures, srv.circuit_cooldown_ms / 1000)
            self.last_error = None
            for w in [*loaded.warnings, *new.router.warnings]:
                log.warning("%s", w.format())
            log.info("reloaded %s: rules version %d", self.config_path, new.version)
            retired = [c for name, c in old.clients.items() if new.clients.get(name) is not c]
            if retired:
                asyncio.get_running_loop().call_later(
                    600, lambda: [asyncio.ensure_future(c.aclose()) for c in retired]
                )  # let requests in flight on the old pools finish first
            return True

    async def aclose(self) -> None:
        for c in self.runtime.clients.values():
            await c.aclose()
        await asyncio.to_thread(self.ledger.stop)
