"""`ccm statusline` as Claude Code runs it: a process, JSON on stdin, one line out, fast."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ccm.ledger.db import LedgerDB
from tests.ledger.traffic import add_row

CCM = shutil.which("ccm", path=str(Path(sys.executable).parent))
CLAUDE_JSON = {
    "session_id": "abc-123",
    "transcript_path": "/tmp/t.jsonl",
    "cwd": "/tmp",
    "model": {"id": "claude-opus-4-8", "display_name": "Opus"},
    "workspace": {"current_dir": "/tmp", "project_dir": "/tmp"},
    "cost": {"total_cost_usd": 0.0},
}


def statusline(config: Path, stdin: str) -> subprocess.CompletedProcess:
    assert CCM, "the ccm console script is installed in the venv"
    return subprocess.run(
        [CCM, "statusline", "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[ledger]\npath = "data/ledger.db"\n')
    return cfg


def test_missing_ledger_and_bad_input_print_a_neutral_line(config: Path) -> None:
    for stdin in (json.dumps(CLAUDE_JSON), "", "{not json", "[1, 2]"):
        done = statusline(config, stdin)
        assert done.returncode == 0
        assert done.stderr == ""
        assert len(done.stdout.splitlines()) == 1
        assert done.stdout.startswith("ccm: ")
    broken = config.parent / "data"
    broken.mkdir()
    (broken / "ledger.db").write_text("garbage, not SQLite")
    done = statusline(config, json.dumps(CLAUDE_JSON))
    assert done.returncode == 0 and done.stderr == "" and done.stdout.startswith("ccm: ")


def test_names_the_sessions_route_and_is_quick(config: Path) -> None:
    db = LedgerDB(config.parent / "data" / "ledger.db")
    add_row(
        db,
        session_id="abc-123",
        rule="think",
        model="kimi",
        provider="moonshot",
        actual_model="kimi-k2-thinking",
        input_tokens=1500,
        output_tokens=300,
        cost_usd=0.0016,
    )
    db.close()
    done = statusline(config, json.dumps(CLAUDE_JSON))
    assert (
        done.stdout
        == "ccm think -> kimi -> moonshot / kimi-k2-thinking | 1.5k in, 300 out | $0.0016\n"
    )
    # its own work: best of 5 whole-process runs (interpreter start-up included)
    best = min(_timed(config) for _ in range(5))
    assert best < 0.5, f"ccm statusline took {best * 1000:.0f} ms"


def _timed(config: Path) -> float:
    t0 = time.perf_counter()
    statusline(config, json.dumps(CLAUDE_JSON))
    return time.perf_counter() - t0


def test_only_the_standard_library_on_its_path(config: Path) -> None:
    code = (
        "import sys, io; sys.argv = ['ccm', 'statusline', '--config', sys.argv[1]];"
        "sys.stdin = io.StringIO('{}');"
        "from ccm.__main__ import main\n"
        "try: main()\n"
        "except SystemExit: pass\n"
        "heavy = sorted(m for m, mod in sys.modules.items() if mod is not None and m.split('.')[0] in "
        "('typer', 'click', 'msgspec', 'litestar', 'httpx', 'uvicorn', 'tomlkit', 'lark', 'prometheus_client'))\n"
        "print('HEAVY', heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr
