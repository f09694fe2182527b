"""Signing in: start (authorization URL + state), finish (check state, exchange, save).

The PKCE verifier never leaves ccm: `start_login` keeps it keyed by the state, for 10
minutes, and hands out only the URL and the state. It is kept in memory, or, when several
workers or instances must find it (the browser's callback may land on any of them), where all
of them look (`LoginManager.shared`: Redis with [state] url, else a 0600 file beside the token
file, `oauth_tokens.json.logins`). `finish_login` accepts the
code as the redirect delivers it, as Anthropic's page shows it (``code#state``) or as a pasted
callback URL; a state that is unknown, expired, already used, or differs from the one pasted
with the code is refused before any token request is made.

`CallbackServer` is the one-shot listener `ccm login` runs on 127.0.0.1 when the flow
redirects to this machine; `complete_callback` is what it (and the admin's callback route)
does with the redirect's query; `callback_page` renders the answer with every value escaped.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from ccm.files import NEW_FILE_MODE, atomic_write
from ccm.oauth import pkce
from ccm.oauth.flows import Flow, OAuthError, get_flow, is_local_uri
from ccm.oauth.refresh import expiry, new_http_client, token_request
from ccm.oauth.store import TokenRecord, TokenStore
from ccm.state.files import file_lock_sync

log = logging.getLogger("ccm.oauth")

LOGIN_TTL = 600.0  # seconds a started login may be finished


@dataclass(frozen=True, slots=True)
class LoginSession:
    """What the browser side may know about a login in progress (no verifier)."""

    url: str
    state: str
    provider_id: str
    flow: str
    redirect_uri: str
    paste: bool  # True: the user pastes the code (the redirect does not come back here)
    expires_in: int = int(LOGIN_TTL)

    @property
    def instructions(self) -> str:
        if self.paste:
            return (
                "Open the URL, sign in and authorize, then paste the code shown "
                "(it looks like code#state)."
            )
        return "Open the URL and sign in; the browser comes back here by itself."


@dataclass(slots=True)
class _Pending:
    flow: Flow
    provider_id: str
    redirect_uri: str
    verifier: str
    store: TokenStore
    deadline: float


def parse_pasted(text: str) -> tuple[str, str | None, str | None]:
    """(code, state or None, error or None) from ``code``, ``code#state`` or a callback URL."""
    text = text.strip()
    if text.startswith(("http://", "https://", "?")) or (
        "code=" in text and "&" in text and "#" not in text
    ):
        query = urlsplit(text).query if not text.startswith("?") else text[1:]
        params = dict(parse_qsl(query))
        err = params.get("error")
        if err:
            desc = params.get("error_description")
            return "", params.get("state"), f"{err}: {desc}" if desc else err
        return params.get("code", "").strip(), params.get("state"), None
    code, sep, state = text.partition("#")
    return code.strip(), (state.strip() if sep else None), None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class SharedLogins:
    """Logins in progress where every worker finds them: a 0600 JSON file (state -> entry with
    a wall-clock deadline) under a file lock. RedisLogins keeps them in Redis instead."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        atomic_write(self.path, json.dumps(data), NEW_FILE_MODE)

    def put(self, state: str, entry: dict[str, Any], ttl: float) -> None:
        with file_lock_sync(self.lock_path):
            now = time.time()
            data = {k: v for k, v in self._read().items() if v.get("deadline", 0) > now}
            data[state] = {**entry, "deadline": now + ttl}
            self._write(data)

    def get(self, state: str) -> dict[str, Any] | None:
        entry = self._read().get(state)
        return entry if isinstance(entry, dict) else None

    def take(self, state: str) -> dict[str, Any] | None:
        with file_lock_sync(self.lock_path):
            data = self._read()
            entry = data.pop(state, None)
            if entry is not None:
                self._write(data)
        return entry if isinstance(entry, dict) else None


class RedisLogins:
    """Logins in progress in Redis ([state] url): one key per state, with its TTL."""

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def put(self, state: str, entry: dict[str, Any], ttl: float) -> None:
        data = {**entry, "deadline": time.time() + ttl}
        self.redis.set(f"ccm:login:{state}", json.dumps(data), ex=max(1, int(ttl)))

    def get(self, state: str) -> dict[str, Any] | None:
        raw = self.redis.get(f"ccm:login:{state}")
        return json.loads(raw) if raw else None

    def take(self, state: str) -> dict[str, Any] | None:
        raw = self.redis.getdel(f"ccm:login:{state}")
        return json.loads(raw) if raw else None


class LoginManager:
    """Logins in progress (verifiers by state). One per process is the norm: `default_manager`.
    `shared` (SharedLogins / RedisLogins): keep them where other workers find them too."""

    def __init__(
        self,
        store: TokenStore | None = None,
        *,
        ttl: float = LOGIN_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.clock = clock
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self.shared: SharedLogins | RedisLogins | None = None

    def _purge(self) -> None:
        now = self.clock()
        for state in [s for s, p in self._pending.items() if p.deadline <= now]:
            del self._pending[state]

    def start(
        self,
        flow_name: str | Flow,
        provider_id: str,
        redirect_uri: str | None = None,
        *,
        store: TokenStore | None = None,
    ) -> LoginSession:
        """A new login: the URL to open and its state. OAuthError for an unusable flow."""
        flow = get_flow(flow_name).require_client()
        provider_id = provider_id.strip()
        if not provider_id:
            raise OAuthError("a token id (provider id) is required")
        redirect = redirect_uri or flow.redirect_uri
        if not redirect:
            raise OAuthError(
                f"OAuth flow {flow.name!r} redirects to a local callback: give its redirect_uri"
            )
        verifier = pkce.new_verifier()
        state = pkce.new_state()
        url = pkce.authorization_url(flow, redirect, state, pkce.challenge(verifier))
        token_store = store or self.store or TokenStore()
        if self.shared is not None:
            entry = {
                "flow": flow.name,
                "provider_id": provider_id,
                "redirect_uri": redirect,
                "verifier": verifier,
                "store": str(token_store.path),
            }
            self.shared.put(state, entry, self.ttl)
        else:
            with self._lock:
                self._purge()
                self._pending[state] = _Pending(
                    flow=flow,
                    provider_id=provider_id,
                    redirect_uri=redirect,
                    verifier=verifier,
                    store=token_store,
                    deadline=self.clock() + self.ttl,
                )
        return LoginSession(
            url=url,
            state=state,
            provider_id=provider_id,
            flow=flow.name,
            redirect_uri=redirect,
            paste=not is_local_uri(redirect),
            expires_in=int(self.ttl),
        )

    def pending(self, state: str) -> bool:
        if self.shared is not None:
            entry = self.shared.get(state) if state else None
            return entry is not None and entry.get("deadline", 0) > time.time()
        with self._lock:
            self._purge()
            return state in self._pending

    def cancel(self, state: str) -> None:
        if self.shared is not None:
            self.shared.take(state)
            return
        with self._lock:
            self._pending.pop(state, None)

    def _take(self, state: str) -> _Pending:
        if self.shared is not None:
            entry = self.shared.take(state) if state else None
            if entry is None:
                raise OAuthError("unknown or already used sign-in (state); start the login again")
            if entry.get("deadline", 0) <= time.time():
                raise OAuthError("this sign-in has expired (10 minutes); start the login again")
            return _Pending(
                flow=get_flow(entry["flow"]).require_client(),
                provider_id=entry["provider_id"],
                redirect_uri=entry["redirect_uri"],
                verifier=entry["verifier"],
                store=TokenStore(entry["store"]),
                deadline=entry["deadline"],
            )
        with self._lock:
            entry = self._pending.pop(state, None) if state else None
            if entry is None:
                raise OAuthError("unknown or already used sign-in (state); start the login again")
            if entry.deadline <= self.clock():
                raise OAuthError("this sign-in has expired (10 minutes); start the login again")
            return entry

    async def finish(
        self, state: str, code_or_pasted: str, *, http: httpx.AsyncClient | None = None
    ) -> TokenRecord:
        """Check the state, exchange the code with the kept verifier, save and return the token."""
        code, pasted_state, error = parse_pasted(code_or_pasted or "")
        if pasted_state is not None and not _same(pasted_state, state or ""):
            raise OAuthError(
                "the code belongs to a different sign-in (state mismatch); start the login again"
            )
        if error:
            self.cancel(state)
            raise OAuthError(f"sign-in was refused: {error}")
        if not code:
            raise OAuthError("no authorization code given")
        entry = self._take(state)  # one use: a replayed state is unknown from now on
        flow = entry.flow
        fields = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": entry.redirect_uri,
            "client_id": flow.client_id,
            "code_verifier": entry.verifier,
        }
        if flow.client_secret:
            fields["client_secret"] = flow.client_secret
        if flow.state_in_token_request:
            fields["state"] = state
        own = http is None
        client = http or new_http_client()
        try:
            data = await token_request(flow, client, fields, f"signing in to {flow.title}")
            refresh = data.get("refresh_token")
            if not isinstance(refresh, str) or not refresh:
                log.warning(
                    "%s returned no refresh token; %s must sign in again when it expires",
                    flow.title,
                    entry.provider_id,
                )
                refresh = ""
            project = None
            if flow.code_assist_url:
                project = await code_assist_project(flow, client, data["access_token"])
            record = TokenRecord(
                provider_id=entry.provider_id,
                access_token=data["access_token"],
                refresh_token=refresh,
                expires_at=expiry(data),
                project_id=project,
                flow=flow.name,
            )
        finally:
            if own:
                await client.aclose()
        entry.store.save(record)
        log.info("signed in: OAuth token %s (%s) saved", record.provider_id, flow.name)
        return record


async def code_assist_project(flow: Flow, http: httpx.AsyncClient, access: str) -> str | None:
    """Gemini Code Assist: the user's project (loadCodeAssist), else $GOOGLE_CLOUD_PROJECT."""
    env_project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get(
        "GOOGLE_CLOUD_PROJECT_ID"
    )
    body: dict[str, Any] = {
        "metadata": {
            "ideType": "IDE_UNSPECIFIED",
            "platform": "PLATFORM_UNSPECIFIED",
            "pluginType": "GEMINI",
        }
    }
    if env_project:
        body["cloudaicompanionProject"] = env_project
        body["metadata"]["duetProject"] = env_project
    try:
        resp = await http.post(
            flow.code_assist_url.rstrip("/") + ":loadCodeAssist",
            json=body,
            headers={"authorization": f"Bearer {access}"},
        )
        data = resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as e:
        log.warning("loadCodeAssist failed (%s); project from the environment only", e)
        return env_project
    project = data.get("cloudaicompanionProject") if isinstance(data, dict) else None
    if isinstance(project, dict):
        project = project.get("id")
    if not isinstance(project, str) or not project:
        if resp.status_code != 200:
            log.warning(
                "loadCodeAssist answered %d; project from the environment only", resp.status_code
            )
        return env_project
    return project


