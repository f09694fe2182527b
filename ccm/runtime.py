"""The running state: config, compiled router and provider clients, swapped as one on reload."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccm.config.load import LoadedConfig, load_config
from ccm.config.schema import Config
from ccm.config.secrets import Scrubber, scrub_logs, try_resolve, url_password
from ccm.config.store import remove_stale_temp_files
from ccm.diagnostics import Diagnostic, DiagnosticError
from ccm.dispatch import RetryPolicy
from ccm.health import Health
from ccm.ledger.recorder import Ledger
from ccm.providers.client import ProviderClient
from ccm.rules.compile import Router
from ccm.rules.load import build_router
from ccm.state import LocalState, SharedState, open_state

log = logging.getLogger("ccm")


@dataclass
class Runtime:
    loaded: LoadedConfig
    router: Router
    clients: dict[str, ProviderClient]
    version: int
    retry: RetryPolicy
    loaded_at: float = field(default_factory=time.time)
    secrets: Scrubber = field(default_factory=lambda: Scrubber(()))

    @property
    def config(self) -> Config:
        return self.loaded.config

    def adopt(self, shared: SharedState) -> None:
        """Key pools keep their rests, removals and counters in `shared` (the State's)."""
        for client in self.clients.values():
            client.keys.state = shared

    def scrubber(self) -> Scrubber:
        """Every secret ccm holds, for scrubbing text it passes on: the config's (resolved when
        this Runtime was built) and, when a provider signs in, the OAuth tokens as stored now."""
        if not any(p.auth_type == "oauth" for p in self.config.providers):
            return self.secrets
        from ccm.oauth import TokenStore

        tokens: list[str] = []
        try:
            store = TokenStore()
            for pid in store.ids():
                record = store.get(pid)
                if record is not None:
                    tokens += [record.access_token, record.refresh_token]
        except Exception:  # an unreadable store holds nothing to scrub
            pass
        return Scrubber([*self.secrets.values, *tokens])


def config_secrets(config: Config) -> list[str]:
    """The secrets a config holds or points at: client and admin keys, provider keys, header
    values, proxy passwords."""
    server = config.server
    values = [try_resolve(server.api_key), try_resolve(server.admin_token)]
    values.append(url_password(try_resolve(server.proxy)))
    values.append(url_password(try_resolve(config.state.url)))
    for p in config.providers:
        values.append(try_resolve(p.api_key))
        values.extend(try_resolve(k) for k in p.api_keys)
        values.extend(try_resolve(v) for v in p.headers.values())
        values.append(url_password(try_resolve(p.proxy)))
    return [v for v in values if v]


def build_runtime(
    loaded: LoadedConfig, previous: Runtime | None = None, shared: SharedState | None = None
) -> Runtime:
    """Compile rules and make provider clients, reusing the pools of unchanged providers.
    `shared`: where key pools keep their state (State.adopt sets it when given later)."""
    router = build_router(loaded)
    old = previous.clients if previous else {}
    clients: dict[str, ProviderClient] = {}
    server = loaded.config.server
    for p in loaded.config.providers:
        if not p.is_enabled:
            continue
        candidate = old.get(p.name)
        fresh = ProviderClient(p, server, state=shared) if candidate is None else None
        if candidate is not None:
            probe = ProviderClient.fingerprint_of(p, server)
            if probe != candidate.fingerprint:
                fresh = ProviderClient(p, server, state=shared)
        clients[p.name] = fresh or candidate  # type: ignore[assignment]
    version = previous.version + 1 if previous else 1
    return Runtime(
        loaded,
        router,
        clients,
        version,
        RetryPolicy.from_server(loaded.config.server),
        secrets=Scrubber(config_secrets(loaded.config)),
    )


def replaces_badly(loaded: LoadedConfig, current: Runtime) -> DiagnosticError | None:
    """An empty or provider-less file replacing a working config is an accident (an editor's
    truncating save, `: > config.toml`), not an intent: keep serving and say so."""
    if loaded.config.providers or not current.config.providers:
        return None
    what = "is empty" if not loaded.source.strip() else "has no [[providers]]"
    return DiagnosticError(
        [
            Diagnostic(
                str(loaded.path),
                0,
                0,
                f"the config file {what}; keeping the running config "
                f"({len(current.config.providers)} providers). Restore the file, or restart ccm "
                "to start from it on purpose",
                code="config-emptied",
            )
        ]
    )


def file_signature(paths: list[Path]) -> tuple[tuple[int, int, int] | None, ...]:
    """(inode, mtime_ns, size) of each file: what changes when a file is written or replaced."""
    out: list[tuple[int, int, int] | None] = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)


