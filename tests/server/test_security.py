"""Security and robustness regressions (issue 12): each test shows one hole closed, against a
real ccm on a socket. The browser version of the DNS-rebinding attack is in
test_admin_browser.py; the admin edit properties in tests/config/test_store_property.py."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, reply_text, respond
from tests.harness import running_ccm, wait_until
from tests.proxy_setup import model_toml, provider_toml, upstream_fixture, write_config

REQ = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
UPSTREAM_KEY = "sk-proj-UPSTREAMSECRET0123456789"


up = upstream_fixture("openai", reply_text("pong"))


def _config(tmp_path: Path, up: FakeUpstream, *, server: str = "", extra: str = "") -> Path:
    return write_config(
        tmp_path / "config.toml",
        provider_toml("p", up, key=UPSTREAM_KEY, extra=extra) + model_toml("m", ("p", "gpt-x")),
        server=server,
    )


# ---- 1. DNS rebinding --------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1.evil.example", "127.evil.example", "localhost.evil.example", "evil.example", ""],
)
def test_admin_refuses_hosts_that_are_not_this_machine_by_address(
    tmp_path: Path, up: FakeUpstream, host: str
) -> None:
    with running_ccm(_config(tmp_path, up)) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        port = ccm.base_url.rsplit(":", 1)[1]
        name = f"{host}:{port}" if host else ""
        r = c.get("/api/config", headers={"host": name})
        assert r.status_code == 403 and "DNS rebinding" in r.json()["error"]["message"]
        origin = f"http://{name}"
        r = c.put("/api/router", json={"think": "m"}, headers={"host": name, "origin": origin})
        assert r.status_code == 403
        assert "think" not in (tmp_path / "config.toml").read_text()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "[::1]"])
def test_admin_accepts_loopback_literals_and_localhost(
    tmp_path: Path, up: FakeUpstream, host: str
) -> None:
    with running_ccm(_config(tmp_path, up)) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        port = ccm.base_url.rsplit(":", 1)[1]
        assert c.get("/api/config", headers={"host": f"{host}:{port}"}).status_code == 200


def test_allowed_hosts_admits_a_named_local_front(tmp_path: Path, up: FakeUpstream) -> None:
    cfg = _config(tmp_path, up, server='allowed_hosts = ["ccm.internal"]')
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        assert c.get("/api/config", headers={"host": "ccm.internal"}).status_code == 200
        assert c.get("/api/config", headers={"host": "ccm.internal.evil"}).status_code == 403


def test_masked_key_never_follows_a_new_base_url(tmp_path: Path, up: FakeUpstream) -> None:
    """The attack: echo the masked key with base_url pointing at the attacker's server."""
    with running_ccm(_config(tmp_path, up)) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        before = (tmp_path / "config.toml").read_text()
        view = next(p for p in c.get("/api/providers").json() if p["name"] == "p")
        assert view["api_key"] == "********"
        evil = {**view, "base_url": "http://127.0.0.1:9/v1"}
        assert c.put("/api/providers/p", json=evil).status_code == 400
        r = c.post("/api/config/json", json={"providers": [evil]})
        assert r.status_code == 400 and "give the key again" in r.json()["error"]["message"]
        changed_type = {**view, "provider_type": "groq", "base_url": None}
        assert c.put("/api/providers/p", json=changed_type).status_code == 400
        assert (tmp_path / "config.toml").read_text() == before
        # with the key given again, the move is allowed
        r = c.put("/api/providers/p", json={**evil, "api_key": "$SOME_OTHER_KEY"})
        assert r.status_code == 200, r.text


def test_web_pages_cannot_use_the_proxy(tmp_path: Path, up: FakeUpstream) -> None:
    """A page on any site can POST text/plain to 127.0.0.1 without a CORS preflight: it must not
    spend the user's keys. Programs send no Origin and keep working."""
    with running_ccm(_config(tmp_path, up)) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        for origin in ("http://evil.example", "http://127.0.0.1.evil.example:8080", "null"):
            r = c.post(
                "/v1/messages",
                content=json.dumps(REQ),
                headers={"origin": origin, "content-type": "text/plain"},
            )
            assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
        assert up.requests == []
        assert c.post("/v1/messages", json=REQ).status_code == 200
        r = c.post("/v1/messages", json=REQ, headers={"origin": ccm.base_url})
        assert r.status_code == 200