default_manager = LoginManager()


def start_login(
    flow_name: str | Flow,
    provider_id: str,
    redirect_uri: str | None = None,
    *,
    store: TokenStore | None = None,
    manager: LoginManager | None = None,
) -> LoginSession:
    """Begin a login; the verifier stays in `manager` (default: this process's)."""
    return (manager or default_manager).start(flow_name, provider_id, redirect_uri, store=store)


async def finish_login(
    state: str,
    code_or_pasted: str,
    *,
    http: httpx.AsyncClient | None = None,
    manager: LoginManager | None = None,
) -> TokenRecord:
    return await (manager or default_manager).finish(state, code_or_pasted, http=http)


# ---- the browser's way back --------------------------------------------------------------


@dataclass(slots=True)
class CallbackOutcome:
    status: int
    title: str
    message: str
    done: bool  # this callback settled the login (success or failure)
    record: TokenRecord | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.record is not None

    def page(self) -> str:
        return callback_page(self.title, self.message, ok=self.ok)


PAGE_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # the URL carries the code
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


def callback_page(title: str, message: str, *, ok: bool) -> str:
    """A small HTML page; every value is escaped, no script."""
    colour = "#1a7f37" if ok else "#cf222e"
    t, m = html.escape(title), html.escape(message)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>ccm: {t}</title>"
        "<style>body{font:16px system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em}"
        f"h1{{color:{colour};font-size:1.4em}}p{{white-space:pre-wrap}}</style></head>"
        f"<body><h1>{t}</h1><p>{m}</p></body></html>"
    )


