"""The `ccm` command line: start stop status check explain rules usage statusline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ccm import __version__
from ccm.config.load import LoadedConfig, default_config_path, load_config
from ccm.diagnostics import Diagnostic, DiagnosticError

app = typer.Typer(
    help="ccm: a routing proxy for AI coding assistants (Anthropic Messages API in, any provider out).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # help texts say [server], [router]: Rich would eat them as markup
)
rules_app = typer.Typer(help="Work with rules files.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(rules_app, name="rules")

from ccm.oauth.cli import login as _oauth_login  # noqa: E402
from ccm.oauth.cli import oauth_app  # noqa: E402

app.command("login")(_oauth_login)
app.add_typer(oauth_app, name="oauth")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default ~/.claude-code-mux/config.toml or $CCM_CONFIG).",
    ),
]


def _print_diagnostics(diags: list[Diagnostic]) -> None:
    for d in diags:
        typer.echo(d.format(), err=True)


def _load(config: Path | None) -> LoadedConfig:
    path = config or default_config_path()
    try:
        loaded = load_config(path)
    except DiagnosticError as e:
        _print_diagnostics(e.diagnostics)
        raise typer.Exit(1) from None
    return loaded


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ccm {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    pass


@app.command()
def start(
    config: ConfigOpt = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default: [server] host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", help="Port (default: [server] port, 13456).")
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch/--no-watch", help="Reload config and rules on change.")
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", "-w", min=1, help="Worker processes sharing the port (more cores)."
        ),
    ] = 1,
) -> None:
    """Start the proxy in the foreground (writes a default config on first start)."""
    import os

    from ccm.config.load import ensure_config
    from ccm.runtime import build_runtime
    from ccm.server.run import pid_path, read_pid, setup_logging
    from ccm.server.serve import command

    path = (config or default_config_path()).expanduser().absolute()
    if ensure_config(path):
        typer.echo(f"wrote a default config to {path}")
    loaded = _load(path)
    server = loaded.config.server
    setup_logging(server.log_level)
    _print_diagnostics(loaded.warnings)
    try:
        runtime = build_runtime(loaded)
    except DiagnosticError as e:
        _print_diagnostics(e.diagnostics)
        raise typer.Exit(1) from None
    _print_diagnostics(runtime.router.warnings)
    running = read_pid(pid_path(path))
    if running and running != os.getpid():
        typer.echo(f"ccm is already running for {path} (pid {running}); `ccm stop` first", err=True)
        raise typer.Exit(1)
    bind_host, bind_port = host or server.host, port or server.port
    typer.echo(
        f"ccm {__version__} on http://{bind_host}:{bind_port}  config {path}  rules {runtime.router.rules_file.path}"
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # the server runs without this CLI's imports (ccm/server/serve.py says why); same PID
    argv = command(path, bind_host, bind_port, watch=watch, workers=workers)
    os.execv(argv[0], argv)


def _running(config: Path | None) -> tuple[Path, int | None]:
    """The config's path and the pid of the ccm running for it (None, said so, when none)."""
    from ccm.server.run import pid_path, read_pid

    path = (config or default_config_path()).expanduser()
    pid = read_pid(pid_path(path))
    if pid is None:
        typer.echo(f"ccm is not running for {path}")
    return path, pid


@app.command()
def stop(config: ConfigOpt = None) -> None:
    """Stop a running ccm (SIGTERM: streams in flight get time to finish)."""
    import os
    import signal
    import time

    from ccm.server.run import pid_path, read_pid

    path, pid = _running(config)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(400):
        time.sleep(0.1)
        if read_pid(pid_path(path)) is None:
            typer.echo(f"stopped (pid {pid})")
            return
    typer.echo(f"sent SIGTERM to pid {pid}; it is still finishing", err=True)


