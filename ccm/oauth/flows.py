"""The OAuth 2.0 (PKCE) sign-in flows of subscription providers, as data.

The flows are the ones claude-code-mux supports (its oauth_type in brackets):

* ``claude-max`` [max]: Claude Pro/Max. The redirect is Anthropic's own page, which shows
  ``code#state`` for the user to paste. Token requests are JSON.
* ``claude-console`` [console]: the same with the Anthropic Console authorize page.
* ``chatgpt`` [openai-codex]: ChatGPT Plus/Pro via the Codex CLI client; redirect to a local
  listener on ``localhost:1455``. Token requests are form-encoded.
* ``google`` [gemini]: Google AI Pro/Ultra via Gemini Code Assist; redirect to a local callback
  on any loopback port; form-encoded with the (public) client secret; afterwards the Code
  Assist project is looked up and stored with the token.

Every URL and client credential can be overridden per flow by environment variables, read
when `get_flow` is called: ``CCM_OAUTH_<FLOW>_CLIENT_ID``, ``_CLIENT_SECRET``,
``_AUTHORIZE_URL``, ``_TOKEN_URL``, ``_REDIRECT_URI``, ``_CODE_ASSIST_URL`` where ``<FLOW>`` is
the flow name upper-cased with ``-`` as ``_`` (``CCM_OAUTH_CLAUDE_MAX_CLIENT_ID``).

Client ids: claude-code-mux bundles the public client ids of Claude Code, the Codex CLI and
the Gemini CLI. ccm does not ship them (the behaviour reference does not record them, and
using another application's client is that application's terms to judge): set them in the
environment; `Flow.require_client` says which variable is missing.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit


class OAuthError(Exception):
    """An OAuth step failed; the message says what to do (never contains a token)."""


ANTHROPIC_OAUTH_BETA = "oauth-2025-04-20"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    title: str
    authorize_url: str
    token_url: str
    client_id: str
    scopes: str
    # "" = a local callback on a free loopback port, path `local_path` (chosen at login)
    redirect_uri: str
    token_format: Literal["json", "form"]
    client_secret: str = ""
    needs_secret: bool = False
    extra_params: tuple[tuple[str, str], ...] = ()
    state_in_token_request: bool = False  # Anthropic's token endpoint wants `state` too
    local_path: str = "/oauth2callback"
    code_assist_url: str = ""  # google: where loadCodeAssist finds the project
    provider_types: tuple[str, ...] = ()

    @property
    def env_prefix(self) -> str:
        return "CCM_OAUTH_" + self.name.upper().replace("-", "_")

    @property
    def local_redirect(self) -> bool:
        """True when the browser comes back to this machine (a local listener can catch it)."""
        return not self.redirect_uri or is_local_uri(self.redirect_uri)

    def require_client(self) -> Flow:
        """Self, or OAuthError naming the environment variable to set."""
        if not self.client_id:
            raise OAuthError(
                f"OAuth flow {self.name!r} has no client id: set {self.env_prefix}_CLIENT_ID"
            )
        if self.needs_secret and not self.client_secret:
            raise OAuthError(
                f"OAuth flow {self.name!r} has no client secret: set {self.env_prefix}_CLIENT_SECRET"
            )
        for what, url in (("AUTHORIZE_URL", self.authorize_url), ("TOKEN_URL", self.token_url)):
            if urlsplit(url).scheme not in ("https", "http"):
                raise OAuthError(f"OAuth flow {self.name!r}: {self.env_prefix}_{what} {url!r}")
        return self


_FLOWS: dict[str, Flow] = {
    "claude-max": Flow(
        name="claude-max",
        title="Claude Pro/Max",
        authorize_url="https://claude.ai/oauth/authorize",
        token_url="https://console.anthropic.com/v1/oauth/token",
        client_id="",
        scopes="org:create_api_key user:profile user:inference",
        redirect_uri="https://console.anthropic.com/oauth/code/callback",
        token_format="json",
        extra_params=(("code", "true"),),
        state_in_token_request=True,
        provider_types=("anthropic",),
    ),
    "claude-console": Flow(
        name="claude-console",
        title="Anthropic Console",
        authorize_url="https://console.anthropic.com/oauth/authorize",
        token_url="https://console.anthropic.com/v1/oauth/token",
        client_id="",
        scopes="org:create_api_key user:profile user:inference",
        redirect_uri="https://console.anthropic.com/oauth/code/callback",
        token_format="json",
        extra_params=(("code", "true"),),
        state_in_token_request=True,
    ),
    "chatgpt": Flow(
        name="chatgpt",
        title="ChatGPT Plus/Pro (Codex)",
        authorize_url="https://auth.openai.com/oauth/authorize",
        token_url="https://auth.openai.com/oauth/token",
        client_id="",
        scopes="openid profile email offline_access",
        redirect_uri="http://localhost:1455/auth/callback",
        token_format="form",
        extra_params=(
            ("id_token_add_organizations", "true"),
            ("codex_cli_simplified_flow", "true"),
            ("originator", "codex_cli_rs"),
        ),
        provider_types=("openai", "openai-responses"),
    ),
    "google": Flow(
        name="google",
        title="Google AI Pro/Ultra (Gemini Code Assist)",
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        client_id="",
        needs_secret=True,
        scopes=" ".join(
            [
                "https://www.googleapis.com/auth/cloud-platform",
                "https://www.googleapis.com/auth/userinfo.email",
                "https://www.googleapis.com/auth/userinfo.profile",
            ]
        ),
        redirect_uri="",
        token_format="form",
        extra_params=(("access_type", "offline"), ("prompt", "consent")),
        code_assist_url="https://cloudcode-pa.googleapis.com/v1internal",
        provider_types=("gemini",),
    ),
}

# claude-code-mux's oauth_type names (its admin API) and other spellings
ALIASES = {
    "max": "claude-max",
    "claude": "claude-max",
    "claude-pro": "claude-max",
    "anthropic": "claude-max",
    "console": "claude-console",
    "openai-codex": "chatgpt",
    "codex": "chatgpt",
    "openai": "chatgpt",
    "gemini": "google",
}

FLOW_NAMES = tuple(_FLOWS)

_ENV_FIELDS = {
    "CLIENT_ID": "client_id",
    "CLIENT_SECRET": "client_secret",
    "AUTHORIZE_URL": "authorize_url",
    "TOKEN_URL": "token_url",
    "REDIRECT_URI": "redirect_uri",
    "CODE_ASSIST_URL": "code_assist_url",
}


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in _FLOWS:
        raise OAuthError(f"unknown OAuth flow {name!r}; use one of: {', '.join(FLOW_NAMES)}")
    return key


def get_flow(name: str | Flow) -> Flow:
    """The flow by name (or claude-code-mux oauth_type), with environment overrides applied."""
    if isinstance(name, Flow):
        return name
    flow = _FLOWS[canonical_name(name)]
    changes = {}
    for suffix, field in _ENV_FIELDS.items():
        value = os.environ.get(f"{flow.env_prefix}_{suffix}")
        if value:
            changes[field] = value.strip()
    return dataclasses.replace(flow, **changes) if changes else flow


def flow_for_provider_type(provider_type: str) -> str | None:
    """The flow whose tokens a provider type uses: anthropic, openai, gemini."""
    for flow in _FLOWS.values():
        if provider_type in flow.provider_types:
            return flow.name
    return None


def is_local_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and (parts.hostname or "") in LOCAL_HOSTS


def merge_anthropic_beta(*values: str | None) -> str:
    """Comma-joined beta flags, first occurrence kept: the client's, then ours."""
    seen: list[str] = []
    for value in values:
        for flag in (value or "").split(","):
            flag = flag.strip()
            if flag and flag not in seen:
                seen.append(flag)
    return ",".join(seen)


__all__ = [
    "ALIASES",
    "ANTHROPIC_OAUTH_BETA",
    "FLOW_NAMES",
    "Flow",
    "OAuthError",
    "canonical_name",
    "flow_for_provider_type",
    "get_flow",
    "is_local_uri",
    "merge_anthropic_beta",
]