async def complete_callback(
    params: Mapping[str, str],
    *,
    manager: LoginManager | None = None,
    expected_state: str | None = None,
    http: httpx.AsyncClient | None = None,
) -> CallbackOutcome:
    """Handle a redirect's query (code, state, error, error_description).

    A state that is not the expected one (or, without `expected_state`, not a login in
    progress) is refused without ending the login: a stray request cannot cancel it.
    """
    manager = manager or default_manager
    state = params.get("state") or ""
    if expected_state is not None:
        known = bool(state) and _same(state, expected_state) and manager.pending(state)
    else:
        known = bool(state) and manager.pending(state)
    if not known:
        detail = params.get("error_description") or params.get("error") or ""
        message = (
            "This page does not belong to a sign-in in progress (unknown or mismatched state)."
        )
        if detail:
            message += f"\nThe provider said: {detail}"
        return CallbackOutcome(
            400, "Sign-in not completed", message, done=False, error="state mismatch"
        )
    if params.get("error"):
        manager.cancel(state)
        err = params["error"]
        desc = params.get("error_description")
        reason = f"{err}: {desc}" if desc else err
        return CallbackOutcome(
            400, "Sign-in failed", f"The provider refused: {reason}", done=True, error=reason
        )
    code = params.get("code") or ""
    if not code:
        return CallbackOutcome(
            400,
            "Sign-in not completed",
            "The redirect carried no code.",
            done=False,
            error="no code",
        )
    try:
        record = await manager.finish(state, code, http=http)
    except OAuthError as e:
        return CallbackOutcome(400, "Sign-in failed", str(e), done=True, error=str(e))
    return CallbackOutcome(
        200,
        "Signed in",
        f"The token {record.provider_id!r} is saved. You can close this window.",
        done=True,
        record=record,
    )