@app.command()
def status(config: ConfigOpt = None) -> None:
    """Whether ccm runs for this config, and its /health."""
    from ccm.config.secrets import MissingSecret
    from ccm.server.access import admin_token
    from ccm.server.run import pid_path, read_address

    path, pid = _running(config)
    if pid is None:
        raise typer.Exit(1)
    typer.echo(f"ccm is running (pid {pid})")
    address = read_address(pid_path(path))
    if not address:
        return
    import httpx

    host, _, port = address.rpartition(":")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    headers = {}
    try:  # /health tells an admin more: send the admin token when one is set
        token = admin_token(load_config(path).config.server)
        if token:
            headers["x-ccm-admin-token"] = token
    except (DiagnosticError, MissingSecret):
        pass
    try:
        health = httpx.get(
            f"http://{host}:{port}/health", headers=headers, timeout=3, trust_env=False
        ).json()
    except (httpx.HTTPError, ValueError) as e:
        typer.echo(f"  http://{address}/health did not answer: {e}")
        raise typer.Exit(1) from None
    typer.echo(
        f"  serving on http://{address}, version {health.get('version')}, up {health.get('uptime_s')} s"
    )
    typer.echo(f"  rules version {health.get('rules_version')} from {health.get('rules')}")
    if health.get("last_reload_error"):
        typer.echo(
            f"  last reload failed (still serving the previous rules):\n{health['last_reload_error']}"
        )


@app.command()
def check(
    config: ConfigOpt = None,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="Check this rules file instead of the one the config names."),
    ] = None,
) -> None:
    """Check the config and its rules; exit 1 with file:line:col on any error, or when the
    config cannot route (a model or rule whose every provider lacks its key, a mapping to an
    unknown provider, no usable provider at all)."""
    from ccm.rules.chain import Resolver
    from ccm.rules.compile import compile_rules
    from ccm.rules.load import build_router
    from ccm.rules.parse import parse_rules
    from ccm.rules.routable import claude_code_problems, routing_problems

    loaded = _load(config)
    try:
        if rules is not None:
            try:
                text = rules.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise DiagnosticError([Diagnostic(str(rules), 0, 0, f"cannot read: {e}")]) from None
            router = compile_rules(parse_rules(text, str(rules)), Resolver(loaded.config))
        else:
            router = build_router(loaded)
    except DiagnosticError as e:
        _print_diagnostics(loaded.warnings)
        _print_diagnostics(e.diagnostics)
        n = len(e.errors)
        typer.echo(f"{n} error{'s' if n != 1 else ''}", err=True)
        raise typer.Exit(1) from None
    problems = routing_problems(loaded, router) + claude_code_problems(loaded, router)
    errors = [d for d in problems if d.severity == "error"]
    escalated = {(d.line, d.message) for d in errors}  # a warning that is now an error: once
    _print_diagnostics([w for w in loaded.warnings if (w.line, w.message) not in escalated])
    _print_diagnostics(router.warnings)
    _print_diagnostics(problems)
    if errors:
        typer.echo(f"{len(errors)} error{'s' if len(errors) != 1 else ''}", err=True)
        raise typer.Exit(1)
    n_rules = len(router.rewrites) + len(router.routes) + 1
    typer.echo(f"ok: {loaded.path} ({n_rules} rules from {router.rules_file.path})")


@app.command()
def explain(
    request: Annotated[
        Path,
        typer.Argument(
            help='A Messages API request body (JSON), or a capture {"headers": ..., "body": ...}; - for stdin.'
        ),
    ],
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="A request header, 'Name: value' (repeatable)."),
    ] = None,
) -> None:
    """Show how one request would be routed: features, rules tried, target, provider chain."""
    from ccm.rules.explain import explain as run_explain
    from ccm.rules.explain import format_explanation
    from ccm.rules.load import build_router

    loaded = _load(config)
    try:
        router = build_router(loaded)
    except DiagnosticError as e:
        _print_diagnostics(e.diagnostics)
        raise typer.Exit(1) from None
    from ccm.rules.explain import request_of

    try:
        raw = sys.stdin.buffer.read() if str(request) == "-" else request.read_bytes()
        body, headers = request_of(json.loads(raw))
    except (OSError, ValueError) as e:
        typer.echo(f"{request}: cannot read a JSON request: {e}", err=True)
        raise typer.Exit(1) from None
    for h in header or []:
        name, sep, value = h.partition(":")
        if not sep:
            typer.echo(f"--header {h!r}: expected 'Name: value'", err=True)
            raise typer.Exit(2)
        headers[name.strip().lower()] = value.strip()
    result = run_explain(router, body, headers)
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        typer.echo(format_explanation(result))
    if result.get("error"):
        raise typer.Exit(1)


