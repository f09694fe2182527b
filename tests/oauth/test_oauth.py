"""OAuth 2.0 + PKCE sign-in, token store and refresh, end to end against a fake server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest
import typer
from typer.testing import CliRunner

import ccm.oauth.cli as oauth_cli
from ccm.oauth import (
    ANTHROPIC_OAUTH_BETA,
    CallbackServer,
    LoginManager,
    LoginSession,
    OAuthError,
    TokenRecord,
    TokenStore,
    access_token,
    finish_login,
    get_flow,
    oauth_headers,
    pkce,
    start_login,
)
from ccm.oauth.login import PAGE_HEADERS, complete_callback, parse_pasted, run_callback
from ccm.oauth.store import format_time, parse_time
from tests.fakes.oauth_server import FakeOAuthServer, s256

CLIENT_ID = "ccm-test-client"
GOOGLE_SECRET = "google-test-secret"
FLOW_ENV = ("CLAUDE_MAX", "CLAUDE_CONSOLE", "CHATGPT", "GOOGLE")


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeOAuthServer]:
    with FakeOAuthServer(client_id=CLIENT_ID) as server:
        yield server


@pytest.fixture
def tokens_path(tmp_path: Path) -> Path:
    return tmp_path / "home" / ".claude-code-mux" / "oauth_tokens.json"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, tokens_path: Path, request: pytest.FixtureRequest) -> None:
    """Every flow points at the fake; the token file lives in tmp (never the real home)."""
    monkeypatch.setenv("CCM_OAUTH_TOKENS", str(tokens_path))
    monkeypatch.setenv("CCM_CONFIG", str(tokens_path.parent / "no-config.toml"))
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT_ID", raising=False)
    for name in FLOW_ENV:
        for suffix in (
            "CLIENT_ID",
            "CLIENT_SECRET",
            "AUTHORIZE_URL",
            "TOKEN_URL",
            "REDIRECT_URI",
            "CODE_ASSIST_URL",
        ):
            monkeypatch.delenv(f"CCM_OAUTH_{name}_{suffix}", raising=False)
    if "fake" not in request.fixturenames:
        return
    server: FakeOAuthServer = request.getfixturevalue("fake")
    for name in FLOW_ENV:
        monkeypatch.setenv(f"CCM_OAUTH_{name}_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv(f"CCM_OAUTH_{name}_AUTHORIZE_URL", server.authorize_url)
        monkeypatch.setenv(f"CCM_OAUTH_{name}_TOKEN_URL", server.token_url)
    monkeypatch.setenv("CCM_OAUTH_GOOGLE_CLIENT_SECRET", GOOGLE_SECRET)
    monkeypatch.setenv("CCM_OAUTH_GOOGLE_CODE_ASSIST_URL", server.code_assist_url)
    # the Codex redirect is localhost:1455; tests use a free port on the same path
    monkeypatch.setenv("CCM_OAUTH_CHATGPT_REDIRECT_URI", "http://127.0.0.1:0/auth/callback")


@pytest.fixture
def store(tokens_path: Path) -> TokenStore:
    return TokenStore(tokens_path)


@pytest.fixture
def manager(store: TokenStore) -> LoginManager:
    return LoginManager(store)


@pytest.fixture
async def http() -> Iterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


def cli_app() -> typer.Typer:
    """Mounted as the lead will mount it in ccm/cli.py."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        pass

    app.command("login")(oauth_cli.login)
    app.add_typer(oauth_cli.oauth_app, name="oauth")
    return app


def run_cli(*args: str, input: str | None = None):
    return CliRunner().invoke(cli_app(), list(args), input=input, catch_exceptions=False)


def seed(
    store: TokenStore, fake: FakeOAuthServer, pid: str, expires_in: timedelta, flow: str = "chatgpt"
) -> TokenRecord:
    record = TokenRecord(
        provider_id=pid,
        access_token="at-old",
        refresh_token=fake.issue_refresh_token(),
        expires_at=format_time(datetime.now(UTC) + expires_in),
        project_id="proj-kept",
        flow=flow,
    )
    store.save(record)
    return record


# ---- PKCE and flows --------------------------------------------------------------------------


def test_pkce_verifier_challenge_state() -> None:
    v = pkce.new_verifier()
    assert 43 <= len(v) <= 128 and pkce.is_valid_verifier(v)
    assert pkce.new_verifier() != v
    assert pkce.challenge(v) == s256(v)
    assert len(pkce.new_verifier(96)) == 128
    with pytest.raises(ValueError):
        pkce.challenge("short")
    s = pkce.new_state()
    assert len(s) >= 43 and s != v