class CallbackServer:
    """A one-shot HTTP listener on 127.0.0.1 for a local redirect URI.

    Serves GET on the redirect's path; every request there goes to `on_callback` (which runs
    in the server thread) and gets its page; the first outcome with `done` ends the wait.
    Other paths get 404. Nothing is logged (the query holds the code).
    """

    def __init__(
        self, redirect_uri: str, on_callback: Callable[[dict[str, str]], CallbackOutcome]
    ) -> None:
        parts = urlsplit(redirect_uri)
        if not is_local_uri(redirect_uri):
            raise ValueError(f"not a local http redirect: {redirect_uri!r}")
        self.path = parts.path or "/"
        self.on_callback = on_callback
        self.outcome: CallbackOutcome | None = None
        self._done = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "ccm-oauth"
            sys_version = ""

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: str, headers: Mapping[str, str]) -> None:
                data = body.encode("utf-8")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.send_header("connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != outer.path or outer._done.is_set():
                    self._send(404, callback_page("Not found", "", ok=False), PAGE_HEADERS)
                    return
                params = dict(parse_qsl(url.query, keep_blank_values=True))
                try:
                    outcome = outer.on_callback(params)
                except Exception as e:  # never leave the browser hanging
                    log.exception("OAuth callback failed")
                    outcome = CallbackOutcome(
                        500, "Sign-in failed", str(e), done=True, error=str(e)
                    )
                self._send(outcome.status, outcome.page(), PAGE_HEADERS)
                if outcome.done:
                    outer.outcome = outcome
                    outer._done.set()

        port = parts.port or 80
        self._server = HTTPServer(("127.0.0.1", port), Handler)
        host = parts.hostname or "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        self.port = self._server.server_address[1]
        self.redirect_uri = f"http://{host}:{self.port}{self.path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> CallbackServer:
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> CallbackOutcome | None:
        self._done.wait(timeout)
        return self.outcome

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CallbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def local_redirect_for(flow: Flow) -> str:
    """The redirect template for a flow's local callback (port 0 = any free port)."""
    return flow.redirect_uri or f"http://127.0.0.1:0{flow.local_path}"


def run_callback(
    params: dict[str, str], manager: LoginManager, expected_state: str
) -> CallbackOutcome:
    """`complete_callback` from a thread without an event loop (the CallbackServer's)."""
    return asyncio.run(complete_callback(params, manager=manager, expected_state=expected_state))


__all__ = [
    "LOGIN_TTL",
    "PAGE_HEADERS",
    "CallbackOutcome",
    "CallbackServer",
    "LoginManager",
    "LoginSession",
    "RedisLogins",
    "SharedLogins",
    "callback_page",
    "complete_callback",
    "default_manager",
    "finish_login",
    "local_redirect_for",
    "parse_pasted",
    "run_callback",
    "start_login",
]