def shared_state(config: Config) -> SharedState:
    """[state] url's state, or in-process state when unset or unusable (said once)."""
    try:
        return open_state(config.state.url)
    except Exception as e:  # an unset $VAR, redis-py missing: serve on local state
        log.error("[state] url is not usable (%s); breakers and key rests stay in-process", e)
        return LocalState()


class State:
    """Holds the current Runtime. Requests read `state.runtime` once and keep that object,
    so a reload never changes the rules under a request in flight.

    `fresh()`, awaited before each request is routed, reloads first when the config or rules
    file changed on disk since it was loaded (one os.stat of each): every worker of `ccm start
    --workers N` applies an admin write made through another before it routes again, with
    or without file watching."""

    def __init__(self, config_path: Path, runtime: Runtime) -> None:
        self.config_path = config_path
        self.runtime = runtime
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.started_at = time.time()
        self._lock = asyncio.Lock()
        self.write_lock = asyncio.Lock()
        server = runtime.config.server
        # breakers, key rests, counters and locks: in-process, or Redis ([state] url; read at
        # start); connected when the app starts (ccm/server/app.py lifespan)
        self.shared = shared_state(runtime.config)
        runtime.adopt(self.shared)
        self._share_logins()
        # health outlives reloads: a provider that was failing is still failing after an edit
        self.health = Health(
            server.circuit_failures, server.circuit_cooldown_ms / 1000, self.shared
        )  # admin writes: one at a time, file and reload together
        self._watched: tuple[Runtime | None, list[Path]] = (None, [])
        self._seen = file_signature(self.watched_paths())
        self.recent: deque[dict[str, Any]] = deque(maxlen=500)  # for the admin Logs tab
        scrub_logs(runtime.secrets)
        for path in self.watched_paths():
            for stale in remove_stale_temp_files(path):
                log.warning("removed %s, left by an interrupted config write", stale.name)
        # usage ledger, metrics and tracing ([ledger], [metrics] are read at start);
        # its writer thread runs between app start-up and shutdown (ccm/server/app.py)
        self.ledger = Ledger(config_path, runtime.config)
        self.metrics = self.ledger.metrics

    def _share_logins(self) -> None:
        """OAuth sign-ins in progress where every instance finds them (Redis), when shared."""
        url = getattr(self.shared, "url", None)
        if url:
            from ccm.oauth.login import RedisLogins, default_manager

            default_manager.shared = RedisLogins(url)

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
        rt = self.runtime
        if self._watched[0] is not rt:  # per runtime: pathlib costs more than the stats
            paths = [self.config_path]
            rules = rt.loaded.rules_path()
            if rules is not None:
                paths.append(rules)
            self._watched = (rt, paths)
        return self._watched[1]

    async def fresh(self) -> None:
        """Reload first if the config or rules file changed since it was loaded."""
        if file_signature(self.watched_paths()) != self._seen:
            await self.reload(if_changed=True)

    async def reload(self, *, if_changed: bool = False) -> bool:
        """Load and compile; swap on success, keep the old runtime and record why on failure.
        `if_changed`: only if the files changed since the last load (another request may
        have reloaded while this one waited for the lock)."""
        async with self._lock:
            seen = file_signature(self.watched_paths())
            if if_changed and seen == self._seen:
                return self.last_error is None
            self._seen = seen
            try:
                loaded = load_config(self.config_path)
                emptied = replaces_badly(loaded, self.runtime)
                if emptied is not None:
                    raise emptied
                new = build_runtime(loaded, self.runtime, self.shared)
            except DiagnosticError as e:
                self.last_error = str(e)
                self.last_error_at = time.time()
                log.error(
                    "reload failed; still serving rules version %d:\n%s", self.runtime.version, e
                )
                return False
            except Exception as e:  # an unexpected bug must not stop the server
                self.last_error = self.runtime.secrets.text(f"reload failed: {e!r}")
                self.last_error_at = time.time()
                log.exception("reload failed; still serving rules version %d", self.runtime.version)
                return False
            old = self.runtime
            self.runtime = new
            if old.loaded.rules_path() != loaded.rules_path():  # watch the new rules file
                self._seen = file_signature(self.watched_paths())
            scrub_logs(new.secrets)
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
        await self.shared.aclose()
        await asyncio.to_thread(self.ledger.stop)
