"""The `ccm` console entry point. `ccm statusline` is served before the typer app is imported:
Claude Code runs it after every message, and importing the CLI's dependencies alone takes
longer than the status line's whole budget."""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "statusline":
        from ccm.ledger.statusline import main as statusline

        raise SystemExit(statusline(sys.argv[2:]))
    from ccm.cli import app

    app()


if __name__ == "__main__":
    main()
