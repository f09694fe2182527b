"""Key pools: the credentials of one provider and which one the next attempt uses.

A provider's pool is its `api_key` plus `api_keys = [...]` (or, signed in, `oauth_providers =
[...]`, else its one `oauth_provider`). `key_strategy` picks among the keys that can serve:

    round-robin  (default) each request the next key; a shared counter across instances
    fill-first   the first key until it rests or is removed, then the next
    least-used   the key with the fewest uses so far
    session      a Claude Code session (metadata.user_id) keeps one key, so its prompt cache
                 keeps hitting; a new session gets the next key round-robin

A key that is answered 429 rests until its reset time (`rest_seconds` reads the headers that
say when; `key_rest_ms` when none does) and the other keys serve meanwhile. A key answered
401, 402 or 403 is removed until the provider's config changes (its `generation`). An OAuth
sign-in answered 401/403 rests instead (a refresh can mend it). A `$VAR` that is not set, or a
sign-in with no token, is a configuration fault: that key is skipped and the fault is logged
once. A key is named everywhere by its fingerprint (ccm.config.secrets.fingerprint), never
by its value. Where rests, removals and counters live is ccm.state's business.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

import msgspec

from ccm.config.load import env_reference
from ccm.config.schema import ProviderConfig
from ccm.config.secrets import MissingSecret, resolve
from ccm.config.secrets import fingerprint as _fingerprint
from ccm.state import SharedState

log = logging.getLogger("ccm.keys")

DEFAULT_REST_S = 60.0
STRATEGIES = ("round-robin", "fill-first", "least-used", "session")
RESTING = 429  # the status that rests a key
REMOVING = frozenset({401, 402, 403})  # the statuses that remove one


@lru_cache(maxsize=1024)
def fingerprint(secret: str) -> str:
    return _fingerprint(secret) or "-"


def generation_of(config: ProviderConfig) -> str:
    """The provider config's hash: a removal holds until it changes."""
    return hashlib.sha256(msgspec.json.encode(config)).hexdigest()[:12]


# ---- when may a rate-limited key be used again ---------------------------------------------

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def go_duration(text: str) -> float | None:
    """OpenAI's reset durations ("1s", "6m0s", "20ms", "1h2m3.5s") in seconds."""
    text = text.strip()
    if not text:
        return None
    pos, total = 0, 0.0
    for m in _GO_DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(text):
        try:
            return max(0.0, float(text))  # a bare number: seconds
        except ValueError:
            return None
    return total


def _rfc3339(text: str, now: float) -> float | None:
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return max(0.0, t.timestamp() - now)


