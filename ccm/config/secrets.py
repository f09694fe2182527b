"""Secrets: resolve `$ENV_VAR` references at the moment of use (never store the resolved value),
show them only as a mask or a short fingerprint, and scrub them from any text ccm passes on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from ccm.config.load import env_reference

REDACTED = "********"
MIN_SECRET_LEN = 8  # shorter values are not worth scrubbing (and would match ordinary words)


class MissingSecret(Exception):
    pass


def resolve(value: str | None, what: str) -> str | None:
    """The secret `value` stands for: the env var's value for "$NAME", else `value` itself."""
    var = env_reference(value)
    if var is None:
        return value or None
    secret = os.environ.get(var)
    if not secret:
        raise MissingSecret(f"{what}: environment variable ${var} is not set")
    return secret


def try_resolve(value: str | None) -> str | None:
    """The secret, or None when it is unset or names an unset variable."""
    try:
        return resolve(value, "")
    except MissingSecret:
        return None


def fingerprint(secret: str | None) -> str | None:
    """A short stable name for a secret (first 8 hex digits of its SHA-256), never the secret:
    enough to tell keys apart in the ledger, logs and key pools."""
    if not secret:
        return None
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def redact(value: str | None) -> str | None:
    """What an answer or a log may show of a secret: a $ENV reference as is, else a mask."""
    if value is None:
        return None
    if env_reference(value):
        return value
    return REDACTED if value else ""


def redact_url(url: str | None) -> str | None:
    """A URL with its password masked (`http://user:********@host:port`)."""
    if not url or env_reference(url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{REDACTED}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def url_password(url: str | None) -> str | None:
    try:
        return urlsplit(url).password if url else None
    except ValueError:
        return None


class Scrubber:
    """Replaces every known secret in a text with its fingerprint. Built from the config's
    secrets (resolved now, so an env var set later is still covered on the next build)."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        found = {s for s in secrets if s and len(s) >= MIN_SECRET_LEN}
        # longest first, so a key that contains another is replaced whole
        self._secrets = sorted(found, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in self._secrets)) if self._secrets else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    @property
    def values(self) -> list[str]:
        return list(self._secrets)

    def text(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(lambda m: f"fp:{fingerprint(m.group(0))}", text)

    def bytes(self, data: bytes) -> bytes:
        if self._pattern is None or not data:
            return data
        text = data.decode("utf-8", "surrogateescape")
        out = self.text(text)
        return data if out == text else out.encode("utf-8", "surrogateescape")


EMPTY_SCRUBBER = Scrubber(())


class LogScrubbing(logging.Filter):
    """A handler filter that scrubs known secrets from every log line (an upstream error text
    that repeats a key must not reach the log file)."""

    def __init__(self) -> None:
        super().__init__()
        self.scrubber: Scrubber = EMPTY_SCRUBBER

    def filter(self, record: logging.LogRecord) -> bool:
        if self.scrubber:
            message = record.getMessage()
            clean = self.scrubber.text(message)
            if clean != message:
                record.msg, record.args = clean, None
        return True


LOG_SCRUBBING = LogScrubbing()


def scrub_logs(scrubber: Scrubber) -> None:
    """Scrub `scrubber`'s secrets from every line the root logger's handlers write."""
    LOG_SCRUBBING.scrubber = scrubber
    for handler in logging.getLogger().handlers:
        if LOG_SCRUBBING not in handler.filters:
            handler.addFilter(LOG_SCRUBBING)
