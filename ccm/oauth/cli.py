"""`ccm login` and `ccm oauth list|logout|refresh|flows`.

Mount in ccm/cli.py::

    from ccm.oauth.cli import login as oauth_login, oauth_app
    app.command("login")(oauth_login)
    app.add_typer(oauth_app, name="oauth")

`ccm login ID --flow claude-max|chatgpt|google`: prints the URL and opens the browser
(unless --no-browser). A flow that redirects to this machine (chatgpt, google) is caught by a
one-shot listener on 127.0.0.1; otherwise the code shown by the provider is pasted at the
prompt, or given up front with --code (non-interactive use).
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import typer

from ccm.oauth.flows import (
    FLOW_NAMES,
    OAuthError,
    canonical_name,
    flow_for_provider_type,
    get_flow,
    is_local_uri,
)
from ccm.oauth.login import (
    CallbackOutcome,
    CallbackServer,
    LoginManager,
    local_redirect_for,
    run_callback,
)
from ccm.oauth.refresh import refresh_token
from ccm.oauth.store import TokenRecord, TokenStore

oauth_app = typer.Typer(
    rich_markup_mode=None,
    help="OAuth sign-in tokens for subscription providers (Claude, ChatGPT, Google).",
    no_args_is_help=True,
    add_completion=False,
)

TokensOpt = Annotated[
    Path | None,
    typer.Option(
        "--tokens",
        help="Token file (default ~/.claude-code-mux/oauth_tokens.json or $CCM_OAUTH_TOKENS).",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config used to guess --flow from the provider's type (default: the usual one).",
    ),
]
FlowOpt = Annotated[
    str | None,
    typer.Option(
        "--flow",
        "-f",
        help=f"{' | '.join(FLOW_NAMES)} (default: from the provider type in the config).",
    ),
]


def open_browser(url: str) -> bool:
    """Open `url` in the user's browser (tests replace this)."""
    import webbrowser

    try:
        return webbrowser.open(url)
    except Exception:
        return False


def _fail(message: object) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _infer_flow(provider_id: str, config: Path | None) -> str | None:
    """The flow for the provider whose oauth_provider (or name) is `provider_id`."""
    try:
        from ccm.config.load import default_config_path, load_config

        cfg = load_config((config or default_config_path()).expanduser()).config
    except Exception:
        return None
    for p in cfg.providers:
        if p.oauth_provider == provider_id or (not p.oauth_provider and p.name == provider_id):
            return flow_for_provider_type(p.provider_type)
    return None


def _flow_name(provider_id: str, flow: str | None, config: Path | None) -> str:
    if flow:
        return canonical_name(flow)
    guessed = _infer_flow(provider_id, config)
    if guessed is None:
        raise OAuthError(
            f"which sign-in? give --flow {'|'.join(FLOW_NAMES)} (no provider in the config "
            f"uses oauth_provider = {provider_id!r})"
        )
    return guessed


def _with_free_port(uri: str) -> str:
    """`uri` with port 0 replaced by a port that is free right now."""
    parts = urlsplit(uri)
    if parts.port != 0:
        return uri
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def _signed_in(record: TokenRecord, store: TokenStore) -> None:
    typer.echo(f"Signed in: token {record.provider_id!r} saved to {store.path}")
    typer.echo(
        f"  expires {record.expires_at}"
        + (f", project {record.project_id}" if record.project_id else "")
    )
    typer.echo(
        f'  use it in a [[providers]] entry: auth_type = "oauth", oauth_provider = "{record.provider_id}"'
    )


def _ids_for_flows(config: Path | None) -> dict[str, str]:
    """flow -> the token id a configured provider uses for it (its oauth_provider)."""
    out: dict[str, str] = {}
    try:
        from ccm.config.load import default_config_path, load_config

        cfg = load_config((config or default_config_path()).expanduser()).config
    except Exception:
        return out
    for p in cfg.providers:
        if p.auth_type == "oauth":
            fl = flow_for_provider_type(p.provider_type)
            if fl and fl not in out:
                out[fl] = p.oauth_provider or p.name
    return out


