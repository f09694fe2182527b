"""A fake OAuth 2.0 authorization server (PKCE) on 127.0.0.1, for the OAuth tests.

Standard library only; a ThreadingHTTPServer in a daemon thread on an ephemeral port.

* ``GET /authorize``: checks ``response_type=code``, ``client_id``, ``redirect_uri``,
  ``state``, ``code_challenge`` with ``code_challenge_method=S256``; records the query in
  ``authorize_requests``; answers ``302`` to ``redirect_uri?code=...&state=...`` (the user
  "approved"). ``next_code`` fixes the code issued next; ``deny`` makes it redirect with
  ``error=access_denied`` instead. ``authorize(url)`` does this GET without following the
  redirect and returns ``(code, state, location)``; ``code_for(state)`` looks a code up.
* ``POST /token`` (JSON or form body, by request content-type; ``token_format`` can demand
  one): ``authorization_code`` checks the code (issued, unused), client_id (and
  client_secret when set), redirect_uri, ``state`` if sent, and that ``code_verifier``
  hashes (S256) to the challenge; ``refresh_token`` checks the refresh token and issues a
  new access token, rotating the refresh token when ``rotate_refresh`` (else the answer has
  no ``refresh_token``). ``refresh_calls`` / ``exchange_calls`` count them; ``refresh_delay``
  slows refreshes down; ``fail_token = (status, body)`` makes every token request fail.
* ``POST /v1internal:loadCodeAssist`` (Bearer access token): ``{"cloudaicompanionProject":
  project_id}``.

Usage::

    with FakeOAuthServer(client_id="cid") as fake:
        ...  # point CCM_OAUTH_<FLOW>_AUTHORIZE_URL / _TOKEN_URL at fake.authorize_url / token_url
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


@dataclass
class Grant:
    challenge: str
    client_id: str
    redirect_uri: str
    state: str
    scope: str
    used: bool = False


class FakeOAuthServer:
    def __init__(
        self,
        *,
        client_id: str = "test-client",
        client_secret: str | None = None,
        token_format: str | None = None,  # "json" | "form" | None (either)
        expires_in: int = 3600,
        rotate_refresh: bool = True,
        refresh_delay: float = 0.0,
        project_id: str = "fake-project",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_format = token_format
        self.expires_in = expires_in
        self.rotate_refresh = rotate_refresh
        self.refresh_delay = refresh_delay
        self.project_id = project_id
        self.next_code: str | None = None
        self.deny: str | None = None  # error_description when set
        self.fail_token: tuple[int, Any] | None = None
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, Any]] = []
        self.code_assist_requests: list[dict[str, Any]] = []
        self.refresh_calls = 0
        self.exchange_calls = 0
        self.grants: dict[str, Grant] = {}
        self.access_tokens: set[str] = set()
        self.refresh_tokens: dict[str, bool] = {}  # token -> still valid
        self._n = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def authorize_url(self) -> str:
        return self.base_url + "/authorize"

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    @property
    def code_assist_url(self) -> str:
        return self.base_url + "/v1internal"

    def start(self) -> FakeOAuthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOAuthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- test helpers ----------------------------------------------------------------------

    def authorize(self, url: str) -> tuple[str, str, str]:
        """GET the authorization URL as a browser would, without following the redirect."""
        with httpx.Client(trust_env=False, follow_redirects=False) as c:
            resp = c.get(url)
        if resp.status_code != 302:
            raise AssertionError(f"authorize answered {resp.status_code}: {resp.text}")
        location = resp.headers["location"]
        q = dict(parse_qsl(urlsplit(location).query))
        return q.get("code", ""), q.get("state", ""), location

    def code_for(self, state: str) -> str:
        with self._lock:
            for code, g in self.grants.items():
                if g.state == state:
                    return code
        raise KeyError(state)

    def issue_refresh_token(self) -> str:
        """A refresh token the fake accepts (for records made by a test, not by a login)."""
        with self._lock:
            rt = f"rt-{next(self._n)}"
            self.refresh_tokens[rt] = True
        return rt

    # ---- the server --------------------------------------------------------------------------

    def _tokens(self, *, with_refresh: bool) -> dict[str, Any]:
        n = next(self._n)
        access = f"at-{n}-{secrets.token_hex(4)}"
        self.access_tokens.add(access)
        out: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if with_refresh:
            rt = f"rt-{n}-{secrets.token_hex(4)}"
            self.refresh_tokens[rt] = True
            out["refresh_token"] = rt
        return out

    def _token(self, fields: dict[str, Any], ctype: str) -> tuple[int, Any]:
        def bad(error: str, desc: str, status: int = 400) -> tuple[int, Any]:
            return status, {"error": error, "error_description": desc}

        if self.fail_token is not None:
            with self._lock:
                if fields.get("grant_type") == "refresh_token":
                    self.refresh_calls += 1
                elif fields.get("grant_type") == "authorization_code":
                    self.exchange_calls += 1
            if self.refresh_delay:
                time.sleep(self.refresh_delay)
            return self.fail_token
        if self.token_format == "json" and ctype != "application/json":
            return bad("invalid_request", f"expected a JSON body, got {ctype}")
        if self.token_format == "form" and ctype != "application/x-www-form-urlencoded":
            return bad("invalid_request", f"expected a form body, got {ctype}")
        if fields.get("client_id") != self.client_id:
            return bad("invalid_client", "unknown client_id", 401)
        if self.client_secret is not None and fields.get("client_secret") != self.client_secret:
            return bad("invalid_client", "wrong client_secret", 401)
        grant_type = fields.get("grant_type")
        if grant_type == "authorization_code":
            with self._lock:
                self.exchange_calls += 1
                grant = self.grants.get(str(fields.get("code")))
                if grant is None or grant.used:
                    return bad("invalid_grant", "unknown or used authorization code")
                grant.used = True
                if fields.get("redirect_uri") != grant.redirect_uri:
                    return bad("invalid_grant", "redirect_uri does not match")
                if "state" in fields and fields["state"] != grant.state:
                    return bad("invalid_grant", "state does not match")
                verifier = str(fields.get("code_verifier") or "")
                if not verifier or s256(verifier) != grant.challenge:
                    return bad("invalid_grant", "code_verifier does not match the challenge")
                return 200, self._tokens(with_refresh=True)
        if grant_type == "refresh_token":
            with self._lock:
                self.refresh_calls += 1
            if self.refresh_delay:
                time.sleep(self.refresh_delay)
            with self._lock:
                rt = str(fields.get("refresh_token") or "")
                if not self.refresh_tokens.get(rt):
                    return bad("invalid_grant", "refresh token is invalid or was rotated")
                if self.rotate_refresh:
                    self.refresh_tokens[rt] = False
                return 200, self._tokens(with_refresh=self.rotate_refresh)
        return bad("unsupported_grant_type", f"grant_type {grant_type!r}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {"content-type": "application/json"}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != "/authorize":
                    self._reply(404, {"error": "not_found"})
                    return
                q = dict(parse_qsl(url.query, keep_blank_values=True))
                with fake._lock:
                    fake.authorize_requests.append(q)
                problems = []
                if q.get("response_type") != "code":
                    problems.append("response_type must be code")
                if q.get("client_id") != fake.client_id:
                    problems.append("unknown client_id")
                if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                    problems.append("PKCE S256 challenge required")
                for name in ("redirect_uri", "state"):
                    if not q.get(name):
                        problems.append(f"{name} required")
                if problems:
                    self._reply(400, "; ".join(problems).encode(), {"content-type": "text/plain"})
                    return
                redirect = q["redirect_uri"]
                sep = "&" if "?" in redirect else "?"
                if fake.deny is not None:
                    back = {
                        "error": "access_denied",
                        "error_description": fake.deny,
                        "state": q["state"],
                    }
                else:
                    with fake._lock:
                        code = fake.next_code or f"code-{secrets.token_hex(8)}"
                        fake.next_code = None
                        fake.grants[code] = Grant(
                            q["code_challenge"],
                            q["client_id"],
                            redirect,
                            q["state"],
                            q.get("scope", ""),
                        )
                    back = {"code": code, "state": q["state"]}
                self._reply(302, b"", {"location": redirect + sep + urlencode(back)})

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                ctype = (self.headers.get("content-type") or "").split(";")[0].strip().lower()
                if url.path == "/v1internal:loadCodeAssist":
                    auth = self.headers.get("authorization") or ""
                    with fake._lock:
                        fake.code_assist_requests.append(
                            {"authorization": auth, "body": raw.decode()}
                        )
                    if auth.removeprefix("Bearer ") not in fake.access_tokens:
                        self._reply(401, {"error": {"code": 401, "message": "bad token"}})
                        return
                    self._reply(200, {"cloudaicompanionProject": fake.project_id})
                    return
                if url.path != "/token":
                    self._reply(404, {"error": "not_found"})
                    return
                try:
                    if ctype == "application/json":
                        fields = json.loads(raw or b"{}")
                    else:
                        fields = dict(parse_qsl(raw.decode(), keep_blank_values=True))
                except ValueError:
                    self._reply(400, {"error": "invalid_request", "error_description": "bad body"})
                    return
                with fake._lock:
                    fake.token_requests.append({"content_type": ctype, "fields": fields})
                status, body = fake._token(fields, ctype)
                self._reply(status, body)

        return Handler


__all__ = ["FakeOAuthServer", "Grant", "s256"]