@app.command()
def usage(
    config: ConfigOpt = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="24h, 7d, 30m, 2w ago, or a date: 2026-12-01 (local time)."),
    ] = None,
    by: Annotated[
        str, typer.Option("--by", help="Group by day, model, provider, session or rule.")
    ] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV rows.")] = False,
) -> None:
    """Requests, tokens and cost from the usage ledger (works while ccm is stopped)."""
    from ccm.ledger.paths import ledger_path_from_file
    from ccm.ledger.query import GROUPS, LedgerMissing, parse_since
    from ccm.ledger.query import usage as read_usage

    if by not in GROUPS:
        typer.echo(f"--by {by!r}: one of {', '.join(GROUPS)}", err=True)
        raise typer.Exit(2)
    try:
        start = parse_since(since) if since else None
    except ValueError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    path = ledger_path_from_file(config or default_config_path())
    try:
        data = read_usage(path, start, by)
    except LedgerMissing as e:
        typer.echo(
            f"{e} (ccm writes it as it serves requests; [ledger] path in the config)", err=True
        )
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    elif as_csv:
        import csv

        from ccm.ledger.query import SUMMARY_KEYS

        fields = [by, *SUMMARY_KEYS]
        w = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(data["rows"])
    else:
        typer.echo(_usage_table(data, by))


def _usage_table(data: dict, by: str) -> str:
    def money(v: float | None, unpriced: int = 0) -> str:
        if v is None:
            return "n/a" if unpriced else "-"
        return f"${v:,.4f}" + ("+?" if unpriced else "")

    head = [by, "requests", "input", "output", "cache read", "cache write", "cost", "errors"]
    lines = [
        [
            str(r[by] if r[by] is not None else "-"),
            f"{r['requests']:,}",
            f"{r['input_tokens']:,}",
            f"{r['output_tokens']:,}",
            f"{r['cache_read_input_tokens']:,}",
            f"{r['cache_creation_input_tokens']:,}",
            money(r["cost_usd"], r["unpriced_requests"]),
            f"{r['errors']:,}",
        ]
        for r in data["rows"]
    ]
    t = data["totals"]
    unpriced = sum(r["unpriced_requests"] for r in data["rows"])
    errors = sum(r["errors"] for r in data["rows"])
    lines.append(
        [
            "total",
            f"{t['requests']:,}",
            f"{t['input_tokens']:,}",
            f"{t['output_tokens']:,}",
            f"{t['cache_read_input_tokens']:,}",
            f"{t['cache_creation_input_tokens']:,}",
            money(t["cost_usd"], unpriced),
            f"{errors:,}",
        ]
    )
    widths = [max(len(row[i]) for row in [head, *lines]) for i in range(len(head))]
    out = []
    for n, row in enumerate([head, *lines]):
        if n == len(lines):
            out.append("  ".join("-" * w for w in widths))
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
    if unpriced:
        out.append(
            f"+? {unpriced} answered request(s) have no known price: set price = {{...}} on the mapping"
        )
    return "\n".join(out)


@app.command()
def statusline(config: ConfigOpt = None) -> None:
    """One line for Claude Code's statusLine setting: reads its JSON on stdin (session_id)."""
    from ccm.ledger.statusline import main as run_statusline

    raise typer.Exit(run_statusline(["--config", str(config)] if config else []))


# ---- Claude Code: ccm code, ccm env, ccm setup claude ----------------------------------------

setup_app = typer.Typer(
    help="Set up a client to use ccm.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(setup_app, name="setup")


def _client_config(config: Path | None) -> LoadedConfig:
    from ccm.config.load import ensure_config

    path = (config or default_config_path()).expanduser().absolute()
    if ensure_config(path):
        typer.echo(f"ccm: wrote a default config to {path}", err=True)
    return _load(path)


@app.command(
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
    },
)
def code(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Config file (default ~/.claude-code-mux/config.toml or $CCM_CONFIG). "
            "Give it before claude's arguments.",
        ),
    ] = None,
) -> None:
    """Run Claude Code through ccm: start ccm for this config in the background if it is not
    running, then run `claude` with every argument unchanged, pointed at ccm (base URL, client
    key, model discovery, the [claude_code] model slots). Exits with claude's status."""
    import os

    from ccm.claude.launch import (
        INSTALL_HINT,
        LaunchError,
        exec_claude,
        find_claude,
        running_url,
        start_background,
        unset_key,
    )
    from ccm.claude.limits import claude_code_vars
    from ccm.server.run import log_path

    claude = find_claude()
    if claude is None:
        typer.echo(INSTALL_HINT, err=True)
        raise typer.Exit(127)
    loaded = _client_config(config)
    _print_diagnostics(loaded.warnings)
    url = running_url(loaded)
    if url is None:
        try:
            url = start_background(loaded)
        except LaunchError as e:
            typer.echo(f"ccm: {e}", err=True)
            raise typer.Exit(1) from None
        typer.echo(
            f"ccm: started on {url} (log {log_path(loaded.path)}; `ccm stop` ends it)", err=True
        )
    else:
        typer.echo(f"ccm: using the ccm running on {url}", err=True)
    variables = claude_code_vars(loaded, url, ctx.args)
    problem = unset_key(variables)
    if problem:
        typer.echo(f"ccm: {problem}", err=True)
        raise typer.Exit(1)
    env = {**os.environ, **{v.name: v.value for v in variables}}
    raise typer.Exit(exec_claude(claude, list(ctx.args), env))


