"""Provider health: a circuit breaker per provider, shared by every request of a process.

Closed: requests go through. After `threshold` consecutive retryable failures the circuit
opens: failover skips the provider. After `cooldown` seconds it half-opens: one request may
probe it; success closes it, failure opens it again for another cool-down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Breaker:
    consecutive: int = 0
    opened_at: float | None = None
    probing: bool = False
    ok: int = 0
    failed: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    recent: list[tuple[float, str]] = field(default_factory=list)

    def state(self, now: float, cooldown: float) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if now - self.opened_at >= cooldown else "open"


class Health:
    def __init__(self, threshold: int = 5, cooldown: float = 30.0) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.breakers: dict[str, Breaker] = {}

    def configure(self, threshold: int, cooldown: float) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = cooldown

    def _b(self, provider: str) -> Breaker:
        b = self.breakers.get(provider)
        if b is None:
            b = self.breakers[provider] = Breaker()
        return b

    def allow(self, provider: str) -> bool:
        """May a request go to `provider` now? Takes the half-open probe slot if free."""
        b = self.breakers.get(provider)
        if b is None or b.opened_at is None:
            return True
        if time.monotonic() - b.opened_at < self.cooldown:
            return False
        if b.probing:
            return False
        b.probing = True
        return True

    def is_open(self, provider: str) -> bool:
        b = self.breakers.get(provider)
        return b is not None and b.state(time.monotonic(), self.cooldown) != "closed"

    def success(self, provider: str) -> None:
        b = self._b(provider)
        b.ok += 1
        b.consecutive = 0
        b.opened_at = None
        b.probing = False

    def failure(self, provider: str, reason: str) -> None:
        b = self._b(provider)
        now = time.monotonic()
        b.failed += 1
        b.consecutive += 1
        b.last_error = reason
        b.last_error_at = time.time()
        b.recent = [*b.recent[-9:], (b.last_error_at, reason)]
        if b.probing or b.consecutive >= self.threshold:
            b.opened_at = now
        b.probing = False

    def snapshot(self, provider: str) -> dict[str, Any]:
        b = self.breakers.get(provider) or Breaker()
        return {
            "circuit": b.state(time.monotonic(), self.cooldown),
            "consecutive_failures": b.consecutive,
            "ok": b.ok,
            "failed": b.failed,
            "last_error": b.last_error,
            "last_error_at": b.last_error_at,
            "recent_errors": [{"time": t, "reason": r} for t, r in b.recent],
        }
