"""The admin API: every route, security, and comment-keeping atomic writes (diffed)."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, reply_text
from tests.harness import running_ccm
from tests.proxy_setup import upstream_fixture

CONFIG = """\
# My ccm config. This comment must survive every admin write.
[server]
host = "127.0.0.1"
port = 13456  # the usual port

[server.timeouts]
api_timeout_ms = 10000
connect_timeout_ms = 2000

[router]
default = "glm"     # main model
background = "glm"  # cheap work

# --- providers ---
[[providers]]
name = "zai"            # primary
provider_type = "openai"
api_key = "$ADMIN_TEST_KEY"
base_url = "{base}/v1"

[[providers]]
name = "backup"
provider_type = "openai"
api_key = "sk-literal-secret-123"
base_url = "{base}/v1"

# --- models ---
[[models]]
name = "glm"
[[models.mappings]]
provider = "zai"
actual_model = "glm-4.6"
priority = 1
"""


up = upstream_fixture("openai", reply_text("pong from fake"))


@pytest.fixture
def env(tmp_path: Path, up: FakeUpstream, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ADMIN_TEST_KEY", "sk-from-env-456")
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG.replace("{base}", up.base_url))
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url, timeout=20) as c:
        yield ccm, c, cfg


def _diff(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_reads_never_show_secrets(env) -> None:
    _ccm, c, _ = env
    for path in ("/api/config", "/api/config/json", "/api/providers", "/api/status"):
        text = c.get(path).text
        assert "sk-literal-secret-123" not in text and "sk-from-env-456" not in text, path
    providers = c.get("/api/providers").json()
    assert [p["api_key"] for p in providers] == ["$ADMIN_TEST_KEY", "********"]
    mux = c.get("/api/config/json").json()
    assert set(mux) == {"server", "router", "providers", "models"}
    assert mux["server"] == {"host": "127.0.0.1", "port": 13456}
    assert mux["router"]["default"] == "glm"
    assert c.get("/api/models-config").json() == [
        {"name": "glm", "mappings": [{"provider": "zai", "actual_model": "glm-4.6", "priority": 1}]}
    ]
    status = c.get("/api/status").json()
    assert status["rules_version"] == 1 and status["last_reload_error"] is None
    assert {p["name"]: p["key_status"] for p in status["providers"]} == {
        "zai": "from $ADMIN_TEST_KEY",
        "backup": "set",
    }


def test_add_provider_and_model_changes_only_those_lines(env) -> None:
    ccm, c, cfg = env
    before = cfg.read_text()
    r = c.post(
        "/api/providers", json={"name": "groq", "provider_type": "groq", "api_key": "$GROQ_KEY"}
    )
    assert r.status_code == 201, r.text
    r = c.post(
        "/api/models",
        json={
            "name": "fast",
            "mappings": [{"provider": "groq", "actual_model": "llama-3.3-70b", "priority": 1}],
        },
    )
    assert r.status_code == 201, r.text
    after = cfg.read_text()
    changed = _diff(before, after)
    assert all(line.startswith("+") for line in changed), changed  # nothing removed or rewritten
    added = "\n".join(changed)
    for expected in (
        'name = "groq"',
        'provider_type = "groq"',
        'api_key = "$GROQ_KEY"',
        'name = "fast"',
        'actual_model = "llama-3.3-70b"',
    ):
        assert expected in added
    assert ccm.state.runtime.version == 3  # applied at once, twice
    assert "fast" in [m["name"] for m in c.get("/api/models-config").json()]


def test_edit_provider_keeps_comments_key_and_reference(env) -> None:
    ccm, c, cfg = env
    before = cfg.read_text()
    base = ccm.state.runtime.config.provider("backup").base_url
    masked = {"name": "backup", "provider_type": "openai", "api_key": "********"}
    # a masked key never follows a new address: the page must ask for the key again
    r = c.put("/api/providers/backup", json={**masked, "base_url": "http://127.0.0.1:1/v1"})
    assert r.status_code == 400 and "give the key again" in r.json()["error"]["message"]
    assert cfg.read_text() == before
    r = c.put("/api/providers/backup", json={**masked, "base_url": base, "enabled": False})
    assert r.status_code == 200, r.text
    after = cfg.read_text()
    assert _diff(before, after) == ["+enabled = false"]
    assert 'api_key = "sk-literal-secret-123"' in after  # the redacted echo kept the stored key
    assert (cfg.stat().st_mode & 0o777) == 0o600  # holds a literal key
    assert ccm.state.runtime.config.provider("backup").enabled is False
    # a rename follows through to the mappings
    r = c.put(
        "/api/providers/zai",
        json={
            "name": "zai2",
            "provider_type": "openai",
            "api_key": "$ADMIN_TEST_KEY",
            "base_url": ccm.state.runtime.config.provider("zai").base_url,
        },
    )
    assert r.status_code == 200, r.text
    text = cfg.read_text()
    assert 'name = "zai2"            # primary' in text and 'provider = "zai2"' in text
    assert "# My ccm config. This comment must survive every admin write." in text


def test_delete_refuses_a_provider_in_use_then_works(env) -> None:
    _ccm, c, cfg = env
    r = c.delete("/api/providers/zai", headers={"content-type": "application/json"})
    assert r.status_code == 409 and "glm" in r.json()["error"]["message"]
    r = c.delete("/api/providers/backup", headers={"content-type": "application/json"})
    assert r.status_code == 200
    assert "backup" not in cfg.read_text()
    assert (
        c.delete("/api/providers/nope", headers={"content-type": "application/json"}).status_code
        == 404
    )
    r = c.delete("/api/models/glm", headers={"content-type": "application/json"})
    assert r.status_code == 422  # [router] default names it: the config would not compile
    assert "glm" in cfg.read_text()


def test_invalid_write_is_refused_with_diagnostics_and_nothing_written(env) -> None:
    ccm, c, cfg = env
    before = cfg.read_text()
    r = c.post("/api/providers", json={"name": "x", "provider_type": "no-such-type"})
    assert r.status_code == 422
    body = r.json()
    assert body["type"] == "error" and body["diagnostics"][0]["line"] > 0
    assert "no-such-type" in body["diagnostics"][0]["message"]
    r = c.put(
        "/api/models/glm",
        json={"name": "glm", "mappings": [{"provider": "ghost", "actual_model": "m"}]},
    )
    assert r.status_code == 422 and "ghost" in r.json()["diagnostics"][0]["message"]
    r = c.put("/api/router", json={"default": "no-such-model"})
    assert r.status_code == 422 and "no-such-model" in r.text
    assert cfg.read_text() == before
    assert ccm.state.runtime.config.router.default == "glm"
    assert ccm.state.runtime.version == 1


def test_router_put_sets_and_clears(env) -> None:
    _ccm, c, cfg = env
    r = c.put("/api/router", json={"background": None, "think": "glm"})
    assert r.status_code == 200, r.text
    assert r.json().get("think") == "glm" and "background" not in r.json()
    text = cfg.read_text()
    assert (
        'default = "glm"     # main model' in text
        and "background" not in text
        and 'think = "glm"' in text
    )
    assert text.index('think = "glm"') < text.index("# --- providers ---")


def test_mux_config_json_write(env) -> None:
    ccm, c, cfg = env
    view = c.get("/api/config/json").json()
    view["models"].append(
        {
            "name": "glm-air",
            "mappings": [{"provider": "backup", "actual_model": "glm-4.5-air", "priority": 1}],
        }
    )
    view["router"]["background"] = "glm-air"
    r = c.post(
        "/api/config/json",
        json={"providers": view["providers"], "models": view["models"], "router": view["router"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "success"
    text = cfg.read_text()
    assert 'api_key = "sk-literal-secret-123"' in text and "********" not in text
    assert 'background = "glm-air"  # cheap work' in text
    assert ccm.state.runtime.config.model("glm-air") is not None


def test_rules_get_check_put_and_inline_errors(env) -> None:
    ccm, c, cfg = env
    r = c.get("/api/rules").json()
    assert r["from_toml"] is True and "default to model" in r["text"]
    bad = 'route a when model ~ /^claude-/ to "glm"\nroute b when model ~ /(/ to "glm"\ndefault to model\n'
    r = c.post("/api/rules/check", json={"text": bad}).json()
    assert r["ok"] is False
    d = r["diagnostics"][0]
    assert (d["line"], d["column"]) == (2, 22) and "regex" in d["message"]
    r = c.put("/api/rules", json={"text": bad})
    assert r.status_code == 422 and not (cfg.parent / "ccm.rules").exists()
    good = 'route a when model ~ /^claude-/ to "glm"\ndefault to model\n'
    assert c.post("/api/rules/check", json={"text": good}).json() == {"ok": True, "diagnostics": []}
    r = c.put("/api/rules", json={"text": good})
    assert r.status_code == 200, r.text
    assert (cfg.parent / "ccm.rules").read_text() == good
    assert 'rules = "ccm.rules"' in cfg.read_text()
    got = c.get("/api/rules").json()
    assert got["from_toml"] is False and got["text"] == good
    assert ccm.state.runtime.router.routes[0].name == "a"


def test_explain_test_logs_reload(env, up: FakeUpstream) -> None:
    _ccm, c, _ = env
    exp = c.post(
        "/api/explain", json={"request": {"model": "claude-haiku-4-5", "messages": []}}
    ).json()
    assert exp["rule"] == "background" and exp["chain"][0]["provider"] == "zai"
    r = c.post("/api/test", json={"model": "glm", "message": "ping"}).json()
    assert r["status"] == 200 and r["text"] == "pong from fake"
    assert r["route"] == {"rule": "default", "model": "glm", "provider": "zai"}
    assert up.requests[-1].headers["authorization"] == "Bearer sk-from-env-456"
    logs = c.get("/api/logs").json()
    assert (
        logs[0]["model"] == "glm"
        and logs[0]["status"] == 200
        and logs[0]["attempts"][0]["provider"] == "zai"
    )
    assert c.post("/api/reload", json={}).json() == {"ok": True, "rules_version": 2, "error": None}


def test_writes_need_json_and_same_origin(env) -> None:
    ccm, c, _ = env
    form = c.post(
        "/api/router",
        content=b"default=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code in (405, 415)
    r = c.put(
        "/api/router",
        content=b"default=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    r = c.put("/api/router", json={"think": "glm"}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["type"] == "error"
    r = c.put("/api/router", json={"think": "glm"}, headers={"origin": ccm.base_url})
    assert r.status_code == 200
    r = c.get("/api/config", headers={"host": "evil.example"})
    assert r.status_code == 403  # DNS rebinding: a foreign Host name is refused


def test_admin_token_required_when_set(
    tmp_path: Path, up: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_TEST_KEY", "k")
    monkeypatch.setenv("CCM_ADMIN_TOKEN_T", "tok-123")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        CONFIG.replace("{base}", up.base_url).replace(
            "[server]\n", '[server]\nadmin_token = "$CCM_ADMIN_TOKEN_T"\n', 1
        )
    )
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        assert c.get("/api/status").status_code == 401
        assert c.get("/api/status", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/status", headers={"authorization": "Bearer tok-123"}).status_code == 200
        assert c.get("/api/status", headers={"x-ccm-admin-token": "tok-123"}).status_code == 200
        assert "tok-123" not in c.get("/api/config", headers={"x-ccm-admin-token": "tok-123"}).text


def test_page_is_served(env) -> None:
    _ccm, c, _ = env
    r = c.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert c.head("/").status_code == 200


def test_config_file_mode_with_only_env_references(env) -> None:
    _ccm, c, cfg = env
    os.chmod(cfg, 0o644)
    c.delete("/api/providers/backup", headers={"content-type": "application/json"})
    assert (cfg.stat().st_mode & 0o777) == 0o644  # no literal key left: the user's mode is kept
    c.post(
        "/api/providers", json={"name": "lit", "provider_type": "groq", "api_key": "sk-new-literal"}
    )
    assert (cfg.stat().st_mode & 0o777) == 0o600
    assert json.dumps(c.get("/api/providers").json()).count("sk-new-literal") == 0


def test_explain_by_draft_rules_and_provider_echo_adds_no_defaults(env) -> None:
    ccm, c, cfg = env
    req = {"model": "claude-x", "messages": []}
    exp = c.post(
        "/api/explain",
        json={"request": req, "text": 'route d when true to "glm"\ndefault to model\n'},
    )
    assert exp.status_code == 422 and "unreachable" in exp.text
    exp = c.post(
        "/api/explain",
        json={
            "request": req,
            "text": 'route draft when model ~ /^claude/ to "glm"\ndefault to model\n',
        },
    ).json()
    assert exp["rule"] == "draft"
    assert ccm.state.runtime.router.routes[0].name != "draft"  # nothing saved
    before = cfg.read_text()
    view = next(p for p in c.get("/api/providers").json() if p["name"] == "zai")
    assert c.put("/api/providers/zai", json=view).status_code == 200
    assert cfg.read_text() == before  # echoing the view back changes nothing on disk


def test_model_edit_keeps_a_mapping_max_tokens(env) -> None:
    _ccm, c, cfg = env
    r = c.put(
        "/api/models/glm",
        json={
            "name": "glm",
            "mappings": [
                {"provider": "zai", "actual_model": "glm-4.6", "priority": 1, "max_tokens": 8192}
            ],
        },
    )
    assert r.status_code == 200, r.text
    view = c.get("/api/models-config").json()
    assert view[0]["mappings"][0]["max_tokens"] == 8192
    assert (
        c.put("/api/models/glm", json=view[0]).status_code == 200
    )  # the page echoes the view back
    assert "max_tokens = 8192" in cfg.read_text()