@app.command("env")
def env_cmd(
    config: ConfigOpt = None,
    shell: Annotated[
        str, typer.Option("--shell", help="bash (also zsh, sh), fish or powershell.")
    ] = "bash",
) -> None:
    """Print the variables `ccm code` gives Claude Code, for starting claude yourself:
    eval "$(ccm env)" (bash/zsh), ccm env --shell fish | source, or
    ccm env --shell powershell | Invoke-Expression."""
    from ccm.claude.launch import SHELLS, base_url, shell_lines
    from ccm.claude.limits import claude_code_vars
    from ccm.server.run import pid_path, read_address, read_pid

    if shell not in SHELLS:
        typer.echo(f"--shell {shell!r}: one of {', '.join(SHELLS)}", err=True)
        raise typer.Exit(2)
    loaded = _client_config(config)
    pidfile = pid_path(loaded.path)
    address = read_address(pidfile) if read_pid(pidfile) else None
    variables = claude_code_vars(loaded, base_url(loaded.config.server, address))
    for line in shell_lines(variables, shell):
        typer.echo(line)


@setup_app.command("claude")
def setup_claude(
    config: ConfigOpt = None,
    project: Annotated[
        bool,
        typer.Option("--project", help="Write .claude/settings.local.json of the current project."),
    ] = False,
    undo: Annotated[
        bool, typer.Option("--undo", help="Put the settings file back as it was, byte for byte.")
    ] = False,
) -> None:
    """Merge ccm's variables and the status line into ~/.claude/settings.json (or the
    project's .claude/settings.local.json), keeping every other key, with a backup. This is
    how the VS Code and JetBrains extensions reach ccm; ccm must be running (`ccm start`)."""
    from ccm.claude.launch import base_url, unset_key
    from ccm.claude.limits import claude_code_vars
    from ccm.claude.settings import SettingsError, backup_path, ccm_command, settings_path
    from ccm.claude.settings import setup as run_setup
    from ccm.claude.settings import undo as run_undo

    path = settings_path(project)
    try:
        if undo:
            typer.echo(run_undo(path))
            return
        loaded = _client_config(config)
        variables = claude_code_vars(loaded, base_url(loaded.config.server), environ={})
        problem = unset_key(variables)
        if problem:
            raise SettingsError(problem)
        changed = run_setup(path, variables, ccm_command())
    except (SettingsError, OSError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    if not changed:
        typer.echo(f"{path} already points Claude Code at ccm")
        return
    typer.echo(
        f"wrote {path} (backup {backup_path(path).name}; `ccm setup claude --undo` restores it)"
    )
    for v in variables:
        shown = f"${v.from_env} (its value)" if v.from_env else (v.value or '""')
        typer.echo(f"  env.{v.name} = {shown}")
    typer.echo(f"  statusLine = {ccm_command()} statusline")
    typer.echo(f"start ccm with `ccm start --config {loaded.path}` (or use `ccm code`)")


@rules_app.command("from-toml")
def rules_from_toml(
    config: Annotated[Path, typer.Argument(help="A config.toml with a [router] section.")],
) -> None:
    """Print the rules file equivalent to the config's [router] section."""
    from ccm.rules.from_toml import rules_from_router

    loaded = _load(config)
    text, _ = rules_from_router(loaded)
    typer.echo(text, nl=False)


if __name__ == "__main__":  # pragma: no cover
    app()
