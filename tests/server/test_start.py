"""`ccm start` / `stop` / `status`: one PID file per config file (two configs in one folder run
side by side), a port in use is one clear line, --help keeps [server]-style words."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ccm.server.run import FACTORY, log_path, pid_path, server_config
from tests.harness import ccm_process
from tests.proxy_setup import write_config

CCM = [sys.executable, "-m", "ccm.cli"]


def _run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CCM, *args], capture_output=True, text=True, timeout=timeout)


def test_pid_and_log_paths_are_per_config_file(tmp_path: Path) -> None:
    a, b = tmp_path / "config.toml", tmp_path / "work.toml"
    assert pid_path(a) != pid_path(b)
    assert pid_path(a) == tmp_path / "config.toml.pid"
    assert log_path(b) == tmp_path / "work.toml.log"


def test_two_configs_in_one_folder_run_side_by_side(tmp_path: Path) -> None:
    a = write_config(tmp_path / "a.toml", "")
    b = write_config(tmp_path / "b.toml", "")
    with ccm_process(a) as (proc_a, base_a), ccm_process(b) as (proc_b, base_b):
        assert httpx.get(f"{base_a}/health").json()["status"] == "ok"
        assert httpx.get(f"{base_b}/health").json()["status"] == "ok"
        st_a, st_b = _run("status", "--config", str(a)), _run("status", "--config", str(b))
        assert st_a.returncode == 0 and f"pid {proc_a.pid}" in st_a.stdout
        assert f"serving on {base_a}" in st_a.stdout
        assert st_b.returncode == 0 and f"pid {proc_b.pid}" in st_b.stdout
        assert f"serving on {base_b}" in st_b.stdout
        # stopping b leaves a running
        out = _run("stop", "--config", str(b))
        assert "stopped" in out.stdout and proc_b.wait(10) == 0
        assert proc_a.poll() is None
        assert _run("status", "--config", str(b)).returncode == 1
        assert _run("status", "--config", str(a)).returncode == 0
        assert "not running" in _run("stop", "--config", str(b)).stdout


@pytest.mark.parametrize("workers", ["1", "2"])
def test_port_in_use_is_one_clear_line(tmp_path: Path, workers: str) -> None:
    cfg = write_config(tmp_path / "config.toml", "")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _run("start", "--config", str(cfg), "--port", str(port), "--workers", workers)
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert errors == [
        f"error: port {port} on 127.0.0.1 is in use: another ccm (`ccm status`) or another "
        "program holds it; start with --port N or set [server] port"
    ]
    assert "Traceback" not in out.stderr
    assert not pid_path(cfg).exists()


def test_one_worker_and_many_share_every_server_setting() -> None:
    """--workers N and the single worker are built by one function: same keep-alive, loop,
    parser, shutdown grace; only the app (an object or the factory's name) differs."""
    one = server_config(object(), "127.0.0.1", 1)
    many = server_config(FACTORY, "127.0.0.1", 1, workers=3)
    keys = ("timeout_keep_alive", "loop", "http", "lifespan", "timeout_graceful_shutdown")
    assert {k: getattr(one, k) for k in keys} == {k: getattr(many, k) for k in keys}
    assert one.timeout_keep_alive == 75 and one.loop in ("uvloop", "asyncio")
    assert (one.workers, many.workers, one.factory, many.factory) == (1, 3, False, True)


@pytest.mark.parametrize("command", [[], ["start"], ["check"], ["explain"]])
def test_help_keeps_bracketed_words(command: list[str]) -> None:
    out = _run(*command, "--help")
    assert out.returncode == 0, out.stderr
    if command == ["start"]:
        assert "[server] host" in out.stdout and "[server] port" in out.stdout
