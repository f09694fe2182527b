"""Who may call ccm: the one reader of a client's credential, and the loopback / Host checks that
keep a web page out (docs/security.md).

A browser on this machine can reach 127.0.0.1. Without a token, the admin API trusts only a
loopback peer that also names this machine in `Host` by an IP literal or `localhost`; any other
name, even one that resolves to 127.0.0.1 (DNS rebinding: `127.0.0.1.evil.example`), is refused.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from ccm.config.schema import ServerConfig
from ccm.config.secrets import MissingSecret, resolve

LOCAL_NAMES = frozenset({"localhost", "localhost."})


def client_credential(headers: Mapping[str, str]) -> str:
    """What a client presents as its key: `x-api-key`, else `Authorization: Bearer ...`."""
    given = headers.get("x-api-key") or ""
    if not given:
        auth = headers.get("authorization") or ""
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
    return given


def same_secret(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback_peer(peer: str) -> bool:
    """The TCP peer (always an address) is this machine."""
    ip = ip_literal(peer)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def host_name(host_header: str | None) -> str:
    """The host part of a `Host` header value, lower case, without port or IPv6 brackets."""
    if not host_header:
        return ""
    try:
        return (urlsplit("//" + host_header).hostname or "").lower()
    except ValueError:  # e.g. an unbalanced "[" in a hostile header
        return ""


def is_local_host(host_header: str | None, server: ServerConfig) -> bool:
    """`Host` names this machine without DNS: a loopback IP literal, `localhost`, or the exact
    host ccm was configured to serve on, or a name in `[server] allowed_hosts`. Names that merely start with `127.` are not literals."""
    host = host_name(host_header)
    if not host:
        return False
    if host in LOCAL_NAMES:
        return True
    ip = ip_literal(host)
    if ip is not None and ip.is_loopback:
        return True
    configured = server.host.lower().strip("[]")
    if configured and host == configured and configured not in ("0.0.0.0", "::"):
        return True
    return host in {h.lower() for h in server.allowed_hosts}


def binds_loopback(server: ServerConfig) -> bool:
    host = server.host.strip("[]").lower()
    if host in LOCAL_NAMES:
        return True
    ip = ip_literal(host)
    return ip is not None and ip.is_loopback


def admin_token(server: ServerConfig) -> str | None:
    """The configured admin token, resolved; MissingSecret when it names an unset variable."""
    if not server.admin_token:
        return None
    return resolve(server.admin_token, "server.admin_token")


def is_admin(
    headers: Mapping[str, str], peer: str | None, server: ServerConfig
) -> tuple[bool, str | None]:
    """(allowed, why not). With a token: the token, from anywhere. Without: a loopback peer that
    names this machine in Host (no DNS rebinding)."""
    try:
        token = admin_token(server)
    except MissingSecret:
        return False, "server.admin_token refers to an unset variable"
    if token:
        given = headers.get("x-ccm-admin-token") or client_credential(headers)
        if same_secret(given, token):
            return True, None
        return False, "admin token required (Authorization: Bearer ... or x-ccm-admin-token)"
    if not is_loopback_peer(peer or ""):
        return False, "the admin API answers loopback clients only; set [server] admin_token"
    if not is_local_host(headers.get("host"), server):
        return False, (
            f"Host {host_name(headers.get('host'))!r} is not this machine by address "
            "(DNS rebinding guard); use http://127.0.0.1 or http://localhost, or set admin_token"
        )
    return True, None


def browser_refusal(headers: Mapping[str, str], server: ServerConfig) -> str | None:
    """Why a proxy request that a web page sent is refused, or None. Only for a ccm bound to
    loopback with no client key: there, a page on any site (or a DNS-rebound name) could
    otherwise spend the user's provider keys through it, since a text/plain POST needs no CORS
    preflight. Browsers send Origin with every POST; programs (Claude Code, SDKs) send none."""
    origin = headers.get("origin")
    if not origin or server.api_key or not binds_loopback(server):
        return None
    if not is_local_host(_origin_host(origin), server):
        return f"requests from web pages are refused (Origin {origin[:100]!r})"
    return None


def _origin_host(origin: str) -> str:
    try:
        return urlsplit(origin).netloc
    except ValueError:
        return ""


def same_origin(headers: Mapping[str, str]) -> bool:
    """A write's Origin (when a browser sends one) is the host it was sent to."""
    origin = headers.get("origin")
    if not origin:
        return True
    return _origin_host(origin).lower() == (headers.get("host") or "").lower()
