"""Provider health: a circuit breaker per provider, shared by every request of a process and,
through ccm.state, by every worker and instance that share a state.

Closed: requests go through. After `threshold` consecutive retryable failures the circuit
opens: failover skips the provider. After `cooldown` seconds it half-opens: one request (per
process) may probe it; success closes it, failure opens it again for another cool-down.
Whether a circuit is open, and since when, lives in the shared state (wall-clock time, so
instances agree); the counts and recent errors shown in /api/status are this process's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ccm.state import LocalState, SharedState


@dataclass
class Breaker:
    consecutive: int = 0
    probing: bool = False
    ok: int = 0
    failed: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    recent: list[tuple[float, str]] = field(default_factory=list)


class Health:
    def __init__(
        self, threshold: int = 5, cooldown: float = 30.0, state: SharedState | None = None
    ) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.state: SharedState = state if state is not None else LocalState()
        self.breakers: dict[str, Breaker] = {}

    def configure(self, threshold: int, cooldown: float) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = cooldown

    def _b(self, provider: str) -> Breaker:
        b = self.breakers.get(provider)
        if b is None:
            b = self.breakers[provider] = Breaker()
        return b

    def circuit(self, provider: str, now: float | None = None) -> str:
        opened = self.state.breaker_opened(provider)
        if opened is None:
            return "closed"
        now = time.time() if now is None else now
        return "half-open" if now - opened >= self.cooldown else "open"

    def allow(self, provider: str) -> bool:
        """May a request go to `provider` now? Takes the half-open probe slot if free."""
        opened = self.state.breaker_opened(provider)
        if opened is None:
            return True
        if time.time() - opened < self.cooldown:
            return False
        b = self._b(provider)
        if b.probing:
            return False
        b.probing = True
        return True

    def release(self, provider: str) -> None:
        """The request that took the probe slot never reached the provider (its keys rest, a
        config fault): free the slot for the next request."""
        b = self.breakers.get(provider)
        if b is not None:
            b.probing = False

    def probe_at(self, provider: str) -> float:
        """When the circuit half-opens (wall clock); now when it is not open."""
        opened = self.state.breaker_opened(provider)
        return time.time() if opened is None else opened + self.cooldown

    def is_open(self, provider: str) -> bool:
        return self.circuit(provider) != "closed"

    def success(self, provider: str) -> None:
        b = self._b(provider)
        b.ok += 1
        b.consecutive = 0
        b.probing = False
        if self.state.breaker_opened(provider) is not None:
            self.state.set_breaker(provider, None)

    def failure(self, provider: str, reason: str) -> None:
        b = self._b(provider)
        b.failed += 1
        b.consecutive += 1
        b.last_error = reason
        b.last_error_at = time.time()
        b.recent = [*b.recent[-9:], (b.last_error_at, reason)]
        opened = self.state.breaker_opened(provider)
        if b.probing or (b.consecutive >= self.threshold and opened is None):
            self.state.set_breaker(provider, time.time())
        b.probing = False

    def snapshot(self, provider: str) -> dict[str, Any]:
        b = self.breakers.get(provider) or Breaker()
        return {
            "circuit": self.circuit(provider),
            "consecutive_failures": b.consecutive,
            "ok": b.ok,
            "failed": b.failed,
            "last_error": b.last_error,
            "last_error_at": b.last_error_at,
            "recent_errors": [{"time": t, "reason": r} for t, r in b.recent],
        }
