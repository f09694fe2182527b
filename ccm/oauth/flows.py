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
environment; `Flow.require_client` says which variable is missing, why, and what else works
(`Flow.missing()`, `Flow.client_help()`: `ccm login`, `ccm oauth flows` and the admin page
say the same).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit


class OAuthError(Exception):
    """An OAuth step failed; the message says what to do (never contains a token)."""


class ClientMissing(OAuthError):
    """The flow has no client id (or secret) in this ccm's environment. `variables`: what
    to set; the message says why and what else works."""

    def __init__(self, flow: Flow, variables: list[str]) -> None:
        super().__init__(flow.client_help(variables))
        self.flow = flow.name
        self.variables = variables


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
    client_of: str = ""  # the application whose public OAuth client this flow needs
    otherwise: str = ""  # what works without a client id

    @property
    def env_prefix(self) -> str:
        return "CCM_OAUTH_" + self.name.upper().replace("-", "_")

    @property
    def local_redirect(self) -> bool:
        """True when the browser comes back to this machine (a local listener can catch it)."""
        return not self.redirect_uri or is_local_uri(self.redirect_uri)

    def missing(self) -> list[str]:
        """The environment variables this flow still needs before a sign-in can start."""
        out = []
        if not self.client_id:
            out.append(f"{self.env_prefix}_CLIENT_ID")
        if self.needs_secret and not self.client_secret:
            out.append(f"{self.env_prefix}_CLIENT_SECRET")
        return out

    def client_help(self, variables: list[str]) -> str:
        """Why the flow cannot start without `variables`, what to set, what else works."""
        if len(variables) > 1:
            what = "client id and secret"
        else:
            what = "client secret" if variables[0].endswith("_SECRET") else "client id"
        text = (
            f"OAuth flow {self.name!r} ({self.title}) has no {what}: "
            f"set {' and '.join(variables)}. Why: ccm ships no client ids; a sign-in needs the "
            f"public OAuth client of {self.client_of or 'an application the provider trusts'} "
            "(another application's, so whether to use it is yours to judge). Set it where "
            "ccm runs: in your shell for `ccm login`; for the admin page, in the environment of "
            "`ccm start`, then restart ccm (`ccm stop`, `ccm start`), which reads its "
            "environment once. `ccm oauth flows` shows what each flow has."
        )
        return f"{text} {self.otherwise}" if self.otherwise else text

    def require_client(self) -> Flow:
        """Self, or ClientMissing (an OAuthError) naming the variables to set and why."""
        missing = self.missing()
        if missing:
            raise ClientMissing(self, missing)
        for what, url in (("AUTHORIZE_URL", self.authorize_url), ("TOKEN_URL", self.token_url)):
            if urlsplit(url).scheme not in ("https", "http"):
                raise OAuthError(f"OAuth flow {self.name!r}: {self.env_prefix}_{what} {url!r}")
        return self


# Claude Code's sign-in; the Console's is the same client and token endpoint, authorized at
# the Console, and it serves no provider type of its own
_CLAUDE_MAX = Flow(
    name="claude-max",
    client_of="Claude Code",
    otherwise='Or keep Claude Code\'s own login instead: a provider with auth_type = "client" forwards it, and ccm needs no sign-in (docs/config.md).',
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
)

_FLOWS: dict[str, Flow] = {
    "claude-max": _CLAUDE_MAX,
    "claude-console": replace(
        _CLAUDE_MAX,
        name="claude-console",
        title="Anthropic Console",
        authorize_url="https://console.anthropic.com/oauth/authorize",
        provider_types=(),
    ),
    "chatgpt": Flow(
        name="chatgpt",
        client_of="the Codex CLI",
        otherwise="Or take the Codex CLI's sign-in as it is: `ccm login --import` (refreshing it later needs the client id too).",
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
        client_of="the Gemini CLI",
        otherwise="Or take the Gemini CLI's sign-in as it is: `ccm login --import` (refreshing it later needs the client id and secret too).",
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
    "ClientMissing",
    "Flow",
    "OAuthError",
    "canonical_name",
    "flow_for_provider_type",
    "get_flow",
    "is_local_uri",
    "merge_anthropic_beta",
]