def test_authorization_url_has_challenge_not_verifier(fake: FakeOAuthServer) -> None:
    flow = get_flow("chatgpt")
    v = pkce.new_verifier()
    url = pkce.authorization_url(
        flow, "http://localhost:1455/auth/callback", "st", pkce.challenge(v)
    )
    q = dict(httpx.URL(url).params)
    assert url.startswith(fake.authorize_url + "?")
    assert q["client_id"] == CLIENT_ID
    assert q["code_challenge"] == s256(v) and q["code_challenge_method"] == "S256"
    assert q["scope"] == "openid profile email offline_access"
    assert q["id_token_add_organizations"] == "true"
    assert q["codex_cli_simplified_flow"] == "true"
    assert q["state"] == "st"
    assert v not in url
    claude = get_flow("max")  # claude-code-mux's oauth_type name
    assert claude.name == "claude-max" and ("code", "true") in claude.extra_params
    assert claude.redirect_uri == "https://console.anthropic.com/oauth/code/callback"
    assert claude.token_format == "json" and get_flow("google").token_format == "form"


def test_flow_without_client_id_says_which_variable() -> None:
    flow = get_flow("claude-max")
    assert flow.token_url == "https://console.anthropic.com/v1/oauth/token"
    with pytest.raises(OAuthError, match="set CCM_OAUTH_CLAUDE_MAX_CLIENT_ID"):
        flow.require_client()
    with pytest.raises(OAuthError, match="unknown OAuth flow"):
        get_flow("myspace")


def test_google_needs_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCM_OAUTH_GOOGLE_CLIENT_ID", "x")
    with pytest.raises(OAuthError, match="set CCM_OAUTH_GOOGLE_CLIENT_SECRET"):
        get_flow("google").require_client()


def test_parse_pasted_forms() -> None:
    assert parse_pasted("  abc#st  ") == ("abc", "st", None)
    assert parse_pasted("abc") == ("abc", None, None)
    assert parse_pasted("http://localhost:1455/auth/callback?code=c1&state=s1") == (
        "c1",
        "s1",
        None,
    )
    assert parse_pasted("http://x/cb?error=access_denied&state=s") == ("", "s", "access_denied")


