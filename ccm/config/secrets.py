"""Resolve `$ENV_VAR` references at the moment of use; never store the resolved value."""

from __future__ import annotations

import hashlib
import os

from ccm.config.load import env_reference


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


def redact(value: str | None) -> str | None:
    """What an answer or a log may show of a secret: a $ENV reference as is, else a mask."""
    if value is None:
        return None
    if env_reference(value):
        return value
    return "********" if value else ""


def fingerprint(secret: str | None) -> str | None:
    """A short stable name for a secret (first 8 hex digits of its SHA-256), never the secret:
    enough to tell keys apart in the ledger, logs and key pools."""
    if not secret:
        return None
    return hashlib.sha256(secret.encode()).hexdigest()[:8]
