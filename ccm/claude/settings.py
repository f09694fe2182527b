"""`ccm setup claude [--project] [--undo]`: merge ccm's variables and the status line into
Claude Code's settings file, keeping every other key; `--undo` puts the file back byte for byte.

The file is `~/.claude/settings.json`, or `.claude/settings.local.json` in the current project
(the VS Code and JetBrains extensions read these, so they reach ccm too). Before the first
change the file's exact bytes (or its absence) and mode go to `<file>.ccm-backup.json`, which
later runs keep; `--undo` restores from it and removes it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

from ccm.claude.launch import PLACEHOLDER_KEY, Var
from ccm.files import atomic_write

BACKUP_SUFFIX = ".ccm-backup.json"


class SettingsError(Exception):
    pass


def settings_path(project: bool, home: Path | None = None, cwd: Path | None = None) -> Path:
    if project:
        return (cwd or Path.cwd()) / ".claude" / "settings.local.json"
    return (home or Path.home()) / ".claude" / "settings.json"


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def ccm_command() -> str:
    """The absolute path of the ccm being run (for the status-line command)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "ccm" and argv0.exists():
        return str(argv0.absolute())
    beside = Path(sys.executable).parent / "ccm"  # the venv's console script
    if beside.exists():
        return str(beside)
    found = shutil.which("ccm")
    return str(Path(found).absolute()) if found else f"{sys.executable} -m ccm.cli"


def status_line(ccm: str) -> dict[str, str]:
    return {"type": "command", "command": f"{ccm} statusline"}


def merged(current: dict[str, Any], variables: list[Var], ccm: str) -> dict[str, Any]:
    """`current` with ccm's variables in `env` and its status line; every other key kept."""
    out = dict(current)
    env = dict(out.get("env") or {})
    for v in variables:
        env[v.name] = v.value
    out["env"] = env
    out["statusLine"] = status_line(ccm)
    return out


def setup(path: Path, variables: list[Var], ccm: str) -> bool:
    """Merge into `path`, backing it up first. True if the file changed."""
    existed = path.exists()
    raw = path.read_bytes() if existed else b""
    try:
        current = json.loads(raw) if raw.strip() else {}
    except ValueError as e:
        raise SettingsError(f"{path} is not valid JSON ({e}); not changed") from None
    if not isinstance(current, dict):
        raise SettingsError(f"{path} does not hold a JSON object; not changed")
    if current.get("env") is not None and not isinstance(current["env"], dict):
        raise SettingsError(f'{path}: "env" is not an object; not changed')
    new = merged(current, variables, ccm)
    data = (json.dumps(new, indent=2, ensure_ascii=False) + "\n").encode()
    if new == current:
        return False
    mode = stat.S_IMODE(path.stat().st_mode) if existed else 0o600
    if any(v.name == "ANTHROPIC_AUTH_TOKEN" and v.value != PLACEHOLDER_KEY for v in variables):
        mode = 0o600  # a real client key is written: only the owner may read it
    backup = backup_path(path)
    if not backup.exists():  # the state before ccm touched it, kept across later runs
        record = {
            "existed": existed,
            "mode": stat.S_IMODE(path.stat().st_mode) if existed else None,
            "content": base64.b64encode(raw).decode(),
        }
        atomic_write(backup, json.dumps(record).encode(), 0o600)
    atomic_write(path, data, mode)
    return True


def undo(path: Path) -> str:
    """Restore `path` as it was before `ccm setup claude`. A message for the user."""
    backup = backup_path(path)
    try:
        record = json.loads(backup.read_text())
        content = base64.b64decode(record["content"])
    except FileNotFoundError:
        raise SettingsError(f"nothing to undo: no {backup.name} next to {path}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise SettingsError(f"{backup} is damaged ({e}); {path} left as it is") from None
    if record.get("existed"):
        atomic_write(path, content, record.get("mode") or 0o600)
        what = f"restored {path}"
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        what = f"removed {path} (it did not exist before)"
    backup.unlink()
    return what