def test_parse_time_variants() -> None:
    t = parse_time("2025-01-01T00:00:00.123456789Z")
    assert t == datetime(2025, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert parse_time("2025-01-01T02:00:00+02:00") == datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_time("2025-01-01T00:00:00") == datetime(2025, 1, 1, tzinfo=UTC)
    assert format_time(datetime(2025, 1, 1, 3, tzinfo=UTC)) == "2025-01-01T03:00:00Z"


# ---- start_login / finish_login --------------------------------------------------------------


async def test_login_paste_flow_claude_max(
    fake: FakeOAuthServer, manager: LoginManager, store: TokenStore
) -> None:
    fake.token_format = "json"
    session = start_login("claude-max", "claude-pro", manager=manager)
    assert isinstance(session, LoginSession) and session.paste
    assert session.redirect_uri == "https://console.anthropic.com/oauth/code/callback"
    pending_verifier = manager._pending[session.state].verifier
    assert pending_verifier not in session.url
    assert pending_verifier not in json.dumps(dataclasses.asdict(session))
    assert not hasattr(session, "verifier")
    code, state, _ = fake.authorize(session.url)
    assert state == session.state

    record = await finish_login(session.state, f"{code}#{state}", manager=manager)

    assert record.provider_id == "claude-pro" and record.flow == "claude-max"
    assert record.access_token in fake.access_tokens
    req = fake.token_requests[-1]
    assert req["content_type"] == "application/json"
    assert req["fields"]["grant_type"] == "authorization_code"
    assert req["fields"]["state"] == session.state
    assert req["fields"]["code_verifier"] == pending_verifier
    saved = store.get("claude-pro")
    assert saved is not None and saved.access_token == record.access_token
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    # the state is single-use
    with pytest.raises(OAuthError, match="unknown or already used"):
        await finish_login(session.state, code, manager=manager)


async def test_state_mismatch_rejected(fake: FakeOAuthServer, manager: LoginManager) -> None:
    session = start_login("claude-max", "c1", manager=manager)
    code, _, _ = fake.authorize(session.url)
    with pytest.raises(OAuthError, match="state mismatch"):
        await finish_login(session.state, f"{code}#not-the-state", manager=manager)
    with pytest.raises(OAuthError, match="unknown or already used"):
        await finish_login("forged-state", code, manager=manager)
    with pytest.raises(OAuthError, match="unknown or already used"):
        await finish_login("", code, manager=manager)
    assert fake.exchange_calls == 0  # refused before any token request
    # the genuine login still completes
    record = await finish_login(session.state, code, manager=manager)
    assert record.provider_id == "c1"


async def test_expired_login_rejected(fake: FakeOAuthServer, store: TokenStore) -> None:
    now = [1000.0]
    manager = LoginManager(store, clock=lambda: now[0])
    session = start_login("claude-max", "c1", manager=manager)
    code, _, _ = fake.authorize(session.url)
    now[0] += 601
    with pytest.raises(OAuthError, match=r"has expired"):
        await finish_login(session.state, code, manager=manager)
    assert fake.exchange_calls == 0


async def test_wrong_verifier_rejected_by_server(
    fake: FakeOAuthServer, manager: LoginManager, store: TokenStore
) -> None:
    session = start_login("chatgpt", "gpt", manager=manager)
    code, _, _ = fake.authorize(session.url)
    manager._pending[session.state].verifier = pkce.new_verifier()  # not the one challenged
    with pytest.raises(OAuthError, match="code_verifier does not match"):
        await finish_login(session.state, code, manager=manager)
    assert store.get("gpt") is None


async def test_login_google_form_secret_and_project(
    fake: FakeOAuthServer, manager: LoginManager
) -> None:
    fake.token_format = "form"
    fake.client_secret = GOOGLE_SECRET
    session = start_login("google", "gem", "http://127.0.0.1:9/oauth2callback", manager=manager)
    q = dict(httpx.URL(session.url).params)
    assert q["access_type"] == "offline" and q["prompt"] == "consent"
    assert "https://www.googleapis.com/auth/cloud-platform" in q["scope"].split()
    code, state, _ = fake.authorize(session.url)
    record = await finish_login(state, code, manager=manager)
    assert record.project_id == "fake-project"
    assert fake.token_requests[-1]["fields"]["client_secret"] == GOOGLE_SECRET
    assert "state" not in fake.token_requests[-1]["fields"]


def test_google_needs_a_redirect(fake: FakeOAuthServer, manager: LoginManager) -> None:
    with pytest.raises(OAuthError, match="redirect_uri"):
        start_login("google", "gem", manager=manager)


# ---- the CLI ---------------------------------------------------------------------------------


def test_cli_login_local_callback(
    fake: FakeOAuthServer, store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.token_format = "form"
    pages: list[httpx.Response] = []

    def browser(url: str) -> bool:  # a browser that approves and follows the redirect
        with httpx.Client(trust_env=False, follow_redirects=True, timeout=10) as c:
            pages.append(c.get(url))
        return True

    monkeypatch.setattr(oauth_cli, "open_browser", browser)
    result = run_cli("login", "my-gpt", "--flow", "chatgpt", "--timeout", "10")
    assert result.exit_code == 0, result.output
    assert "Signed in" in result.output
    assert pages and pages[0].status_code == 200 and "Signed in" in pages[0].text
    assert pages[0].url.host == "127.0.0.1" and pages[0].url.path == "/auth/callback"
    assert pages[0].headers["content-security-policy"].startswith("default-src 'none'")
    rec = store.get("my-gpt")
    assert rec is not None and rec.flow == "chatgpt" and rec.access_token in fake.access_tokens
    assert fake.token_requests[-1]["content_type"] == "application/x-www-form-urlencoded"
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_cli_login_google_local_callback(
    fake: FakeOAuthServer, store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def browser(url: str) -> bool:
        with httpx.Client(trust_env=False, follow_redirects=True, timeout=10) as c:
            c.get(url)
        return True

    monkeypatch.setattr(oauth_cli, "open_browser", browser)
    result = run_cli("login", "gem", "--flow", "gemini", "--timeout", "10")
    assert result.exit_code == 0, result.output
    rec = store.get("gem")
    assert rec is not None and rec.project_id == "fake-project" and rec.flow == "google"
    redirect = fake.authorize_requests[-1]["redirect_uri"]
    assert redirect.startswith("http://127.0.0.1:") and redirect.endswith("/oauth2callback")


def test_cli_login_paste_code_option(
    fake: FakeOAuthServer, store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.next_code = "fixed-code-1"
    visited: list[str] = []
    monkeypatch.setattr(
        oauth_cli, "open_browser", lambda url: visited.append(fake.authorize(url)[1]) or True
    )
    result = run_cli("login", "claude-pro", "--flow", "claude-max", "--code", "fixed-code-1")
    assert result.exit_code == 0, result.output
    assert fake.authorize_url in result.output  # the URL is printed
    rec = store.get("claude-pro")
    assert rec is not None and rec.flow == "claude-max"


def test_cli_login_paste_prompt_and_state_check(
    fake: FakeOAuthServer, store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    states: list[str] = []

    def browser(url: str) -> bool:
        states.append(fake.authorize(url)[1])
        return True

    monkeypatch.setattr(oauth_cli, "open_browser", browser)
    fake.next_code = "fixed-code-2"
    result = run_cli("login", "c2", "--flow", "claude-max", input="fixed-code-2#forged\n")
    assert result.exit_code == 1
    assert "state mismatch" in result.output
    assert store.get("c2") is None
    fake.next_code = "fixed-code-3"
    result = run_cli("login", "c3", "--flow", "claude-max", input="fixed-code-3\n")
    assert result.exit_code == 0, result.output
    assert store.get("c3") is not None


def test_cli_login_needs_client_id(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli("login", "x", "--flow", "claude-max", "--no-browser")
    assert result.exit_code == 1
    assert "set CCM_OAUTH_CLAUDE_MAX_CLIENT_ID" in result.output


def test_cli_list_refresh_logout(fake: FakeOAuthServer, store: TokenStore) -> None:
    rec = seed(store, fake, "gpt", timedelta(hours=2))
    result = run_cli("oauth", "list", "--json")
    assert result.exit_code == 0
    items = json.loads(result.output)
    assert items[0]["provider_id"] == "gpt" and items[0]["needs_refresh"] is False
    assert rec.access_token not in result.output and rec.refresh_token not in result.output
    table = run_cli("oauth", "list")
    assert "gpt" in table.output and "active" in table.output
    assert rec.refresh_token not in table.output

    result = run_cli("oauth", "refresh", "gpt")
    assert result.exit_code == 0, result.output
    assert fake.refresh_calls == 1
    assert store.get("gpt").access_token != "at-old"

    assert run_cli("oauth", "logout", "gpt").exit_code == 0
    assert store.get("gpt") is None
    missing = run_cli("oauth", "logout", "gpt")
    assert missing.exit_code == 1 and "no OAuth token" in missing.output


# ---- the token file --------------------------------------------------------------------------


def test_token_file_created_0600_even_with_umask_0(
    fake: FakeOAuthServer, store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[tuple[str, int]] = []
    before_rename: list[int] = []
    real_open, real_replace = os.open, os.replace

    def spy_open(path, flags, mode=0o777, *args, **kwargs):
        if flags & os.O_CREAT:
            created.append((str(path), mode))
        return real_open(path, flags, mode, *args, **kwargs)

    def spy_replace(src, dst, *args, **kwargs):
        before_rename.append(stat.S_IMODE(os.stat(src).st_mode))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "replace", spy_replace)
    old_umask = os.umask(0)
    try:
        seed(store, fake, "a", timedelta(hours=1))
        seed(store, fake, "b", timedelta(hours=1))
        store.delete("a")
    finally:
        os.umask(old_umask)
    assert created, "the store must create its files with os.open"
    for path, mode in created:
        assert mode & 0o077 == 0, f"{path} created with mode {mode:o}"
    assert before_rename and all(m == 0o600 for m in before_rename)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.path.parent).st_mode) == 0o700
    lock = store.path.with_name(store.path.name + ".lock")
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600
    leftovers = [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_token_file_format_and_list(fake: FakeOAuthServer, store: TokenStore) -> None:
    store.path.parent.mkdir(parents=True)
    # a file written by claude-code-mux (nanosecond time, 0644, an unknown key)
    store.path.write_text(
        json.dumps(
            {
                "mux": {
                    "provider_id": "mux",
                    "access_token": "secret-at",
                    "refresh_token": "secret-rt",
                    "expires_at": "2099-01-01T00:00:00.123456789Z",
                    "enterprise_url": "https://ent.example",
                    "future_field": 1,
                }
            }
        )
    )
    os.chmod(store.path, 0o644)
    rec = store.get("mux")
    assert rec is not None and rec.enterprise_url == "https://ent.example"
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600  # tightened on read
    seed(store, fake, "new", timedelta(minutes=1))
    data = json.loads(store.path.read_text())
    assert data["mux"]["future_field"] == 1  # other records are kept as they were
    assert set(data["new"]) == {
        "provider_id",
        "access_token",
        "refresh_token",
        "expires_at",
        "project_id",
        "flow",
    }
    assert data["new"]["expires_at"].endswith("Z")
    listing = store.list()
    assert [i["provider_id"] for i in listing] == ["mux", "new"]
    assert listing[1]["needs_refresh"] is True and listing[1]["is_expired"] is False
    text = json.dumps(listing)
    assert "secret" not in text and "at-old" not in text and "rt-" not in text
    assert store.delete("mux") and not store.delete("mux")
    # another TokenStore (another process) sees the change
    assert TokenStore(store.path).ids() == ["new"]


# ---- refresh ---------------------------------------------------------------------------------


async def test_refresh_only_near_expiry(
    fake: FakeOAuthServer, store: TokenStore, http: httpx.AsyncClient
) -> None:
    seed(store, fake, "soon", timedelta(minutes=1))
    seed(store, fake, "later", timedelta(hours=1))
    assert await access_token(store, "later", "chatgpt", http) == "at-old"
    assert fake.refresh_calls == 0
    token = await access_token(store, "soon", "chatgpt", http)
    assert token != "at-old" and token in fake.access_tokens
    assert fake.refresh_calls == 1
    rec = store.get("soon")
    assert rec.access_token == token and rec.project_id == "proj-kept"
    assert not rec.needs_refresh()
    # now valid: no second refresh
    assert await access_token(store, "soon", "chatgpt", http) == token
    assert fake.refresh_calls == 1
    req = fake.token_requests[-1]["fields"]
    assert req["grant_type"] == "refresh_token" and req["client_id"] == CLIENT_ID


async def test_concurrent_calls_refresh_once(
    fake: FakeOAuthServer, store: TokenStore, http: httpx.AsyncClient
) -> None:
    fake.refresh_delay = 0.3
    seed(store, fake, "busy", timedelta(minutes=1))
    tokens = await asyncio.gather(
        *(access_token(store, "busy", "chatgpt", http) for _ in range(20))
    )
    assert fake.refresh_calls == 1
    assert len(set(tokens)) == 1 and tokens[0] != "at-old"
    assert store.get("busy").access_token == tokens[0]


async def test_refresh_rotation(
    fake: FakeOAuthServer, store: TokenStore, http: httpx.AsyncClient
) -> None:
    old = seed(store, fake, "rot", timedelta(seconds=30))
    await access_token(store, "rot", "chatgpt", http)
    rotated = store.get("rot").refresh_token
    assert rotated != old.refresh_token and fake.refresh_tokens[rotated] is True
    assert fake.refresh_tokens[old.refresh_token] is False

    fake.rotate_refresh = False  # the server answers without a refresh_token
    kept = seed(store, fake, "keep", timedelta(seconds=30))
    await access_token(store, "keep", "chatgpt", http)
    assert store.get("keep").refresh_token == kept.refresh_token
    # and the kept one still works next time
    store.save(
        msgspec.structs.replace(store.get("keep"), expires_at=format_time(datetime.now(UTC)))
    )
    await access_token(store, "keep", "chatgpt", http)
    assert fake.refresh_calls == 3


async def test_refresh_uses_json_for_claude(
    fake: FakeOAuthServer, store: TokenStore, http: httpx.AsyncClient
) -> None:
    fake.token_format = "json"
    seed(store, fake, "claude", timedelta(minutes=2), flow="claude-max")
    await access_token(store, "claude", None, http)  # the flow recorded with the token
    assert fake.token_requests[-1]["content_type"] == "application/json"


async def test_refresh_failure_is_clear(
    fake: FakeOAuthServer, store: TokenStore, http: httpx.AsyncClient
) -> None:
    seed(store, fake, "bad", timedelta(minutes=1))
    fake.fail_token = (
        400,
        {"error": "invalid_grant", "error_description": "Refresh token revoked"},
    )
    fake.refresh_delay = 0.2
    results = await asyncio.gather(
        *(access_token(store, "bad", "chatgpt", http) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, OAuthError) for r in results)
    message = str(results[0])
    assert "invalid_grant" in message and "Refresh token revoked" in message
    assert "ccm login bad" in message
    assert fake.refresh_calls == 1  # the waiters got the same error, no retry storm
    assert store.get("bad").access_token == "at-old"


async def test_no_token_and_unreachable(store: TokenStore, http: httpx.AsyncClient) -> None:
    with pytest.raises(OAuthError, match=r"run `ccm login ghost"):
        await access_token(store, "ghost", "chatgpt", http)


async def test_refresh_server_unreachable(
    fake: FakeOAuthServer,
    store: TokenStore,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(store, fake, "off", timedelta(minutes=1))
    monkeypatch.setenv("CCM_OAUTH_CHATGPT_TOKEN_URL", "http://127.0.0.1:9/token")
    with pytest.raises(OAuthError, match="cannot reach"):
        await access_token(store, "off", "chatgpt", http)


async def test_oauth_headers(
    fake: FakeOAuthServer, store: TokenStore, http: httpx.AsyncClient
) -> None:
    seed(store, fake, "ant", timedelta(hours=1), flow="claude-max")
    headers = await oauth_headers(
        store, "ant", "anthropic", http, anthropic_beta="foo, oauth-2025-04-20,bar"
    )
    assert headers == {
        "authorization": "Bearer at-old",
        "anthropic-beta": f"foo,{ANTHROPIC_OAUTH_BETA},bar",
    }
    assert await oauth_headers(store, "ant", "openai", http) == {"authorization": "Bearer at-old"}


# ---- the callback page -----------------------------------------------------------------------


XSS = "<script>alert(1)</script>"


def test_callback_page_escapes_everything(fake: FakeOAuthServer, manager: LoginManager) -> None:
    session = start_login("chatgpt", "gpt", "http://127.0.0.1:0/auth/callback", manager=manager)
    seen: list = []
    with CallbackServer(
        session.redirect_uri,
        lambda p: seen.append(run_callback(p, manager, session.state)) or seen[-1],
    ) as server:
        base = server.redirect_uri
        with httpx.Client(trust_env=False) as c:
            # a stray request with a foreign state: refused, login not ended, still escaped
            r1 = c.get(base, params={"error": XSS, "error_description": XSS, "state": XSS})
            assert r1.status_code == 400
            assert "<script" not in r1.text and "&lt;script&gt;" in r1.text
            assert server.wait(0.05) is None
            # the provider's error for this login: escaped, and the login ends
            r2 = c.get(
                base,
                params={
                    "error": XSS,
                    "error_description": '<img src=x onerror="alert(2)">',
                    "state": session.state,
                },
            )
            assert r2.status_code == 400
            assert "<script" not in r2.text and "<img" not in r2.text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r2.text
            assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in r2.text
            for k, v in PAGE_HEADERS.items():
                assert r2.headers[k] == v
            r3 = c.get(base.rsplit("/", 2)[0] + "/favicon.ico")
            assert r3.status_code == 404
        outcome = server.wait(1)
    assert outcome is not None and outcome.done and not outcome.ok
    assert not manager.pending(session.state)


async def test_complete_callback_admin_style(fake: FakeOAuthServer, manager: LoginManager) -> None:
    unknown = await complete_callback({"code": "x", "state": "nope"}, manager=manager)
    assert unknown.status == 400 and not unknown.done
    session = start_login(
        "google", "gem", "http://127.0.0.1:13456/api/oauth/callback", manager=manager
    )
    code, state, _ = fake.authorize(session.url)
    ok = await complete_callback({"code": code, "state": state}, manager=manager)
    assert ok.status == 200 and ok.ok and ok.record.provider_id == "gem"
    assert code not in ok.page()  # the page does not show the code


def test_chatgpt_account_id_from_jwt() -> None:
    import base64

    from ccm.oauth.refresh import chatgpt_account_id

    claims = {"https://api.openai.com/auth": {"chatgpt_account_id": "acct-1"}}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert chatgpt_account_id(f"h.{body}.sig") == "acct-1"
    assert chatgpt_account_id("not-a-jwt") is None
    assert chatgpt_account_id("a.!!!.c") is None


async def test_oauth_headers_chatgpt_account(
    fake: FakeOAuthServer, store: TokenStore, http: httpx.AsyncClient
) -> None:
    import base64

    claims = {"https://api.openai.com/auth": {"chatgpt_account_id": "acct-9"}}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    rec = seed(store, fake, "gpt", timedelta(hours=1))
    store.save(msgspec.structs.replace(rec, access_token=f"h.{body}.s"))
    headers = await oauth_headers(store, "gpt", "openai", http)
    assert headers == {"authorization": f"Bearer h.{body}.s", "chatgpt-account-id": "acct-9"}