def _import(
    provider_id: str | None, flow: str | None, tokens: Path | None, config: Path | None
) -> None:
    from ccm.oauth.imports import import_sign_ins

    store = TokenStore(tokens)
    wanted: set[str] | None = None
    if provider_id or flow:
        try:
            wanted = {_flow_name(provider_id or "", flow, config)}
        except OAuthError as e:
            raise _fail(e) from None
    configured = _ids_for_flows(config)

    def ids(fl: str) -> str:
        return provider_id or configured.get(fl) or fl

    try:
        done, skipped = asyncio.run(import_sign_ins(store, ids, flows=wanted))
    except OAuthError as e:
        raise _fail(e) from None
    for reason in skipped:
        typer.echo(f"  {reason}", err=not done)
    if not done:
        raise _fail("nothing imported")
    for item in done:
        record = item.record
        verb = "replaced" if item.replaced else "saved"
        typer.echo(
            f"Imported the {item.source.name} sign-in ({item.source.path}): token "
            f"{record.provider_id!r} {verb} in {store.path} (flow {record.flow})"
        )
        typer.echo(
            f"  expires {record.expires_at}"
            + (f", project {record.project_id}" if record.project_id else "")
        )
        if item.source.note:
            typer.echo(f"  note: {item.source.note}")
        try:
            get_flow(record.flow or "").require_client()
        except OAuthError as e:
            typer.echo(f"  to refresh it ccm needs the client that issued it: {e}")
        typer.echo(
            f'  use it in a [[providers]] entry: auth_type = "oauth", oauth_provider = "{record.provider_id}"'
        )


