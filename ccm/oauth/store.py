"""The OAuth token file, in claude-code-mux's format and place.

``~/.claude-code-mux/oauth_tokens.json`` (or ``$CCM_OAUTH_TOKENS``, or the path given): a JSON
object keyed by token id (a provider's ``oauth_provider``)::

    {"claude-max": {"provider_id": "claude-max", "access_token": "...",
                    "refresh_token": "...", "expires_at": "2025-01-01T12:00:00Z",
                    "project_id": "...", "enterprise_url": "..."}}

ccm adds an optional ``flow`` (how the token was issued, so it is refreshed at the right
place); keys it does not know are kept as they are.

Unlike claude-code-mux the file is never readable by others, not even for a moment: every
write goes to a new temp file created with mode 0600 (``os.open(..., 0o600)``, whatever the
umask), fsynced, then renamed over the file. Writers (this process and `ccm login` in
another) take an exclusive lock on ``oauth_tokens.json.lock`` for the read-modify-write.
The file is re-read when it changed on disk, so a running server sees a new login at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from ccm.files import atomic_write
from ccm.oauth.flows import OAuthError

try:  # POSIX; elsewhere writers are only serialised within the process
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("ccm.oauth")

ENV_PATH = "CCM_OAUTH_TOKENS"
REFRESH_MARGIN = timedelta(minutes=5)
FILE_MODE = 0o600


def default_path() -> Path:
    env = os.environ.get(ENV_PATH)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".claude-code-mux" / "oauth_tokens.json"


def now_utc() -> datetime:
    return datetime.now(UTC)


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with a Z, whole seconds (chrono, as claude-code-mux uses, reads it)."""
    return t.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    """An RFC 3339 time (Z or offset, up to nanoseconds); a time without offset is UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # fromisoformat takes at most 6 fractional digits everywhere
        digits = len(rest) - len(rest.lstrip("0123456789"))
        rest = rest[: min(digits, 6)] + rest[digits:]
        text = head + "." + rest if rest[:1].isdigit() else head + rest
    t = datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class TokenRecord(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False):
    provider_id: str
    access_token: str
    refresh_token: str
    expires_at: str  # RFC 3339 UTC
    project_id: str | None = None
    enterprise_url: str | None = None
    flow: str | None = None  # ccm: the flow that issued it

    @property
    def expires(self) -> datetime:
        try:
            return parse_time(self.expires_at)
        except ValueError:
            return datetime.min.replace(tzinfo=UTC)  # unreadable: treat as expired

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or now_utc()) >= self.expires

    def needs_refresh(
        self, now: datetime | None = None, margin: timedelta = REFRESH_MARGIN
    ) -> bool:
        return (now or now_utc()) + margin >= self.expires

    def summary(self, now: datetime | None = None) -> dict[str, Any]:
        """What a listing may show: no token."""
        now = now or now_utc()
        out: dict[str, Any] = {
            "provider_id": self.provider_id,
            "expires_at": self.expires_at,
            "is_expired": self.is_expired(now),
            "needs_refresh": self.needs_refresh(now),
        }
        for key in ("flow", "project_id", "enterprise_url"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


KNOWN_FIELDS = frozenset(f.name for f in msgspec.structs.fields(TokenRecord))


class TokenStore:
    """The token file. Safe to share between tasks of one event loop and between threads."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        self._lock = threading.RLock()
        self._data: dict[str, Any] = {}
        self._signature: tuple[int, int, int] | None = None

    # ---- reading -----------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        """The file's object, re-read only when it changed on disk."""
        with self._lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                self._data, self._signature = {}, None
                return self._data
            signature = (st.st_ino, st.st_mtime_ns, st.st_size)
            if signature == self._signature:
                return self._data
            if st.st_mode & 0o077 and st.st_uid == getattr(os, "getuid", lambda: -1)():
                # written by an older tool with the umask's mode: close it now
                with contextlib.suppress(OSError):
                    os.chmod(self.path, FILE_MODE)
                    log.warning("token file %s was readable by others; now 0600", self.path)
            try:
                raw = self.path.read_bytes()
                data = json.loads(raw) if raw.strip() else {}
            except (OSError, ValueError) as e:
                raise OAuthError(f"cannot read the OAuth token file {self.path}: {e}") from None
            if not isinstance(data, dict):
                raise OAuthError(f"the OAuth token file {self.path} is not a JSON object")
            self._data, self._signature = data, signature
            return data

    def get(self, provider_id: str) -> TokenRecord | None:
        entry = self._load().get(provider_id)
        if not isinstance(entry, dict):
            return None
        entry = {**entry, "provider_id": provider_id}  # the key is the id
        try:
            return msgspec.convert(entry, TokenRecord)
        except msgspec.ValidationError as e:
            raise OAuthError(
                f"OAuth token {provider_id!r} in {self.path} is malformed: {e}"
            ) from None

    def list(self) -> list[dict[str, Any]]:
        """[{provider_id, expires_at, is_expired, needs_refresh, flow?, project_id?}], no secrets."""
        now = now_utc()
        out = []
        for pid in sorted(self._load()):
            rec = self.get(pid)
            if rec is not None:
                out.append(rec.summary(now))
        return out

    def ids(self) -> list[str]:
        return sorted(self._load())

    # ---- writing -----------------------------------------------------------------------

    def save(self, record: TokenRecord) -> None:
        def change(data: dict[str, Any]) -> None:
            old = data.get(record.provider_id)
            kept = {k: v for k, v in (old or {}).items() if k not in KNOWN_FIELDS}
            data[record.provider_id] = kept | msgspec.to_builtins(record)

        self._edit(change)

    def delete(self, provider_id: str) -> bool:
        found = False

        def change(data: dict[str, Any]) -> None:
            nonlocal found
            found = data.pop(provider_id, None) is not None

        self._edit(change)
        return found

    def _edit(self, change: Any) -> None:
        with self._lock, self._file_lock():
            self._signature = None  # re-read under the lock: another process may have written
            data = dict(self._load())
            change(data)
            self._write(data)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self._ensure_dir()
        if fcntl is None:  # pragma: no cover
            yield
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _ensure_dir(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _write(self, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        atomic_write(self.path, text, FILE_MODE)  # 0600 from the first moment
        target = self.path.resolve()
        st = os.stat(target)
        self._data, self._signature = data, (st.st_ino, st.st_mtime_ns, st.st_size)

    def mode(self) -> int | None:
        """The file's permission bits (None when there is no file)."""
        try:
            return stat.S_IMODE(os.stat(self.path).st_mode)
        except FileNotFoundError:
            return None


__all__ = [
    "ENV_PATH",
    "REFRESH_MARGIN",
    "TokenRecord",
    "TokenStore",
    "default_path",
    "format_time",
    "parse_time",
]