def retry_after(value: str | None, now: float) -> float | None:
    """`retry-after`: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def rest_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """How long the answer says to wait, from (first found wins) `retry-after-ms`,
    `retry-after`, then the reset headers of the limits that ran out: OpenAI's
    `x-ratelimit-reset-requests/-tokens` and Anthropic's `anthropic-ratelimit-*-reset`
    (the longest of those whose `-remaining` is 0; of all when none says). None: unsaid."""
    now = time.time() if now is None else now
    h = {k.lower(): v for k, v in headers.items()}
    ms = h.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    after = retry_after(h.get("retry-after"), now)
    if after is not None:
        return after
    resets: list[tuple[float, bool]] = []  # (seconds, its limit ran out)
    for name, value in h.items():
        if name.startswith("x-ratelimit-reset-"):
            limit = name.removeprefix("x-ratelimit-reset-")
            secs = go_duration(value)
            remaining = h.get(f"x-ratelimit-remaining-{limit}")
        elif name.startswith("anthropic-ratelimit-") and name.endswith("-reset"):
            limit = name.removeprefix("anthropic-ratelimit-").removesuffix("-reset")
            secs = _rfc3339(value, now)
            remaining = h.get(f"anthropic-ratelimit-{limit}-remaining")
        else:
            continue
        if secs is not None:
            resets.append((secs, remaining is not None and remaining.strip() == "0"))
    if not resets:
        return None
    out = [s for s, ran_out in resets if ran_out] or [s for s, _ in resets]
    return max(out)


# ---- the pool -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """One credential of a pool: an API key as written (`ref`: "$VAR" or the key) or an OAuth
    token id. `label` is what may be shown: the $VAR, `api_keys[i]`, or the token id."""

    kind: Literal["key", "oauth"]
    ref: str
    label: str
    field: str = "api_key"  # where it is written: api_key, api_keys[i], oauth_providers[i]

    def secret(self, provider: str) -> str:
        """The key ($VAR resolved now); MissingSecret naming the provider, the field and the
        variable ("provider 'x' api_keys[1]: environment variable $KEY_B is not set")."""
        value = resolve(self.ref, f"provider {provider!r} {self.field}")
        if value is None:
            raise MissingSecret(f"provider {provider!r}: {self.field} is empty")
        return value

    def fp(self, provider: str) -> str:
        return fingerprint(self.secret(provider) if self.kind == "key" else f"oauth:{self.ref}")


class NoKey(MissingSecret):
    """No key of the provider can serve now. `kind`: "rest" (every usable key rests until
    `until`), "removed" (the keys were refused by the upstream), "config" (configuration
    faults: an unset $VAR, a sign-in without a token). A MissingSecret, so code that only
    needs a credential treats it as one."""

    def __init__(self, message: str, kind: str, until: float = 0.0) -> None:
        super().__init__(message)
        self.kind = kind
        self.until = until


def members_of(config: ProviderConfig) -> list[Member]:
    if config.auth_type == "oauth":
        if config.oauth_providers:
            ids = [(i, f"oauth_providers[{n}]") for n, i in enumerate(config.oauth_providers)]
        else:
            ids = [(config.oauth_provider or config.name, "oauth_provider")]
        named: dict[str, str] = {}  # id -> the first place it is named
        for i, field in ids:
            named.setdefault(i, field)
        return [Member("oauth", i, i, field) for i, field in named.items()]
    # a "$VAR" is shown as written; a literal key by where it is
    refs = [("api_key", config.api_key)] if config.api_key else []
    refs += [(f"api_keys[{i}]", ref) for i, ref in enumerate(config.api_keys) if ref]
    seen: set[str] = set()
    out: list[Member] = []
    for field, ref in refs:
        if ref not in seen:
            seen.add(ref)
            out.append(Member("key", ref, ref if env_reference(ref) else field, field))
    return out


class KeyPool:
    """The keys of one provider. `choose` picks the next (skipping resting, removed and
    faulty ones); `failed` rests or removes the key an attempt used."""

    def __init__(self, config: ProviderConfig, state: SharedState) -> None:
        self.provider = config.name
        self.members = members_of(config)
        self.strategy = config.key_strategy or "round-robin"
        self.rest_default = (
            config.key_rest_ms / 1000 if config.key_rest_ms is not None else DEFAULT_REST_S
        )
        self.generation = generation_of(config)
        self.state = state
        self.name = f"{self.provider}:{self.generation}"
        self._issued: dict[str, Member] = {}  # secret -> member (in memory only)
        self._said: set[str] = set()  # configuration faults already logged
        self._faults: dict[str, str] = {}  # member ref -> its fault now (for view())
        self._turn = 0  # a new session's first key (local turns: no round trip for a proposal)

    def __len__(self) -> int:
        return len(self.members)

    def __bool__(self) -> bool:
        return bool(self.members)

    # -- choosing

    def fault(self, member: Member, message: str) -> None:
        """A configuration fault of `member`: skipped while it lasts, said once."""
        self._faults[member.ref] = message
        if message not in self._said:
            self._said.add(message)
            log.error("%s; skipped while this lasts", message)

    async def choose(self, *, session: str | None = None, tried: Iterable[str] = ()) -> Member:
        """The member the next attempt uses; NoKey when none can serve now."""
        skip = set(tried)
        now = time.time()
        usable: list[tuple[Member, str]] = []
        resting: list[float] = []
        removed: list[str] = []
        faults: list[str] = []
        for m in self.members:
            try:
                fp = m.fp(self.provider)
            except MissingSecret as e:
                self.fault(m, str(e))
                faults.append(str(e))
                continue
            if fp in skip:
                continue
            gone = self.state.removal(self.provider, fp, self.generation)
            if gone is not None:
                removed.append(f"key {fp} removed ({gone.reason})")
                continue
            until = self.state.rest_until(self.provider, fp, now)
            if until:
                resting.append(until)
                continue
            usable.append((m, fp))
        if not usable:
            raise self._none_left(resting, removed, faults, bool(skip))
        if len(usable) == 1 or self.strategy == "fill-first":
            member, fp = usable[0]
        elif self.strategy == "least-used":
            counts = self.state.use_counts(self.name)
            member, fp = min(usable, key=lambda u: counts.get(u[1], 0))
        elif self.strategy == "session" and session:
            member, fp = await self._for_session(session, usable)
        else:
            member, fp = usable[await self.state.turn(self.name) % len(usable)]
        if self.strategy == "least-used":
            self.state.used(self.name, fp)
        return member

    async def _for_session(
        self, session: str, usable: list[tuple[Member, str]]
    ) -> tuple[Member, str]:
        """The session's key if it can serve; else a new one, kept for the session (with a
        shared state, the first instance to choose decides: one round trip, once)."""
        fps = {fp: (m, fp) for m, fp in usable}
        held = await self.state.stuck(self.name, session)
        if held in fps:
            return fps[held]
        self._turn += 1
        proposal = usable[self._turn % len(usable)]
        got = await self.state.stick(self.name, session, proposal[1], replace=held is not None)
        if got in fps:
            return fps[got]
        await self.state.stick(self.name, session, proposal[1], replace=True)  # it rests now
        return proposal

    def _none_left(
        self, resting: list[float], removed: list[str], faults: list[str], tried: bool
    ) -> NoKey:
        who = f"provider {self.provider!r}"
        if resting:
            wait = max(0.0, min(resting) - time.time())
            return NoKey(
                f"{who}: every key is rate-limited (next free in {wait:.0f}s)", "rest", min(resting)
            )
        if removed:
            return NoKey(f"{who}: {'; '.join(removed)}", "removed")
        if faults:
            return NoKey("; ".join(dict.fromkeys(faults)), "config")
        if tried:
            return NoKey(f"{who}: no other key to try", "tried")
        return NoKey(f"{who} has no api_key", "config")

    # -- outcomes

    def issued(self, member: Member, secret: str) -> None:
        """Remember which member a credential came from (for `member_of`)."""
        self._faults.pop(member.ref, None)
        if len(self._issued) > 256:
            self._issued.clear()
        self._issued[secret] = member

    def member_of(self, secret: str | None) -> tuple[Member, str] | None:
        """The member behind a credential this pool issued, with its fingerprint."""
        member = self._issued.get(secret or "")
        if member is None:
            return None
        try:
            return member, member.fp(self.provider)
        except MissingSecret:
            return None

    def failed(
        self,
        secret: str | None,
        status: int | None,
        headers: Mapping[str, str],
        message: str = "",
    ) -> str | None:
        """An attempt with this credential failed with `status`: rest (429) or remove
        (401/402/403) its key. What was done ("rest"/"removed"), None when nothing."""
        found = self.member_of(secret)
        if found is None or status is None:
            return None
        member, fp = found
        if secret:
            message = message.replace(secret, f"fp:{fp}")
        message = message[:160]
        if status == RESTING or (member.kind == "oauth" and status in REMOVING):
            secs = rest_seconds(headers)
            secs = self.rest_default if secs is None else secs
            until = time.time() + secs
            self.state.rest(
                self.provider, fp, until, f"{status}: {message}" if message else str(status)
            )
            log.warning(
                "provider %s: key %s answered %d; resting it for %.0fs",
                self.provider,
                fp,
                status,
                secs,
            )
            return "rest"
        if status in REMOVING:
            reason = f"upstream answered {status}" + (f": {message}" if message else "")
            self.state.remove(self.provider, fp, self.generation, reason)
            log.warning(
                "provider %s: key %s answered %d; removed until the config changes",
                self.provider,
                fp,
                status,
            )
            return "removed"
        return None

    # -- reporting

    def view(self) -> list[dict[str, Any]]:
        """Each key by fingerprint with its state: ok / resting until / removed: reason."""
        out: list[dict[str, Any]] = []
        now = time.time()
        for m in self.members:
            try:
                fp = m.fp(self.provider)
            except MissingSecret as e:
                out.append(
                    {"key": m.label, "fingerprint": None, "state": "fault", "reason": str(e)}
                )
                continue
            entry: dict[str, Any] = {
                "key": m.label if m.kind == "oauth" else None,
                "fingerprint": fp,
            }
            if m.kind == "key" and env_reference(m.ref):
                entry["key"] = m.ref  # "$VAR" as written: no secret
            gone = self.state.removal(self.provider, fp, self.generation)
            until = self.state.rest_until(self.provider, fp, now)
            if m.ref in self._faults:
                entry |= {"state": "fault", "reason": self._faults[m.ref]}
            elif gone is not None:
                entry |= {"state": "removed", "reason": gone.reason}
            elif until:
                entry |= {
                    "state": "resting",
                    "until": until,
                    "seconds_left": round(until - now, 1),
                    "reason": self.state.rest_reason(self.provider, fp),
                }
            else:
                entry["state"] = "ok"
            if self.strategy == "least-used":
                entry["uses"] = self.state.use_counts(self.name).get(fp, 0)
            out.append(entry)
        return out


__all__ = [
    "STRATEGIES",
    "KeyPool",
    "Member",
    "NoKey",
    "generation_of",
    "go_duration",
    "members_of",
    "rest_seconds",
    "retry_after",
]
