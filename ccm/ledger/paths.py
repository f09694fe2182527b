"""Where the ledger lives, found with the standard library only (the status line uses this)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_NAME = "usage.db"


def default_config_path() -> Path:
    """The same rule as ccm.config.load.default_config_path, without its imports."""
    env = os.environ.get("CCM_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".claude-code-mux" / "config.toml"


def ledger_path(config_path: Path, configured: str | None) -> Path:
    """`[ledger] path` (relative to the config's folder, `~` expanded), else usage.db there."""
    base = config_path.expanduser().parent
    if not configured:
        return base / DEFAULT_NAME
    return base / Path(configured).expanduser()


def ledger_path_from_file(config_path: Path) -> Path:
    """Read `[ledger] path` from a config file with tomllib; the default if it cannot."""
    import tomllib

    table: Any = {}
    try:
        with config_path.expanduser().open("rb") as f:
            table = tomllib.load(f).get("ledger", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        table = {}
    configured = table.get("path") if isinstance(table, dict) else None
    return ledger_path(config_path, configured if isinstance(configured, str) else None)
