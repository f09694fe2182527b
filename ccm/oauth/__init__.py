"""OAuth 2.0 + PKCE sign-in for subscription providers (Claude Pro/Max, ChatGPT, Google).

* flows: the providers' endpoints and clients, as data (environment overridable)
* pkce: verifier, S256 challenge, state, authorization URL
* store: the token file (claude-code-mux format and path, always 0600)
* refresh: `access_token()` — a valid token, refreshed once per expiry under a lock
* login: `start_login()` / `finish_login()` (verifier kept server-side, state checked),
  the local callback listener and its escaped page
* cli: `ccm login` and `ccm oauth ...`
"""

from ccm.oauth.flows import (
    ANTHROPIC_OAUTH_BETA,
    FLOW_NAMES,
    ClientMissing,
    Flow,
    OAuthError,
    flow_for_provider_type,
    get_flow,
    merge_anthropic_beta,
)
from ccm.oauth.login import (
    CallbackOutcome,
    CallbackServer,
    LoginManager,
    LoginSession,
    callback_page,
    complete_callback,
    finish_login,
    start_login,
)
from ccm.oauth.pkce import authorization_url, challenge, new_state, new_verifier
from ccm.oauth.refresh import access_token, oauth_headers, refresh_token
from ccm.oauth.store import TokenRecord, TokenStore

__all__ = [
    "ANTHROPIC_OAUTH_BETA",
    "FLOW_NAMES",
    "CallbackOutcome",
    "CallbackServer",
    "ClientMissing",
    "Flow",
    "LoginManager",
    "LoginSession",
    "OAuthError",
    "TokenRecord",
    "TokenStore",
    "access_token",
    "authorization_url",
    "callback_page",
    "challenge",
    "complete_callback",
    "finish_login",
    "flow_for_provider_type",
    "get_flow",
    "merge_anthropic_beta",
    "new_state",
    "new_verifier",
    "oauth_headers",
    "refresh_token",
    "start_login",
]
