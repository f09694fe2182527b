"""Hot reload: edits to the rules or config take effect while serving; broken edits don't."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, echo
from tests.harness import running_ccm, wait_until
from tests.proxy_setup import model_toml, provider_toml, write_config

REQ = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 5,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture
def up():
    with FakeUpstream("anthropic") as fake:
        fake.default = echo()
        yield fake


def _route(c: httpx.Client) -> str:
    r = c.post("/v1/messages", json=REQ)
    assert r.status_code == 200, r.text
    return r.headers["x-ccm-route"]


def test_rules_file_edit_takes_effect_and_broken_edit_keeps_old(
    tmp_path: Path, up: FakeUpstream
) -> None:
    rules = tmp_path / "ccm.rules"
    rules.write_text('route first when model ~ /^claude-/ to "alpha"\ndefault to model\n')
    cfg = write_config(
        tmp_path / "config.toml",
        provider_toml("p", up)
        + model_toml("alpha", ("p", "a-1"))
        + model_toml("beta", ("p", "b-1")),
        router='rules = "ccm.rules"',
    )
    with running_ccm(cfg, watch=True) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        assert _route(c) == "rule=first; model=alpha; provider=p"
        time.sleep(0.3)  # let the watcher start
        # an editor's atomic save: write elsewhere, rename over
        tmp = tmp_path / ".ccm.rules.swp"
        tmp.write_text('route second when model ~ /^claude-/ to "beta"\ndefault to model\n')
        tmp.replace(rules)
        wait_until(lambda: ccm.state.runtime.version == 2)
        assert _route(c) == "rule=second; model=beta; provider=p"
        assert up.requests[-1].json["model"] == "b-1"

        rules.write_text('route broken when model ~ /^claude-( to "beta"\ndefault to model\n')
        wait_until(lambda: ccm.state.last_error is not None)
        assert "ccm.rules:1:" in ccm.state.last_error and "regex" in ccm.state.last_error
        assert _route(c) == "rule=second; model=beta; provider=p"  # the old rules still serve
        health = c.get("/health").json()
        assert health["rules_version"] == 2 and "ccm.rules:1:" in health["last_reload_error"]

        rules.write_text('route third when true to "alpha"\ndefault to model\n')
        wait_until(lambda: "unreachable" in (ccm.state.last_error or ""))
        assert ccm.state.runtime.version == 2  # refused: default can never be reached

        rules.write_text('default to "alpha"\n')
        wait_until(lambda: ccm.state.runtime.version == 3)
        assert ccm.state.last_error is None
        assert _route(c) == "rule=default; model=alpha; provider=p"


def test_config_edit_changes_providers_and_error_is_reported(
    tmp_path: Path, up: FakeUpstream
) -> None:
    body = provider_toml("p", up) + model_toml("alpha", ("p", "a-1"))
    cfg = write_config(tmp_path / "config.toml", body, router='default = "alpha"')
    with running_ccm(cfg, watch=True) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        assert _route(c) == "rule=default; model=alpha; provider=p"
        time.sleep(0.3)
        write_config(cfg, body + model_toml("gamma", ("p", "g-1")), router='default = "gamma"')
        wait_until(lambda: ccm.state.runtime.version == 2)
        assert _route(c) == "rule=default; model=gamma; provider=p"
        cfg.write_text(cfg.read_text() + "\n[server\n")  # TOML syntax error
        wait_until(lambda: ccm.state.last_error is not None)
        assert "config.toml:" in ccm.state.last_error
        assert _route(c) == "rule=default; model=gamma; provider=p"
