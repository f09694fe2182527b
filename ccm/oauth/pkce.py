"""PKCE (RFC 7636): verifier, S256 challenge, state, and the authorization URL."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import quote, urlencode

from ccm.oauth.flows import Flow

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_verifier(nbytes: int = 32) -> str:
    """A random code verifier: 32 bytes -> 43 base64url characters (RFC 7636 allows 43-128)."""
    if not 32 <= nbytes <= 96:
        raise ValueError("a verifier needs 32..96 random bytes (43..128 characters)")
    return _b64url(secrets.token_bytes(nbytes))


def is_valid_verifier(verifier: str) -> bool:
    return bool(_VERIFIER.match(verifier))


def challenge(verifier: str) -> str:
    """The S256 code challenge: base64url(sha256(verifier)) without padding."""
    if not is_valid_verifier(verifier):
        raise ValueError("a PKCE verifier is 43-128 characters of [A-Za-z0-9-._~]")
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_state() -> str:
    """An unguessable state value (256 bits), unrelated to the verifier."""
    return secrets.token_urlsafe(32)


def authorization_url(flow: Flow, redirect_uri: str, state: str, challenge: str) -> str:
    """Where the user signs in. The verifier never appears here, only its challenge."""
    params: list[tuple[str, str]] = [
        ("response_type", "code"),
        ("client_id", flow.client_id),
        ("redirect_uri", redirect_uri),
        ("scope", flow.scopes),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", state),
        *flow.extra_params,
    ]
    sep = "&" if "?" in flow.authorize_url else "?"
    return flow.authorize_url + sep + urlencode(params, quote_via=quote)


__all__ = [
    "authorization_url",
    "challenge",
    "is_valid_verifier",
    "new_state",
    "new_verifier",
]
