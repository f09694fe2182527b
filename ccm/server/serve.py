"""The process `ccm start` becomes once its checks have passed (it execs this module, keeping
its PID): load the config, build the runtime, serve until SIGTERM or Ctrl-C.

Why a second entry: the typer CLI that parses `ccm start`'s options imports pydantic (typer's
parameter coercion), rich and the other commands' stacks, about 13 MB of RSS a long-running
proxy would carry for nothing. `ccm start` reads its options and reports bad configs, a ccm
already running, and the address, then replaces itself with this module.

    python -m ccm.server.serve CONFIG HOST PORT watch|no-watch WORKERS
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path


def command(config: Path, host: str, port: int, *, watch: bool, workers: int) -> list[str]:
    """The argv `ccm start` execs."""
    mode = "watch" if watch else "no-watch"
    return [
        sys.executable,
        "-m",
        "ccm.server.serve",
        str(config),
        host,
        str(port),
        mode,
        str(workers),
    ]


def main(argv: list[str]) -> int:
    from ccm.config.load import load_config
    from ccm.diagnostics import DiagnosticError
    from ccm.runtime import State, build_runtime
    from ccm.server.run import (
        PortInUse,
        pid_path,
        remove_pid,
        serve,
        setup_logging,
        tune_gc,
        write_pid,
    )

    config, host, port, mode, workers = argv
    path = Path(config)
    try:
        loaded = load_config(path)
        setup_logging(loaded.config.server.log_level)
        runtime = build_runtime(loaded)
    except DiagnosticError as e:  # the file changed since `ccm start` checked it
        for d in e.diagnostics:
            print(d.format(), file=sys.stderr)
        return 1
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal: exit cleanly then
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tune_gc()
    pidfile = pid_path(path)
    write_pid(pidfile, f"{host}:{port}")
    try:
        serve(State(path, runtime), host, int(port), workers=int(workers), watch=mode == "watch")
    except PortInUse as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        remove_pid(pidfile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
