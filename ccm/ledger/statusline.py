"""`ccm statusline`: one line for Claude Code's `statusLine` setting.

Claude Code runs the command after every message with a JSON object on stdin that carries
`session_id`; this prints that session's last route (rule -> model -> provider / actual model,
"(failed over)" when an earlier provider failed), its tokens and its cost. Standard library only
(no typer, msgspec or litestar on this path: the `ccm` entry point dispatches here first), and
never a traceback: a missing or empty ledger prints a short neutral line.

    ccm statusline [--config PATH]
"""

from __future__ import annotations

import json
import sys

from ccm.ledger.paths import default_config_path, ledger_path_from_file
from ccm.ledger.query import LedgerMissing, session

TYPE_CHECKING = False  # not `from typing import ...`: typing costs the status line start-up

if TYPE_CHECKING:
    import os
    from typing import Any


def _count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)


def render(path: str | os.PathLike[str], session_id: str | None) -> str:
    if not session_id:
        return "ccm: no session id from Claude Code"
    try:
        s = session(path, session_id)
    except LedgerMissing:
        return "ccm: no usage recorded yet"
    if s is None:
        return "ccm: no requests in this session yet"
    last = s["last"]
    route = f"{last['rule'] or '?'} -> {last['model'] or '?'} -> "
    if last["provider"]:
        route += f"{last['provider']} / {last['actual_model']}"
    else:
        route += f"no provider ({last['status']})"
    if last["failover"]:
        route += " (failed over)"
    tokens_in = s["input_tokens"] + s["cache_read_input_tokens"] + s["cache_creation_input_tokens"]
    tokens = f"{_count(tokens_in)} in, {_count(s['output_tokens'])} out"
    if s["cache_read_input_tokens"]:
        tokens += f" ({_count(s['cache_read_input_tokens'])} cached)"
    if s["cost_usd"] is not None:
        cost = f"${s['cost_usd']:.4f}"
        if s["unpriced_requests"]:
            cost += "+?"
    elif s["subscription_requests"]:
        cost = "subscription"
    else:
        cost = "cost n/a"
    return f"ccm {route} | {tokens} | {cost}"


def _config_arg(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg in ("--config", "-c") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return default_config_path()


def main(argv: list[str] | None = None, stdin: Any = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--help" in argv or "-h" in argv:
        print(__doc__.strip())
        return 0
    try:
        raw = (stdin or sys.stdin).read()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            data = {}
        sid = data.get("session_id") if isinstance(data, dict) else None
        path = ledger_path_from_file(_config_arg(argv))
        line = render(path, sid if isinstance(sid, str) else None)
    except Exception as e:  # never a traceback in the user's status bar
        line = f"ccm: status unavailable ({type(e).__name__})"
    print(line)
    return 0