def login(
    provider_id: Annotated[
        str | None,
        typer.Argument(help="Token id: the provider's oauth_provider in the config."),
    ] = None,
    flow: FlowOpt = None,
    import_: Annotated[
        bool,
        typer.Option(
            "--import",
            help="Take existing sign-ins from the Codex CLI (~/.codex/auth.json) and the Gemini "
            "CLI (~/.gemini/oauth_creds.json) instead of signing in; with ID or --flow, only "
            "that one.",
        ),
    ] = False,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the URL; do not open a browser.")
    ] = False,
    code: Annotated[
        str | None,
        typer.Option(
            "--code",
            help="The code (code#state, or the callback URL) instead of waiting or prompting.",
        ),
    ] = None,
    redirect_uri: Annotated[
        str | None,
        typer.Option("--redirect-uri", help="Override the flow's redirect URI (advanced)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the browser.")
    ] = 300.0,
    tokens: TokensOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Sign in with a subscription (OAuth 2.0 + PKCE) and save the token, or --import the
    sign-ins of the official CLIs."""
    if import_:
        _import(provider_id, flow, tokens, config)
        return
    if not provider_id:
        raise _fail("give the token id to sign in as (`ccm login ID --flow ...`), or --import")
    try:
        fl = get_flow(_flow_name(provider_id, flow, config)).require_client()
    except OAuthError as e:
        raise _fail(e) from None
    store = TokenStore(tokens)
    manager = LoginManager(store)
    redirect = redirect_uri or local_redirect_for(fl)
    server: CallbackServer | None = None
    expected: list[str] = []

    def on_callback(params: dict[str, str]) -> CallbackOutcome:
        return run_callback(params, manager, expected[0] if expected else "")

    if code is None and is_local_uri(redirect):
        try:
            server = CallbackServer(redirect, on_callback)
            redirect = server.redirect_uri
        except OSError as e:
            typer.echo(
                f"cannot listen on {redirect} ({e.strerror or e}); after signing in, copy the "
                "address the browser shows and paste it here",
                err=True,
            )
    redirect = _with_free_port(redirect) if is_local_uri(redirect) else redirect
    try:
        session = manager.start(fl, provider_id, redirect)
    except OAuthError as e:
        if server:
            server.close()
        raise _fail(e) from None
    expected.append(session.state)
    typer.echo(f"Sign in to {fl.title} by opening:\n\n  {session.url}\n")
    try:
        if server:
            server.start()
        if not no_browser and not open_browser(session.url):
            typer.echo("(could not open a browser; open the URL yourself)", err=True)
        if code is not None:
            record = asyncio.run(manager.finish(session.state, code))
        elif server:
            typer.echo(f"Waiting for the browser to come back to {redirect} ...")
            outcome = server.wait(timeout)
            if outcome is None:
                raise OAuthError(f"no sign-in within {timeout:g} seconds; run `ccm login` again")
            if outcome.record is None:
                raise OAuthError(outcome.error or outcome.message)
            record = outcome.record
        else:
            typer.echo(session.instructions)
            pasted = typer.prompt("Code")
            record = asyncio.run(manager.finish(session.state, pasted))
    except OAuthError as e:
        raise _fail(e) from None
    finally:
        if server:
            server.close()
        manager.cancel(session.state)
    _signed_in(record, store)


oauth_app.command("login")(login)


@oauth_app.command("list")
def list_tokens(
    tokens: TokensOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (no secrets).")] = False,
) -> None:
    """List saved tokens: id, flow, expiry, status (never the tokens themselves)."""
    store = TokenStore(tokens)
    try:
        items = store.list()
    except OAuthError as e:
        raise _fail(e) from None
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    if not items:
        typer.echo(f"no OAuth tokens in {store.path}")
        return
    rows = [("ID", "FLOW", "EXPIRES", "STATUS", "PROJECT")]
    for it in items:
        status = (
            "expired" if it["is_expired"] else "needs refresh" if it["needs_refresh"] else "active"
        )
        rows.append(
            (
                it["provider_id"],
                it.get("flow", "-"),
                it["expires_at"],
                status,
                it.get("project_id", ""),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@oauth_app.command("logout")
def logout(
    provider_id: Annotated[str, typer.Argument(help="Token id to delete.")],
    tokens: TokensOpt = None,
) -> None:
    """Delete a saved token (it is not revoked at the provider)."""
    store = TokenStore(tokens)
    try:
        found = store.delete(provider_id)
    except OAuthError as e:
        raise _fail(e) from None
    if not found:
        raise _fail(f"no OAuth token {provider_id!r} in {store.path}")
    typer.echo(f"removed OAuth token {provider_id!r}")


@oauth_app.command("refresh")
def refresh(
    provider_id: Annotated[str, typer.Argument(help="Token id to refresh now.")],
    flow: FlowOpt = None,
    tokens: TokensOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Refresh a token now, whatever its expiry."""
    store = TokenStore(tokens)
    try:
        record = store.get(provider_id)
        if record is None:
            raise OAuthError(f"no OAuth token {provider_id!r}; run `ccm login {provider_id}`")
        default = None if (flow or record.flow) else _infer_flow(provider_id, config)
        fresh = asyncio.run(refresh_token(store, provider_id, flow, None, default_flow=default))
    except OAuthError as e:
        raise _fail(e) from None
    typer.echo(f"refreshed OAuth token {provider_id!r}; expires {fresh.expires_at}")


@oauth_app.command("flows")
def flows() -> None:
    """The sign-in flows and the environment variables that configure them."""
    for name in FLOW_NAMES:
        fl = get_flow(name)
        missing = fl.missing()
        ready = f"needs {' and '.join(missing)} (client of {fl.client_of})" if missing else "ready"
        typer.echo(f"{name:15} {fl.title}")
        typer.echo(f"{'':15} redirect {fl.redirect_uri or 'local callback on 127.0.0.1'}; {ready}")


__all__ = ["login", "oauth_app", "open_browser"]
