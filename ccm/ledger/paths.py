"""Where the ledger lives, found with the standard library only and no pathlib (the status line
uses this; pathlib alone would add urllib and ipaddress to its start-up)."""

from __future__ import annotations

import os

DEFAULT_NAME = "usage.db"


def default_config_path() -> str:
    """The same rule as ccm.config.load.default_config_path, without its imports."""
    env = os.environ.get("CCM_CONFIG")
    if env:
        return os.path.expanduser(env)
    return os.path.join(os.path.expanduser("~"), ".claude-code-mux", "config.toml")


def ledger_path(config_path: str | os.PathLike[str], configured: str | None) -> str:
    """`[ledger] path` (relative to the config's folder, `~` expanded), else usage.db there."""
    base = os.path.dirname(os.path.expanduser(os.fspath(config_path)))
    if not configured:
        return os.path.join(base, DEFAULT_NAME)
    return os.path.join(base, os.path.expanduser(configured))


def ledger_path_from_file(config_path: str | os.PathLike[str]) -> str:
    """Read `[ledger] path` from a config file with tomllib; the default if it cannot. A file
    that never mentions `ledger` is not parsed (tomllib costs the status line ~5 ms)."""
    try:
        with open(os.path.expanduser(os.fspath(config_path)), "rb") as f:
            raw = f.read()
    except OSError:
        raw = b""
    table: object = {}
    if b"ledger" in raw:
        import tomllib

        try:
            table = tomllib.loads(raw.decode("utf-8")).get("ledger", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            table = {}
    configured = table.get("path") if isinstance(table, dict) else None
    return ledger_path(config_path, configured if isinstance(configured, str) else None)