# ---- 2. /health shows no secrets -----------------------------------------------------------


def test_health_tells_outsiders_only_that_ccm_is_up(tmp_path: Path, up: FakeUpstream) -> None:
    cfg = _config(tmp_path, up, server='admin_token = "tok-admin-SECRET-42"')
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        assert c.get("/health").json() == {"status": "ok", "service": "ccm"}
        full = c.get("/health", headers={"authorization": "Bearer tok-admin-SECRET-42"}).json()
        assert full["rules_version"] == 1 and "last_reload_error" in full


def test_reload_error_on_a_secret_line_masks_it(
    tmp_path: Path, up: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _config(tmp_path, up)
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        text = cfg.read_text()
        for broken in (
            'admin_token = "tok-SECRET-admin-99',  # unterminated: a TOML syntax error
            'api_key = "sk-SECRET-client-77" "',
        ):
            cfg.write_text(text.replace("[server]\n", f"[server]\n{broken}\n"))
            with caplog.at_level(logging.ERROR):
                assert ccm.reload() is False
            health = c.get("/health").json()
            error = health["last_reload_error"]
            assert error and "TOML syntax" in error and "********" in error
            for secret in ("tok-SECRET-admin-99", "sk-SECRET-client-77"):
                assert secret not in error and secret not in caplog.text
                assert secret not in c.get("/api/status").text


# ---- 3. an upstream's error text never carries a key ---------------------------------------


def _echoes_key(req) -> tuple[int, dict[str, str], bytes]:
    key = req.headers.get("authorization", "").removeprefix("Bearer ")
    body = {"error": {"message": f"Incorrect API key provided: {key}.", "type": "invalid_request"}}
    return 401, {"content-type": "application/json"}, json.dumps(body).encode()


def test_upstream_error_echoing_the_key_is_scrubbed(
    tmp_path: Path, up: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    from ccm.config.secrets import fingerprint

    up.default = respond(_echoes_key)
    cfg = _config(tmp_path, up, server="retries = 0")
    with (
        caplog.at_level(logging.INFO),
        running_ccm(cfg) as ccm,
        httpx.Client(base_url=ccm.base_url) as c,
    ):
        for stream in (False, True):
            r = c.post("/v1/messages", json={**REQ, "stream": stream})
            assert r.status_code == 401
            assert UPSTREAM_KEY not in r.text and fingerprint(UPSTREAM_KEY) in r.text
        seen = [c.get(p).text for p in ("/api/logs", "/api/status")]
        seen.append(c.post("/api/test", json={"model": "m", "message": "hi"}).text)
    assert up.requests, "the upstream was asked"
    for text in [*seen, caplog.text]:
        assert UPSTREAM_KEY not in text
    assert fingerprint(UPSTREAM_KEY) in seen[0]


def test_header_values_and_proxy_passwords_are_masked(tmp_path: Path, up: FakeUpstream) -> None:
    extra = (
        'proxy = "http://user:PROXY-PASS-123@127.0.0.1:3128"\n'
        'headers = { "X-Secret-Header" = "HEADER-VALUE-456", "X-Env" = "$SOME_VAR" }'
    )
    cfg = _config(
        tmp_path, up, server='proxy = "http://u:SERVER-PROXY-PW@127.0.0.1:3129"', extra=extra
    )
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        for path in ("/api/config", "/api/config/json", "/api/providers"):
            text = c.get(path).text
            for secret in ("PROXY-PASS-123", "HEADER-VALUE-456", "SERVER-PROXY-PW"):
                assert secret not in text, (path, secret)
        view = next(p for p in c.get("/api/providers").json() if p["name"] == "p")
        assert view["headers"] == {"X-Secret-Header": "********", "X-Env": "$SOME_VAR"}
        assert view["proxy"] == "http://user:********@127.0.0.1:3128"
        # the masked view echoed back keeps what is stored
        before = cfg.read_text()
        assert c.put("/api/providers/p", json=view).status_code == 200
        assert cfg.read_text() == before


# ---- 4. deeply nested JSON is bad input, not a 500 ------------------------------------------


def _deep(n: int) -> object:
    value: object = "x"
    for _ in range(n):
        value = [value]
    return value


def _raw(obj: object, depth: int, where: str) -> bytes:
    """JSON with a `depth`-deep list spliced in at `where` (json.dumps itself would recurse)."""
    marker = "__DEEP__"
    text = json.dumps(obj).replace(f'"{marker}"', "[" * depth + '"x"' + "]" * depth)
    assert marker not in text, where
    return text.encode()


NESTED = [
    ("content", {**REQ, "messages": [{"role": "user", "content": "__DEEP__"}]}),
    ("metadata", {**REQ, "metadata": {"user_id": "u", "extra": "__DEEP__"}}),
    (
        "input_schema",
        {**REQ, "tools": [{"name": "t", "input_schema": {"type": "object", "x": "__DEEP__"}}]},
    ),
]


@pytest.mark.parametrize("depth", [900, 1000, 50_000])
@pytest.mark.parametrize(("where", "body"), NESTED)
def test_deeply_nested_json_is_a_400_everywhere(
    tmp_path: Path, up: FakeUpstream, where: str, body: dict, depth: int
) -> None:
    raw = _raw(body, depth, where)
    with running_ccm(_config(tmp_path, up)) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        json_ct = {"content-type": "application/json"}
        for path in ("/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions"):
            r = c.post(path, content=raw, headers=json_ct)
            assert r.status_code in (200, 400), (path, r.status_code, r.text[:200])
            if depth >= 1000:
                assert r.status_code == 400 and "nested too deeply" in r.text, path
        wrapped = {
            "/api/explain": b'{"request": ' + raw + b"}",
            "/api/test": b'{"model": "m", "message": "hi", "x": ' + raw + b"}",
            "/api/providers": b'{"name": "q", "provider_type": "openai", "headers": ' + raw + b"}",
            "/api/rules/check": b'{"text": ' + raw + b"}",
        }
        for path, content in wrapped.items():
            r = c.post(path, content=content, headers=json_ct)
            assert r.status_code < 500, (path, r.status_code, r.text[:200])
            if depth >= 1000:
                assert r.status_code >= 400 and r.json()["type"] == "error", path
        assert c.get("/health").status_code == 200


# ---- 5. the rules path reads and writes only .rules files in the config folder -------------


@pytest.mark.parametrize(
    "path",
    [
        "../../../../etc/passwd",
        "/etc/passwd",
        "~/x.rules",
        "sub/../../x.rules",
        "notes.txt",
        "C:x.rules",
    ],
)
def test_rules_path_is_confined(tmp_path: Path, up: FakeUpstream, path: str) -> None:
    with running_ccm(_config(tmp_path, up)) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        before = (tmp_path / "config.toml").read_text()
        r = c.put("/api/router", json={"rules": path})
        assert r.status_code == 400 and "inside the config folder" in r.text
        assert "root:" not in r.text
        r = c.post("/api/config/json", json={"router": {"rules": path}})
        assert r.status_code == 400
        assert (tmp_path / "config.toml").read_text() == before


def test_page_never_writes_a_rules_file_outside_the_config_folder(
    tmp_path: Path, up: FakeUpstream
) -> None:
    outside = tmp_path / "elsewhere" / "mine.rules"
    outside.parent.mkdir()
    outside.write_text("default to model\n")
    folder = tmp_path / "conf"
    folder.mkdir()
    cfg = write_config(
        folder / "config.toml",
        provider_toml("p", up) + model_toml("m", ("p", "gpt-x")),
        router=f'rules = "{outside}"',
    )
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        r = c.put("/api/rules", json={"text": 'route a when stream to "m"\ndefault to model\n'})
        assert r.status_code == 409 and "outside the config folder" in r.text
        assert outside.read_text() == "default to model\n"


# ---- 7. an emptied config does not take routing down ---------------------------------------


@pytest.mark.parametrize("replacement", ["", "\n", "[server]\nport = 13456\n"])
def test_truncated_config_keeps_the_running_one(
    tmp_path: Path, up: FakeUpstream, replacement: str
) -> None:
    cfg = _config(tmp_path, up)
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        cfg.write_text(replacement)  # `: > config.toml`, a failed save
        assert ccm.reload() is False
        assert c.post("/v1/messages", json=REQ).status_code == 200
        error = c.get("/health").json()["last_reload_error"]
        assert "keeping the running config" in error
        assert ccm.state.runtime.version == 1


# ---- 8. admin edits on shapes that crashed -------------------------------------------------


def test_router_last_with_one_key_takes_edits(tmp_path: Path, up: FakeUpstream) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        provider_toml("p", up).lstrip()
        + model_toml("m", ("p", "gpt-x"))
        + '\n# routing\n[router]\ndefault = "m"'  # last, one key, no newline at the end
    )
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        r = c.put("/api/router", json={"think": "m"})
        assert r.status_code == 200, r.text
        assert 'default = "m"\nthink = "m"' in cfg.read_text()
        r = c.put("/api/rules", json={"text": 'route a when stream to "m"\ndefault to model\n'})
        assert r.status_code == 200, r.text
        assert 'rules = "ccm.rules"' in cfg.read_text()
        assert "# routing" in cfg.read_text()


def test_failed_rules_save_leaves_no_stray_file(tmp_path: Path, up: FakeUpstream) -> None:
    cfg = _config(tmp_path, up)
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        cfg.write_text(cfg.read_text() + "\n[[providers]]\nname = 1\n")  # broken on disk now
        r = c.put("/api/rules", json={"text": "default to model\n"})
        assert r.status_code in (422, 500)
        assert not (tmp_path / "ccm.rules").exists()


# ---- 9. smaller ones -----------------------------------------------------------------------


def test_watcher_wakes_only_for_the_files_ccm_reads(
    tmp_path: Path, up: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ccm.reload

    wakeups: list[object] = []
    real = ccm.reload.awatch

    async def counting(*args, **kwargs):
        async for changes in real(*args, **kwargs):
            wakeups.append(changes)
            yield changes

    monkeypatch.setattr(ccm.reload, "awatch", counting)
    cfg = _config(tmp_path, up)
    with running_ccm(cfg, watch=True) as ccm:
        time.sleep(0.4)
        log = tmp_path / "ccm.log"
        for i in range(20):
            with log.open("a") as f:
                f.write(f"line {i}\n")
            time.sleep(0.03)
        time.sleep(0.5)
        assert wakeups == [] and ccm.state.runtime.version == 1
        cfg.write_text(cfg.read_text().replace("port = 13456", "port = 13457"))
        wait_until(lambda: ccm.state.runtime.version != 1, 5, what="the reload")
        assert ccm.state.runtime.version == 2 and len(wakeups) >= 1


def test_stale_temp_files_from_an_interrupted_write_are_removed(
    tmp_path: Path, up: FakeUpstream
) -> None:
    cfg = _config(tmp_path, up)
    stale = tmp_path / ".config.toml.abc123.tmp"
    stale.write_text('api_key = "sk-left-behind"\n')
    old = time.time() - 3600
    os.utime(stale, (old, old))
    young = tmp_path / ".config.toml.def456.tmp"  # another worker may be writing it now
    young.write_text("x")
    with running_ccm(cfg):
        assert not stale.exists() and young.exists()


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "file:///etc/passwd", "ftp://x.example", "http://", "not a url"]
)
def test_base_url_must_be_http(tmp_path: Path, up: FakeUpstream, url: str) -> None:
    from ccm.config.load import parse_config
    from ccm.diagnostics import DiagnosticError

    text = _config(tmp_path, up).read_text().replace(f'"{up.base_url}/v1"', json.dumps(url))
    with pytest.raises(DiagnosticError, match="http:// or https://"):
        parse_config(text)
    with running_ccm(_config(tmp_path, up)) as ccm, httpx.Client(base_url=ccm.base_url) as c:
        r = c.post("/api/providers", json={"name": "q", "provider_type": "openai", "base_url": url})
        assert r.status_code == 422 and "http:// or https://" in r.text


def test_oauth_callback_names_its_charset_once(tmp_path: Path, up: FakeUpstream) -> None:
    with running_ccm(_config(tmp_path, up)) as ccm:
        r = httpx.get(f"{ccm.base_url}/auth/callback?state=nope&code=x")
        ctype = r.headers["content-type"]
        assert ctype.count("charset") == 1 and ctype.startswith("text/html")
