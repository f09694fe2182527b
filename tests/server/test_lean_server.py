"""What a ccm that only proxies keeps in memory: the Litestar app is built on the first request
that needs it (the fast path serves the proxy endpoints, /health and HEAD / itself), and the
server process `ccm start` becomes carries none of the CLI's imports (pydantic via typer)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.harness import ccm_process, running_ccm
from tests.proxy_setup import write_config


def test_litestar_is_built_on_first_need_only(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.toml", "")
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url, timeout=10) as c:
        fast = ccm.server.config.app  # the FastPath in front of the (lazy) Litestar app
        assert c.get("/health").json()["status"] == "ok"  # loopback, no token: an admin
        head = c.head("/")
        assert head.status_code == 200 and head.content == b""
        counted = c.post(
            "/v1/messages/count_tokens",
            json={"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
        bad = c.post("/v1/messages", content=b"{")
        assert bad.status_code == 400 and bad.json()["type"] == "error"
        assert fast._app is None  # nothing so far needed Litestar
        assert ccm.state.ledger.thread.running  # the lifespan ran without it
        models = c.get("/v1/models")
        assert models.status_code == 200 and "data" in models.json()
        assert fast._app is not None
        assert c.get("/no/such/route").json()["type"] == "error"  # Litestar's 404, our shape
        assert c.get("/health").status_code == 200


def test_health_says_more_to_an_admin_only(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.toml", "", server='admin_token = "adm-secret-1"')
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url, timeout=10) as c:
        assert set(c.get("/health").json()) == {"status", "service"}
        full = c.get("/health", headers={"x-ccm-admin-token": "adm-secret-1"}).json()
        assert full["status"] == "ok" and full["rules_version"] >= 1 and "uptime_s" in full
        assert set(c.get("/health", headers={"x-ccm-admin-token": "wrong"}).json()) == {
            "status",
            "service",
        }


def test_the_server_process_carries_no_cli_imports(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.toml", "")
    with ccm_process(cfg) as (proc, base):
        assert httpx.get(f"{base}/health").status_code == 200
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"ccm.server.serve" in cmdline  # `ccm start` became the server, same PID
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "pydantic_core" not in maps  # typer's parameter coercion imports pydantic
        assert "msgspec" in maps  # (the check can see an extension module that is loaded)
