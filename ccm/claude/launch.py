"""`ccm code` and `ccm env`: the environment that points Claude Code at ccm, and a ccm running
for the config (started in the background when it is not).

Claude Code authenticates to ccm with `ANTHROPIC_AUTH_TOKEN` (sent as `Authorization: Bearer`):
`[server] api_key` when set, else a placeholder. Checked on Claude Code 2.1.197: with the token,
the interactive CLI neither says "Not logged in" nor asks "Do you want to use this API key?"
(which it does for `ANTHROPIC_API_KEY`, defaulting to No). `ANTHROPIC_API_KEY` is set empty so a
real Anthropic key in the user's shell is not sent to ccm as well.

A config with a provider that forwards the client's own credential (`auth_type = "client"`,
a Claude Pro/Max user keeping Claude through ccm) gets neither variable: they would replace
the user's own sign-in, which is what that provider must receive.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ccm.config.load import LoadedConfig, env_reference
from ccm.config.schema import Config, ServerConfig
from ccm.server.run import log_path, pid_path, read_address, read_pid

PLACEHOLDER_KEY = "ccm-local"  # ccm without [server] api_key takes any client key
SLOT_ENV = {
    "opus": "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "sonnet": "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "haiku": "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "subagent": "CLAUDE_CODE_SUBAGENT_MODEL",
}
INSTALL_HINT = (
    "Claude Code (`claude`) is not on PATH. Install it with\n"
    "  npm install -g @anthropic-ai/claude-code\n"
    "(Node.js 18+; https://docs.claude.com/en/docs/claude-code/setup), then run `ccm code` again."
)


class LaunchError(Exception):
    """ccm could not be made to serve; the message says why and where the log is."""


@dataclass(frozen=True, slots=True)
class Var:
    """One variable for Claude Code: a value, or a reference to the user's own variable."""

    name: str
    value: str
    from_env: str | None = None  # "$CCM_API_KEY" in the config: print a reference, not the key


def connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def base_url(server: ServerConfig, address: str | None = None) -> str:
    """Where clients reach ccm: the running one's address, else the config's."""
    if address:
        host, _, port = address.rpartition(":")
    else:
        host, port = server.host, str(server.port)
    host = connect_host(host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def forwards_client_credential(config: Config) -> bool:
    """Some enabled provider sends the client's own credential upstream (auth_type client)."""
    return any(p.auth_type == "client" and p.is_enabled for p in config.providers)


def _credential_vars(config: Config) -> list[Var]:
    """ANTHROPIC_AUTH_TOKEN (ccm's client key, or a placeholder so Claude Code does not ask to
    log in) and ANTHROPIC_API_KEY empty; none when the user's own sign-in must go through."""
    if forwards_client_credential(config):
        return []  # config validation refuses [server] api_key with auth_type client
    key = config.server.api_key
    var = env_reference(key)
    if var:
        token = Var("ANTHROPIC_AUTH_TOKEN", os.environ.get(var, ""), var)
    else:
        token = Var("ANTHROPIC_AUTH_TOKEN", key or PLACEHOLDER_KEY)
    return [token, Var("ANTHROPIC_API_KEY", "")]


def client_vars(config: Config, url: str) -> list[Var]:
    """The variables that point Claude Code at ccm, in a stable order."""
    out = [
        Var("ANTHROPIC_BASE_URL", url),
        *_credential_vars(config),
        Var("CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY", "1"),
    ]
    slots = config.claude_code
    for slot, name in SLOT_ENV.items():
        value = getattr(slots, slot)
        if value:
            out.append(Var(name, value))
    return out


def unset_key(variables: list[Var]) -> str | None:
    """The message when [server] api_key names an environment variable that is not set."""
    for v in variables:
        if v.from_env and not v.value:
            return (
                f"[server] api_key is ${v.from_env}, which is not set here: set it, "
                "or ccm will refuse every client"
            )
    return None


def client_env(config: Config, url: str) -> dict[str, str]:
    return {v.name: v.value for v in client_vars(config, url)}


SHELLS = ("bash", "fish", "powershell")


def _quote_sh(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _quote_ps(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def shell_lines(variables: list[Var], shell: str) -> list[str]:
    """`ccm env` output: lines to eval in bash/zsh, fish, or PowerShell."""
    lines: list[str] = []
    for v in variables:
        if shell == "fish":
            value = f"${v.from_env}" if v.from_env else _quote_sh(v.value)
            lines.append(f"set -gx {v.name} {value}")
        elif shell == "powershell":
            value = f"$env:{v.from_env}" if v.from_env else _quote_ps(v.value)
            lines.append(f"$env:{v.name} = {value}")
        else:
            value = f'"${v.from_env}"' if v.from_env else _quote_sh(v.value)
            lines.append(f"export {v.name}={value}")
    return lines


# ---- a ccm for this config ------------------------------------------------------------


def health_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        r = httpx.get(f"{url}/health", timeout=timeout, trust_env=False)
        return r.status_code == 200 and r.json().get("service") == "ccm"
    except (httpx.HTTPError, ValueError):
        return False


def running_url(loaded: LoadedConfig) -> str | None:
    """The base URL of a ccm serving this config, if one answers /health."""
    pidfile = pid_path(loaded.path)
    if read_pid(pidfile) is None:
        return None
    url = base_url(loaded.config.server, read_address(pidfile))
    deadline = time.monotonic() + 10  # it may still be starting
    while time.monotonic() < deadline:
        if health_ok(url):
            return url
        if read_pid(pidfile) is None:
            return None
        time.sleep(0.1)
    return None


def start_background(loaded: LoadedConfig, timeout: float = 30) -> str:
    """Start `ccm start` for this config in the background (its own session, output to the
    log), wait for /health; the base URL. LaunchError with the log's tail if it fails."""
    log = log_path(loaded.path)
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ccm.cli", "start", "--config", str(loaded.path)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `ccm code`; `ccm stop` ends it
            close_fds=True,
        )
    url = base_url(loaded.config.server)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health_ok(url, timeout=1):
            return url
        if proc.poll() is not None:
            raise LaunchError(
                f"ccm did not start (exit {proc.returncode}):\n{_tail(log)}\nlog: {log}"
            )
        time.sleep(0.1)
    raise LaunchError(f"ccm did not answer {url}/health within {timeout:.0f} s; log: {log}")


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("  " + line for line in text.splitlines()[-lines:])


def find_claude() -> str | None:
    return shutil.which("claude")


def exec_claude(claude: str, args: list[str], env: dict[str, str]) -> int:
    """Run claude with `args` unchanged; its exit status. On POSIX ccm becomes claude (exec):
    the terminal, signals and the exit status are claude's own."""
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(claude, [claude, *args], env)
    return subprocess.call([claude, *args], env=env)  # pragma: no cover - not POSIX
