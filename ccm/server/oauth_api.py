"""OAuth sign-in through the admin API: /api/oauth/* (guarded like the rest of /api) and the
browser's way back from the provider (/api/oauth/callback, /auth/callback)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.exceptions import HTTPException

from ccm.runtime import State
from ccm.server.admin import _body_dict, _json, admin_guard
from ccm.server.proxy import error_response


def oauth_routes(state: State) -> list[Any]:
    """/api/oauth/* (guarded like the rest of /api) and the browser's way back, which is not
    guarded (a redirect cannot carry the admin token): it only completes a login in progress,
    identified by its unguessable state, and answers an escaped page."""
    from ccm.oauth import (
        OAuthError,
        TokenStore,
        complete_callback,
        finish_login,
        flow_for_provider_type,
        get_flow,
        refresh_token,
        start_login,
    )
    from ccm.oauth.login import PAGE_HEADERS

    def tokens() -> TokenStore:
        return TokenStore()  # $CCM_OAUTH_TOKENS or ~/.claude-code-mux/oauth_tokens.json

    def text(data: dict[str, Any], key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise HTTPException(status_code=400, detail=f"{key} is required")
        return value.strip()

    @post("/authorize", status_code=200)
    async def oauth_authorize(request: Request) -> Response:
        data = _body_dict(await request.body())
        flow_name = data.get("flow") or data.get("oauth_type") or "max"
        provider_id = text(data, "provider_id")
        try:
            flow = get_flow(str(flow_name))
            redirect = None
            if not flow.redirect_uri:  # google: come back to this server, whatever its port
                redirect = str(request.base_url).rstrip("/") + "/api/oauth/callback"
            session = start_login(flow, provider_id, redirect, store=tokens())
        except OAuthError as e:
            return error_response(400, str(e))
        return _json(
            {
                "url": session.url,
                "state": session.state,  # no verifier: it stays on the server
                "flow": session.flow,
                "provider_id": session.provider_id,
                "paste": session.paste,
                "instructions": session.instructions,
                "expires_in": session.expires_in,
            }
        )

    @post("/exchange", status_code=200)
    async def oauth_exchange(request: Request) -> Response:
        data = _body_dict(await request.body())
        try:
            record = await finish_login(text(data, "state"), text(data, "code"))
        except OAuthError as e:
            return error_response(400, str(e))
        return _json(
            {
                "success": True,
                "message": f"signed in; token {record.provider_id!r} saved",
                "provider_id": record.provider_id,
                "expires_at": record.expires_at,
            }
        )

    @get("/tokens")
    async def oauth_tokens() -> Response:
        try:
            return _json(tokens().list())
        except OAuthError as e:
            return error_response(500, str(e))

    @post("/tokens/delete", status_code=200)
    async def oauth_token_delete(request: Request) -> Response:
        pid = text(_body_dict(await request.body()), "provider_id")
        if not tokens().delete(pid):
            return error_response(404, f"no OAuth token {pid!r}", "not_found_error")
        return _json({"success": True, "message": f"token {pid!r} deleted"})

    @post("/tokens/refresh", status_code=200)
    async def oauth_token_refresh(request: Request) -> Response:
        pid = text(_body_dict(await request.body()), "provider_id")
        provider = next(
            (p for p in state.runtime.config.providers if (p.oauth_provider or p.name) == pid),
            None,
        )
        default = flow_for_provider_type(provider.provider_type) if provider else None
        try:
            record = await refresh_token(tokens(), pid, None, default_flow=default)
        except OAuthError as e:
            return error_response(400, str(e))
        return _json(
            {
                "success": True,
                "message": f"token {pid!r} refreshed",
                "provider_id": pid,
                "expires_at": record.expires_at,
            }
        )

    page_headers = {k: v for k, v in PAGE_HEADERS.items() if k != "content-type"}

    @get(["/api/oauth/callback", "/auth/callback"], media_type="text/html")
    async def oauth_callback(request: Request) -> Response:
        outcome = await complete_callback(dict(request.query_params))
        return Response(
            content=outcome.page(),
            status_code=outcome.status,
            media_type="text/html; charset=utf-8",
            headers=page_headers,
        )

    api = Router(
        path="/api/oauth",
        route_handlers=[
            oauth_authorize,
            oauth_exchange,
            oauth_tokens,
            oauth_token_delete,
            oauth_token_refresh,
        ],
        guards=[admin_guard(state)],
    )
    return [api, oauth_callback]
