"""OAuth sign-in through the admin API: /api/oauth/* (guarded like the rest of /api), and the
browser's way back from the provider (/api/oauth/callback, /auth/callback), which is not guarded
(a redirect cannot carry the admin token): it only completes a sign-in in progress, identified
by its unguessable state, and answers an escaped page."""

from __future__ import annotations

from typing import Any, ClassVar

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from ccm.oauth import (
    ClientMissing,
    OAuthError,
    TokenStore,
    complete_callback,
    finish_login,
    flow_for_provider_type,
    get_flow,
    refresh_token,
    start_login,
)
from ccm.oauth.flows import FLOW_NAMES, Flow
from ccm.oauth.login import PAGE_HEADERS
from ccm.runtime import State
from ccm.server.admin.bodies import AuthorizeBody, ExchangeBody, TokenBody
from ccm.server.admin.errors import AdminError, NotFound, SaveFailed
from ccm.wire.anthropic import error_dict


def tokens() -> TokenStore:
    return TokenStore()  # $CCM_OAUTH_TOKENS or ~/.claude-code-mux/oauth_tokens.json


# ---- a flow this ccm cannot start: what to set and why, not a bare 400 ----


def flow_setup(flow: Flow) -> dict[str, Any]:
    """What a flow needs before a sign-in can start, for the page and API clients."""
    missing = flow.missing()
    return {
        "flow": flow.name,
        "title": flow.title,
        "ready": not missing,
        "set": missing,  # environment variables of the `ccm start` process
        "client_of": flow.client_of,
        "restart": bool(missing),  # a running ccm reads its environment once
        "otherwise": flow.otherwise,
        "message": flow.client_help(missing) if missing else "",
    }


class SignInNotSetUp(AdminError):
    """/api/oauth/authorize for a flow without its client id: the answer carries `setup`."""

    def __init__(self, e: ClientMissing) -> None:
        super().__init__(str(e))
        self.setup = flow_setup(get_flow(e.flow))


def _not_set_up(_request: Request[Any, Any, Any], exc: SignInNotSetUp) -> Response[Any]:
    body = {**error_dict(exc.status, exc.message), "setup": exc.setup}
    return Response(content=body, status_code=exc.status, media_type="application/json")


class OAuthController(Controller):
    path = "/oauth"
    exception_handlers: ClassVar = {SignInNotSetUp: _not_set_up}

    @get("/flows")
    async def flows(self) -> list[dict[str, Any]]:
        """Every sign-in flow and whether this ccm can start it (else what to set and why)."""
        return [flow_setup(get_flow(name)) for name in FLOW_NAMES]

    @post("/authorize", status_code=200)
    async def authorize(
        self, data: JSONBody[AuthorizeBody], request: Request[Any, Any, Any]
    ) -> dict[str, Any]:
        flow_name = data.flow or data.oauth_type or "max"
        try:
            flow = get_flow(flow_name)
            redirect = None
            if not flow.redirect_uri:  # google: come back to this server, whatever its port
                redirect = str(request.base_url).rstrip("/") + "/api/oauth/callback"
            session = start_login(flow, data.provider_id, redirect, store=tokens())
        except ClientMissing as e:
            raise SignInNotSetUp(e) from None
        except OAuthError as e:
            raise AdminError(str(e)) from None
        return {
            "url": session.url,
            "state": session.state,  # no verifier: it stays on the server
            "flow": session.flow,
            "provider_id": session.provider_id,
            "paste": session.paste,
            "instructions": session.instructions,
            "expires_in": session.expires_in,
        }

    @post("/exchange", status_code=200)
    async def exchange(self, data: JSONBody[ExchangeBody]) -> dict[str, Any]:
        try:
            record = await finish_login(data.state.strip(), data.code.strip())
        except OAuthError as e:
            raise AdminError(str(e)) from None
        return {
            "success": True,
            "message": f"signed in; token {record.provider_id!r} saved",
            "provider_id": record.provider_id,
            "expires_at": record.expires_at,
        }

    @get("/tokens")
    async def list_tokens(self) -> list[dict[str, Any]]:
        try:
            return tokens().list()
        except OAuthError as e:
            raise SaveFailed(str(e)) from None

    @post("/tokens/delete", status_code=200)
    async def delete_token(self, data: JSONBody[TokenBody]) -> dict[str, Any]:
        pid = data.provider_id.strip()
        if not tokens().delete(pid):
            raise NotFound(f"no OAuth token {pid!r}")
        return {"success": True, "message": f"token {pid!r} deleted"}

    @post("/tokens/refresh", status_code=200)
    async def refresh(
        self, data: JSONBody[TokenBody], ccm_state: NamedDependency[State]
    ) -> dict[str, Any]:
        pid = data.provider_id.strip()
        provider = next(
            (p for p in ccm_state.runtime.config.providers if (p.oauth_provider or p.name) == pid),
            None,
        )
        default = flow_for_provider_type(provider.provider_type) if provider else None
        try:
            record = await refresh_token(
                tokens(), pid, None, default_flow=default, lock=ccm_state.shared.lock
            )  # under the lock every instance's refresh takes (ccm.oauth.refresh)
        except OAuthError as e:
            raise AdminError(str(e)) from None
        return {
            "success": True,
            "message": f"token {pid!r} refreshed",
            "provider_id": pid,
            "expires_at": record.expires_at,
        }


PAGE_EXTRA_HEADERS = {k: v for k, v in PAGE_HEADERS.items() if k != "content-type"}


@get(["/api/oauth/callback", "/auth/callback"], media_type="text/html")
async def oauth_callback(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Litestar adds `; charset=utf-8` to a text/html media type itself (once)."""
    outcome = await complete_callback(dict(request.query_params))
    return Response(
        content=outcome.page().encode(),
        status_code=outcome.status,
        media_type="text/html",
        headers=PAGE_EXTRA_HEADERS,
    )
