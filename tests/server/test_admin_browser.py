"""The admin page in a real browser (Debian's Chromium driven by Playwright) against a real ccm.

Outside CI these tests skip when Playwright or /usr/bin/chromium is missing; in CI they run.
Screenshots of every tab go to test-output/screenshots/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests import proxy_setup
from tests.fakes.oauth_server import FakeOAuthServer
from tests.fakes.upstream import FakeUpstream, reply_text, status
from tests.harness import RunningCCM, running_ccm
from tests.ledger.traffic import SESSION_A, SESSION_B, send
from tests.proxy_setup import model_toml, provider, provider_toml, upstream_fixture

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
TABS = ("overview", "usage", "requests", "providers", "models", "rules", "test", "logs")
ANSWER = "pong from the fake upstream"
COMMENT = "# hand-written: this comment must survive the admin page"
# what Chromium itself logs for a fetch answered 4xx/5xx; page code cannot silence it
NETWORK_ERROR = re.compile(r"^Failed to load resource: the server responded with a status of (\d+)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    in_ci = bool(os.environ.get("CI"))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci:
            raise
        pytest.skip("playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        if in_ci:
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Console:
    """Every console error and uncaught page error, as text."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def _console(self, msg: Any) -> None:
        if msg.type in ("error", "assert"):
            self.errors.append(f"console.{msg.type}: {msg.text}")

    def page_errors(self, *expected_statuses: int) -> list[str]:
        """Errors other than Chromium's own line for an API answer with an expected status."""
        out = []
        for e in self.errors:
            m = NETWORK_ERROR.search(e.removeprefix("console.error: "))
            if m and int(m.group(1)) in expected_statuses:
                continue
            out.append(e)
        return out


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    pg.console = Console(pg)
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture(autouse=True)
def token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The OAuth token file the page lists: the test's own, never the user's."""
    path = tmp_path / "oauth_tokens.json"
    monkeypatch.setenv("CCM_OAUTH_TOKENS", str(path))
    return path


up = upstream_fixture("openai", reply_text(ANSWER))


def config_text(body: str = "", router: str = "", server: str = "") -> str:
    return f"{COMMENT}\n" + proxy_setup.config_text(body, router=router, server=server)


@contextlib.contextmanager
def served(tmp_path: Path, body: str = "", **sections: str) -> Iterator[RunningCCM]:
    """A ccm on tmp_path/config.toml written by config_text(body, **sections)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(config_text(body, **sections))
    with running_ccm(cfg) as ccm:
        yield ccm


def open_tab(page: Any, ccm: RunningCCM, tab: str) -> None:
    page.goto(f"{ccm.base_url}/#{tab}")
    page.locator(f"#tab-{tab}").wait_for(state="visible")


def click_tab(page: Any, tab: str) -> None:
    page.click(f"#tabs a[data-tab={tab}]")
    page.locator(f"#tab-{tab}").wait_for(state="visible")


def new_model(page: Any, name: str, provider: str, actual_model: str) -> None:
    """On the Models tab, start a new model: its name and the first mapping's provider and
    upstream model (not saved yet)."""
    click_tab(page, "models")
    page.fill("#model-name", name)
    page.locator("#map-table select.map-provider").nth(0).select_option(provider)
    page.locator("#map-table input.map-model").nth(0).fill(actual_model)


def toast(page: Any, text: str, kind: str = "ok") -> str:
    """Wait for a toast of this kind saying `text`; return its text and clear the toasts (so
    the next call waits for a new one)."""
    from playwright.sync_api import expect

    last = page.locator(f"#toasts .toast-{kind}").last
    expect(last).to_contain_text(text)
    said = last.locator(".toast-text").inner_text()
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    return said


def no_page_error(page: Any) -> None:
    assert page.locator("#global-msg").is_hidden(), page.locator("#global-msg").inner_text()


# ---------------------------------------------------------------- 1. providers, models, test


def test_add_provider_and_model_then_send_a_test_message(
    page: Any, up: FakeUpstream, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    with served(tmp_path) as ccm:
        open_tab(page, ccm, "providers")
        expect(page.locator("#prov-table tbody")).to_contain_text("No providers yet")
        page.fill("#prov-name", "fake")
        page.select_option("#prov-type", "openai-compatible")
        page.fill("#prov-key", "sk-literal-from-page")
        page.fill("#prov-base", f"{up.base_url}/v1")
        assert page.is_checked("#prov-enabled")
        page.click("#prov-save")
        toast(page, "Saved provider")
        row = page.locator("#prov-table tr[data-name='fake']")
        expect(row).to_contain_text("openai-compatible")
        expect(row).to_contain_text("********")  # the key is never shown
        assert "sk-literal-from-page" not in page.content()

        # editing without touching the "********" key keeps the stored key
        row.get_by_role("button", name="Edit").click()
        expect(page.locator("#prov-key")).to_have_value("********")
        page.click("#prov-save")
        toast(page, "Saved provider")

        new_model(page, "fake-model", "fake", "gpt-second")
        page.click("#map-add")
        page.locator("#map-table select.map-provider").nth(1).select_option("fake")
        page.locator("#map-table input.map-model").nth(1).fill("gpt-first")
        # move the second mapping up: it becomes priority 1
        page.locator("#map-table tbody tr").nth(1).get_by_role("button", name="move up").click()
        expect(page.locator("#map-table input.map-model").nth(0)).to_have_value("gpt-first")
        page.click("#model-save")
        toast(page, "Saved model")
        item = page.locator(".model-item[data-name='fake-model']")
        expect(item.locator(".chain li").nth(0)).to_contain_text("gpt-first")
        expect(item.locator(".chain li").nth(1)).to_contain_text("gpt-second")

        click_tab(page, "test")
        expect(page.locator("#test-models option[value='fake-model']")).to_have_count(1)
        page.fill("#test-model", "fake-model")
        page.fill("#test-message", "Are you there?")
        page.click("#test-send")
        expect(page.locator("#test-answer")).to_have_text(ANSWER)
        expect(page.locator("#test-route")).to_contain_text("fake-model")
        expect(page.locator("#test-route")).to_contain_text("fake")
        expect(page.locator("#test-attempts li")).to_have_count(1)
        expect(page.locator("#test-attempts")).to_contain_text("200")

        sent = up.requests[-1]
        assert sent.json["model"] == "gpt-first"
        assert sent.json["messages"][-1]["content"] in (
            "Are you there?",
            [{"type": "text", "text": "Are you there?"}],
        )
        assert sent.headers["authorization"] == "Bearer sk-literal-from-page"

        text = ccm.config_path.read_text()
        assert text.startswith(COMMENT + "\n")
        doc = tomllib.loads(text)
        (prov,) = doc["providers"]
        assert prov["name"] == "fake"
        assert prov["provider_type"] == "openai-compatible"
        assert prov["api_key"] == "sk-literal-from-page"  # kept through the edit
        assert prov["base_url"] == f"{up.base_url}/v1"
        assert "auth_type" not in prov  # the page does not write back defaults
        (mdl,) = doc["models"]
        assert mdl["name"] == "fake-model"
        assert [(m["actual_model"], m["priority"]) for m in mdl["mappings"]] == [
            ("gpt-first", 1),
            ("gpt-second", 2),
        ]
        assert ccm.config_path.stat().st_mode & 0o777 == 0o600  # it now holds a literal key
        no_page_error(page)
    assert page.console.page_errors() == []


# ---------------------------------------------------------------- 2. rules editor


RULES = """# routing for the browser test
route bg when original_model ~ /haiku/ to "fake-model"
default to model
"""
BROKEN = RULES.replace("/haiku/", "/(haiku/")


def test_rules_errors_show_at_their_line_and_block_save(
    page: Any, up: FakeUpstream, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    cfg = tmp_path / "config.toml"
    rules = tmp_path / "ccm.rules"
    rules.write_text(RULES)
    cfg.write_text(
        config_text(
            provider_toml("fake", up, key="sk-x") + model_toml("fake-model", ("fake", "gpt-x")),
            router='rules = "ccm.rules"',
        )
    )
    with running_ccm(cfg) as ccm:
        open_tab(page, ccm, "rules")
        ta = page.locator("#rules-text")
        expect(ta).to_have_value(RULES)
        expect(page.locator("#rules-path")).to_contain_text("ccm.rules")
        expect(page.locator("#rules-state")).to_contain_text("ok")
        expect(page.locator("#gutter .gl")).to_have_count(len(RULES.split("\n")))
        # the explain panel routes its example (a haiku request) with the running rules
        expect(page.locator("#explain-rule")).to_contain_text("bg")
        expect(page.locator("#explain-chain")).to_contain_text("gpt-x")
        expect(page.locator("#explain-trace > li.held")).to_contain_text("bg")
        assert page.locator("#router-card").is_hidden()  # rules come from a file

        # live check while typing: break the regex on line 2
        ta.fill(BROKEN)
        gutter_line = page.locator("#gutter .gl[data-line='2']")
        expect(gutter_line).to_have_class(re.compile(r"\berror\b"))
        expect(page.locator("#gutter .gl.error")).to_have_count(1)
        diags = page.locator("#rules-diags")
        expect(diags).to_contain_text("2:")
        expect(diags).to_contain_text("bad regex")
        inline = page.locator("#backdrop .bl.error[data-line='2'] .inline-diag")
        expect(inline).to_contain_text(re.compile(r"2:\d+ bad regex"))
        expect(page.locator("#rules-state")).to_contain_text("1 error")

        page.click("#rules-save")
        expect(page.locator("#rules-msg")).to_contain_text("Save refused")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "rules-error.png"), full_page=True)
        assert rules.read_text() == RULES
        # the server refuses it too, with the place of the error
        r = httpx.put(f"{ccm.base_url}/api/rules", json={"text": BROKEN})
        assert r.status_code == 422
        assert r.json()["diagnostics"][0]["line"] == 2
        assert rules.read_text() == RULES

        # fix it (a different rule name), check, save: the file and the explain panel follow
        fixed = RULES.replace("route bg", "route background")
        ta.fill(fixed)
        expect(page.locator("#gutter .gl.error")).to_have_count(0)
        expect(page.locator("#rules-diags li")).to_have_count(0)
        # before it is saved, the explain panel already routes by the draft, and says so
        expect(page.locator("#explain-rule")).to_contain_text("background")
        expect(page.locator("#explain-by")).to_contain_text("unsaved")
        assert rules.read_text() == RULES
        page.click("#rules-check")
        expect(page.locator("#rules-state")).to_contain_text("unsaved")
        page.click("#rules-save")
        toast(page, "Saved")
        assert rules.read_text() == fixed
        expect(page.locator("#explain-rule")).to_contain_text("background")
        expect(page.locator("#explain-by")).to_contain_text("running rules")

        # the explain panel follows the request as it is edited, and reports bad JSON in place
        page.fill("#explain-req", '{"model": "fake-model", "max_tokens": 5, "messages": []}')
        expect(page.locator("#explain-rule")).to_contain_text("default")
        page.fill("#explain-req", "{not json")
        expect(page.locator("#explain-out")).to_contain_text("not valid JSON")
        no_page_error(page)
    assert page.console.page_errors() == []


# ---------------------------------------------------------------- 3. every tab, screenshots


def test_every_tab_renders_without_console_errors(
    page: Any, up: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    monkeypatch.setenv("CCM_BROWSER_TEST_KEY", "sk-from-env")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        config_text(
            provider_toml("primary", up, key="$CCM_BROWSER_TEST_KEY")
            + provider_toml("backup", up, key="sk-literal")
            + model_toml("glm-4.6", ("primary", "glm-4.6"), ("backup", "z-ai/glm-4.6"))
            + model_toml("glm-4.5-air", ("backup", "z-ai/glm-4.5-air")),
            router='default = "glm-4.6"\nbackground = "glm-4.5-air"',
        )
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url, timeout=10) as client:
        # some traffic for the logs: one failover (429 then 200), one background request
        up.script(status(429), reply_text(ANSWER))
        for m in ("claude-sonnet-4-5", "claude-haiku-4-5"):
            r = client.post(
                "/v1/messages",
                json={
                    "model": m,
                    "max_tokens": 50,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            )
            assert r.status_code == 200, r.text

        open_tab(page, ccm, "overview")
        expect(page.locator("#st-version")).not_to_have_text("–")
        expect(page.locator("#st-models")).to_have_text("2")
        expect(page.locator("#st-requests")).to_have_text("2")
        expect(page.locator("#st-config")).to_have_text(str(cfg))
        expect(page.locator("#st-providers tbody tr")).to_have_count(2)
        expect(page.locator("#st-providers")).to_contain_text("from $CCM_BROWSER_TEST_KEY")
        expect(page.locator("#st-providers")).to_contain_text("429")  # primary's failure
        expect(page.locator("#st-providers tbody tr").first).to_contain_text("closed")  # circuit
        assert page.locator("#reload-error").is_hidden()
        page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

        click_tab(page, "providers")
        expect(page.locator("#prov-table tbody tr[data-name]")).to_have_count(2)
        expect(page.locator("#prov-table tr[data-name='primary']")).to_contain_text(
            "$CCM_BROWSER_TEST_KEY"
        )
        expect(page.locator("#prov-table tr[data-name='backup']")).to_contain_text("********")
        types = page.locator("#prov-type option").all_inner_texts()
        assert len(types) == 23 and "vertex-ai" in types and "openai-responses" in types
        page.screenshot(path=str(SCREENSHOTS / "providers.png"), full_page=True)

        click_tab(page, "models")
        expect(page.locator(".model-item")).to_have_count(2)
        chain = page.locator(".model-item[data-name='glm-4.6'] .chain li")
        expect(chain.nth(0)).to_contain_text("primary")
        expect(chain.nth(1)).to_contain_text("backup")
        page.locator(".model-item[data-name='glm-4.6']").get_by_role("button", name="Edit").click()
        expect(page.locator("#map-table tbody tr")).to_have_count(2)
        page.screenshot(path=str(SCREENSHOTS / "models.png"), full_page=True)

        click_tab(page, "rules")
        expect(page.locator("#rules-text")).to_have_value(re.compile(r"default to"))
        expect(page.locator("#rules-toml-note")).to_be_visible()
        expect(page.locator("#router-card")).to_be_visible()
        expect(page.locator("#router-fields input[name='default']")).to_have_value("glm-4.6")
        expect(page.locator("#explain-rule")).to_contain_text("background")
        expect(page.locator("#explain-chain tbody tr")).to_have_count(1)
        expect(page.locator("#rules-state")).to_contain_text("ok")
        page.screenshot(path=str(SCREENSHOTS / "rules.png"), full_page=True)

        click_tab(page, "test")
        page.fill("#test-model", "glm-4.6")
        page.select_option("#test-provider", "backup")
        page.click("#test-send")
        expect(page.locator("#test-answer")).to_have_text(ANSWER)
        expect(page.locator("#test-route")).to_contain_text("backup")
        page.screenshot(path=str(SCREENSHOTS / "test.png"), full_page=True)

        click_tab(page, "logs")
        rows = page.locator("#logs-table tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.last).to_contain_text("429")  # oldest last: the failover
        expect(rows.last.locator(".attempt-count")).to_have_text("2")
        # auto-refresh: a new request shows up without a reload
        client.post("/api/test", json={"model": "glm-4.5-air", "message": "again"})
        expect(rows).to_have_count(4, timeout=6_000)
        page.screenshot(path=str(SCREENSHOTS / "logs.png"), full_page=True)
        no_page_error(page)

        # every tab at 1280 and 800 px, light and dark: drawn, nothing wider than the window
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            for width in (1280, 800):
                page.set_viewport_size({"width": width, "height": 900})
                for tab in TABS:
                    click_tab(page, tab)
                    expect(TAB_READY[tab](page)).to_be_visible()
                    assert_fits(page, f"{tab} at {width} px, {scheme}")
                    page.screenshot(
                        path=str(SCREENSHOTS / f"tab-{tab}-{width}-{scheme}.png"), full_page=True
                    )
                no_page_error(page)
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert (luminance(background) < 0.1) == (scheme == "dark"), (scheme, background)
    assert page.console.errors == []


# what shows that a tab has drawn what it loads
TAB_READY = {
    "overview": lambda page: page.locator("#st-cost-today", has_text="$"),
    "usage": lambda page: page.locator("#chart-latency canvas"),
    "requests": lambda page: page.locator("#req-table tbody tr.req").first,
    "providers": lambda page: page.locator("#prov-table tbody tr[data-name]").first,
    "models": lambda page: page.locator(".model-item").first,
    "rules": lambda page: page.locator("#explain-rule"),
    "test": lambda page: page.locator("#test-send"),
    "logs": lambda page: page.locator("#logs-table tbody tr").first,
}


def luminance(css_rgb: str) -> float:
    r, g, b = (int(x) for x in re.findall(r"\d+", css_rgb)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def assert_fits(page: Any, where: str) -> None:
    """Nothing runs past the window's right edge (the page never scrolls sideways), and no
    button is cut off by the box that holds it."""
    report = page.evaluate(
        """() => {
        const out = {scroll: document.documentElement.scrollWidth, width: window.innerWidth,
                     clipped: []};
        for (const b of document.querySelectorAll("main .btn")) {
            if (!b.offsetParent) continue;  // hidden
            const r = b.getBoundingClientRect();
            if (r.right > window.innerWidth + 0.5 || r.left < -0.5) {
                out.clipped.push(b.textContent.trim() + " outside the window");
                continue;
            }
            for (let p = b.parentElement; p && p !== document.body; p = p.parentElement) {
                const style = getComputedStyle(p);
                if (style.overflowX === "visible" && style.overflow === "visible") continue;
                const box = p.getBoundingClientRect();
                if (r.right > box.right + 0.5 || r.left < box.left - 0.5) {
                    out.clipped.push(b.textContent.trim() + " cut by ." + p.className);
                }
                break;
            }
        }
        return out;
    }"""
    )
    assert report["scroll"] <= report["width"], f"{where}: the page scrolls sideways {report}"
    assert report["clipped"] == [], f"{where}: {report['clipped']}"


# ---------------------------------------------------------------- 4. admin token


def test_admin_token_is_asked_for_and_sent(page: Any, up: FakeUpstream, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with served(tmp_path, server='admin_token = "let-me-in"') as ccm:
        open_tab(page, ccm, "overview")
        expect(page.locator("#overview-msg")).to_contain_text("admin token required")
        expect(page.locator("#conn")).to_have_text("not authorised")
        page.fill("#token-input", "let-me-in")
        page.click("#token-form button[type=submit]")
        expect(page.locator("#st-version")).not_to_have_text("–")
        expect(page.locator("#overview-msg")).to_be_empty()
        stored = page.evaluate("localStorage.getItem('ccm_admin_token')")
        assert stored == "let-me-in"
        # writes carry it too
        click_tab(page, "providers")
        page.fill("#prov-name", "p")
        page.select_option("#prov-type", "ollama")
        page.click("#prov-save")
        toast(page, "Saved provider")

        # a config broken by hand: the old one keeps serving, Overview says why, prominently
        ccm.config_path.write_text(ccm.config_path.read_text() + "\n[[providers]]\nname = 3\n")
        r = httpx.post(
            f"{ccm.base_url}/api/reload", json={}, headers={"authorization": "Bearer let-me-in"}
        )
        assert r.json()["ok"] is False
        click_tab(page, "overview")
        banner = page.locator("#reload-error")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Last reload failed")
        expect(banner).to_contain_text("config.toml:")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "overview-reload-error.png"), full_page=True)
        no_page_error(page)
    # only Chromium's own line for the 401 before the token was set
    assert page.console.page_errors(401) == []


# ---------------------------------------------------------------- 5. OAuth sign-in


def test_oauth_sign_in_for_a_provider(
    page: Any, tmp_path: Path, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    with FakeOAuthServer(client_id="cid", token_format="json") as fake:
        monkeypatch.setenv("CCM_OAUTH_CLAUDE_MAX_CLIENT_ID", "cid")
        monkeypatch.setenv("CCM_OAUTH_CLAUDE_MAX_AUTHORIZE_URL", fake.authorize_url)
        monkeypatch.setenv("CCM_OAUTH_CLAUDE_MAX_TOKEN_URL", fake.token_url)
        issued: dict[str, str] = {}

        def approve(route: Any) -> None:
            """The sign-in window: the fake approves and issues a code for the state; instead of
            following its redirect to Anthropic's page (not reachable here), the window shows
            the code#state that page would show."""
            resp = route.fetch(max_redirects=0)
            assert resp.status == 302, resp.text()
            issued.update(parse_qsl(urlsplit(resp.headers["location"]).query))
            route.fulfill(
                status=200,
                content_type="text/html",
                body=f"<p>Paste this code: <code id=code>{issued['code']}#{issued['state']}</code>",
            )

        page.context.route(f"{fake.authorize_url}?*", approve)
        with served(tmp_path) as ccm:
            open_tab(page, ccm, "providers")
            page.fill("#prov-name", "claude-sub")
            page.select_option("#prov-type", "anthropic")
            expect(page.locator("#prov-oauth-fields")).to_be_hidden()
            page.locator("#prov-auth label", has_text="OAuth sign-in").click()
            expect(page.locator("#prov-oauth-fields")).to_be_visible()
            expect(page.locator("#prov-key")).to_be_hidden()
            # the flow follows the provider type until one is chosen
            expect(page.locator("#prov-oauth-flow")).to_have_value("claude-max")
            page.select_option("#prov-type", "openai")
            expect(page.locator("#prov-oauth-flow")).to_have_value("chatgpt")
            page.select_option("#prov-type", "gemini")
            expect(page.locator("#prov-oauth-flow")).to_have_value("google")
            page.select_option("#prov-type", "anthropic")
            expect(page.locator("#prov-oauth-flow")).to_have_value("claude-max")
            expect(page.locator("#prov-oauth-id")).to_have_text("claude-sub")
            expect(page.locator("#prov-oauth-status")).to_contain_text("not signed in")

            with page.expect_popup() as popup_info:
                page.click("#prov-oauth-signin")
            popup = popup_info.value
            pasted = popup.locator("#code").inner_text()
            expect(page.locator("#prov-oauth-instructions")).to_contain_text("paste the code")
            expect(page.locator("#prov-oauth-link")).to_have_attribute(
                "href", re.compile("^" + re.escape(fake.authorize_url + "?"))
            )
            (asked,) = fake.authorize_requests
            assert asked["client_id"] == "cid" and asked["code_challenge_method"] == "S256"
            assert asked["redirect_uri"] == "https://console.anthropic.com/oauth/code/callback"
            state = asked["state"]
            assert issued["state"] == state and fake.code_for(state) == issued["code"]
            assert pasted == f"{issued['code']}#{state}"
            popup.close()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "providers-oauth-pending.png"), full_page=True)

            # a code from another sign-in is refused, in the page
            page.fill("#prov-oauth-code", f"{issued['code']}#not-this-sign-in")
            page.click("#prov-oauth-complete")
            expect(page.locator("#prov-oauth-msg .alert-error")).to_contain_text("state mismatch")
            assert fake.exchange_calls == 0

            page.fill("#prov-oauth-code", pasted)
            page.click("#prov-oauth-complete")
            done = page.locator("#prov-oauth-msg")
            expect(done).to_contain_text(re.compile(r"signed in, expires \d{4}-\d\d-\d\d", re.I))
            expect(done).to_contain_text("claude-sub")
            expect(page.locator("#prov-oauth-step")).to_be_hidden()
            expect(page.locator("#prov-oauth-status")).to_contain_text("valid")
            assert fake.exchange_calls == 1
            sent = fake.token_requests[-1]
            assert sent["content_type"] == "application/json"
            assert sent["fields"]["state"] == state and sent["fields"]["code_verifier"]
            html = page.content()
            assert "verifier" not in html.lower() and sent["fields"]["code_verifier"] not in html
            assert page.evaluate("JSON.stringify(localStorage)") == "{}"  # the state is not kept

            page.screenshot(path=str(SCREENSHOTS / "providers-oauth.png"), full_page=True)
            page.click("#prov-save")
            assert "no OAuth token" not in toast(page, "Saved provider")
            row = page.locator("#prov-table tr[data-name='claude-sub']")
            expect(row).to_contain_text("OAuth")
            expect(row).to_contain_text("valid")

            doc = tomllib.loads(ccm.config_path.read_text())
            (prov,) = doc["providers"]
            assert prov["name"] == "claude-sub" and prov["provider_type"] == "anthropic"
            assert prov["auth_type"] == "oauth" and prov["oauth_provider"] == "claude-sub"
            assert "api_key" not in prov
            assert '"claude-sub"' in token_file.read_text()
            assert token_file.stat().st_mode & 0o777 == 0o600

            # editing keeps the OAuth choice and shows the token
            row.get_by_role("button", name="Edit").click()
            expect(page.locator("#prov-auth-oauth")).to_be_checked()
            expect(page.locator("#prov-oauth-status")).to_contain_text("valid")

            # Overview: the provider's key is its token; the token list refreshes and deletes
            click_tab(page, "overview")
            expect(page.locator("#st-providers tbody tr").first).to_contain_text("OAuth")
            token_row = page.locator("#oauth-tokens tr[data-token='claude-sub']")
            expect(token_row).to_contain_text("Claude Pro/Max")
            expect(token_row).to_contain_text("claude-sub")  # used by
            expect(token_row).to_contain_text("valid")
            expect(token_row).to_contain_text(re.compile(r"in (59|60) min"))
            page.screenshot(path=str(SCREENSHOTS / "overview-oauth.png"), full_page=True)
            token_row.get_by_role("button", name="Refresh").click()
            toast(page, "Refreshed token")
            assert fake.refresh_calls == 1
            token_row.get_by_role("button", name="Delete").click()
            token_row.get_by_role("button", name="Confirm?").click()
            toast(page, "Deleted token")
            expect(page.locator("#oauth-tokens tbody")).to_contain_text("No OAuth tokens")
            expect(page.locator("#st-providers tbody tr").first).to_contain_text("not signed in")
            no_page_error(page)
    # only Chromium's own line for the refused (400) exchange
    assert page.console.page_errors(400) == []


def test_oauth_sign_in_that_comes_back_by_itself_with_pop_ups_blocked(
    page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    with FakeOAuthServer(client_id="gid", client_secret="gsec") as fake:
        for name, value in {
            "CLIENT_ID": "gid",
            "CLIENT_SECRET": "gsec",
            "AUTHORIZE_URL": fake.authorize_url,
            "TOKEN_URL": fake.token_url,
            "CODE_ASSIST_URL": fake.code_assist_url,
        }.items():
            monkeypatch.setenv(f"CCM_OAUTH_GOOGLE_{name}", value)
        monkeypatch.delenv("CCM_OAUTH_CHATGPT_CLIENT_ID", raising=False)
        # a browser that blocks pop-ups, as harshly as it can: window.open throws
        page.add_init_script("window.open = () => { throw new Error('pop-up blocked'); };")
        with served(tmp_path) as ccm:
            open_tab(page, ccm, "providers")
            page.fill("#prov-name", "gem")
            page.select_option("#prov-type", "gemini")
            page.check("#prov-auth-oauth")
            expect(page.locator("#prov-oauth-flow")).to_have_value("google")
            # a flow without a client id: the server says which variable to set, in the page
            page.select_option("#prov-oauth-flow", "chatgpt")
            page.click("#prov-oauth-signin")
            expect(page.locator("#prov-oauth-msg .alert-error")).to_contain_text(
                "CCM_OAUTH_CHATGPT_CLIENT_ID"
            )
            expect(page.locator("#prov-oauth-step")).to_be_hidden()
            page.select_option("#prov-type", "anthropic")  # a chosen flow stays chosen
            expect(page.locator("#prov-oauth-flow")).to_have_value("chatgpt")
            page.select_option("#prov-type", "gemini")

            page.select_option("#prov-oauth-flow", "google")
            page.click("#prov-oauth-signin")
            expect(page.locator("#prov-oauth-step")).to_be_visible()
            expect(page.locator("#prov-oauth-instructions")).to_contain_text("comes back")
            no_page_error(page)  # the blocked window.open is not an error
            # the user follows the link; Google (the fake) sends the browser back to ccm
            with page.expect_popup() as popup_info:
                page.click("#prov-oauth-link")
            popup = popup_info.value
            expect(popup.locator("h1")).to_have_text("Signed in")
            assert popup.url.startswith(ccm.base_url + "/api/oauth/callback?")
            popup.close()
            # the page notices the new token by itself
            expect(page.locator("#prov-oauth-msg")).to_contain_text("Signed in, expires")
            expect(page.locator("#prov-oauth-step")).to_be_hidden()
            page.click("#prov-save")
            toast(page, "Saved provider")
            (prov,) = tomllib.loads(ccm.config_path.read_text())["providers"]
            assert prov["auth_type"] == "oauth" and prov["oauth_provider"] == "gem"

            # back to a key: the OAuth settings leave the file
            row = page.locator("#prov-table tr[data-name='gem']")
            row.get_by_role("button", name="Edit").click()
            expect(page.locator("#prov-oauth-status")).to_contain_text("valid")
            page.check("#prov-auth-apikey")
            expect(page.locator("#prov-key")).to_be_visible()
            page.fill("#prov-key", "$GEM_KEY")
            page.click("#prov-save")
            toast(page, "Saved provider")
            (prov,) = tomllib.loads(ccm.config_path.read_text())["providers"]
            assert prov["api_key"] == "$GEM_KEY"
            assert "auth_type" not in prov and "oauth_provider" not in prov
            no_page_error(page)
    # only Chromium's own line for the refused (400) authorize of the unconfigured flow
    assert page.console.page_errors(400) == []


REBIND_HOST = "127.0.0.1.evil.example"  # the name: it resolves to 127.0.0.1


def test_dns_rebinding_page_is_refused(browser: Any, up: FakeUpstream, tmp_path: Path) -> None:
    """An attacker's page whose name resolves to 127.0.0.1 (Chromium's --host-resolver-rules
    plays the rebinding DNS server) runs same-origin with ccm's port: it must read nothing,
    write nothing and spend nothing. The same calls from http://127.0.0.1 work."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        config_text(
            provider_toml("p", up, key="sk-REBIND-TARGET-KEY") + model_toml("m", ("p", "gpt-x"))
        )
    )
    calls = """async () => {
        const out = {};
        const json = {"content-type": "application/json"};
        out.config = (await fetch("/api/config")).status;
        out.write = (await fetch("/api/providers/p", {method: "PUT", headers: json,
            body: JSON.stringify({name: "p", provider_type: "openai", api_key: "********",
                                  base_url: "http://attacker.example/v1"})})).status;
        out.spend = (await fetch("/v1/messages", {method: "POST",
            headers: {"content-type": "text/plain"},
            body: JSON.stringify({model: "m", max_tokens: 5,
                                  messages: [{role: "user", content: "hi"}]})})).status;
        out.health = await (await fetch("/health")).json();
        return out;
    }"""
    args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {REBIND_HOST} 127.0.0.1"]
    with running_ccm(cfg) as ccm:
        port = ccm.base_url.rsplit(":", 1)[1]
        # a browser of its own: the resolver rule is a launch argument
        b = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            page = b.new_page()
            page.goto(f"http://{REBIND_HOST}:{port}/health")
            evil = page.evaluate(calls)
            assert evil["config"] == 403 and evil["write"] == 403 and evil["spend"] == 403
            assert evil["health"] == {"status": "ok", "service": "ccm"}  # up, and nothing else
            assert up.requests == []
            assert "attacker.example" not in cfg.read_text()
            page.goto(f"{ccm.base_url}/health")  # the real page's origin, for contrast
            own = page.evaluate(calls.replace("http://attacker.example/v1", up.base_url + "/v1"))
            assert own["config"] == 200 and own["write"] == 200 and own["spend"] == 200
        finally:
            b.close()


# ---------------------------------------------------------------- 6. usage and requests views

PRICED_MODEL = model_toml(
    "priced", ("primary", "gpt-priced", {"price": {"input": 3.0, "output": 15.0}})
)


def claude_code_request(client: httpx.Client, model: str, session: str, stream: bool) -> Any:
    r = send(str(client.base_url).rstrip("/"), model, session, stream, max_tokens=50)
    assert r.status_code == 200, r.text
    return r


def test_usage_and_requests_views_and_the_overview(
    page: Any, up: FakeUpstream, tmp_path: Path
) -> None:
    """55 requests in two sessions (stream and not, one failover) to a fake upstream that
    reports 12 input and 9 output tokens; the priced model costs 12 * 3e-6 + 9 * 15e-6 =
    $0.000171 a request."""
    from playwright.sync_api import expect

    up.default = reply_text(ANSWER, usage={"input_tokens": 12, "output_tokens": 9})
    with (
        served(
            tmp_path,
            provider_toml("primary", up, key="sk-a")
            + provider_toml("backup", up, key="sk-b")
            + PRICED_MODEL
            + model_toml("glm", ("primary", "glm-up"), ("backup", "glm-backup")),
            router='default = "glm"',
        ) as ccm,
        httpx.Client(base_url=ccm.base_url, timeout=10) as client,
    ):
        for i in range(40):
            claude_code_request(client, "priced", SESSION_A, stream=i % 2 == 0)
        up.script(status(429))
        failover = claude_code_request(client, "glm", SESSION_B, stream=False)
        time.sleep(1.1)  # the limited key rests for its retry-after, then primary serves again
        for i in range(14):
            claude_code_request(client, "glm", SESSION_B, stream=i % 2 == 1)

        open_tab(page, ccm, "overview")
        expect(page.locator("#st-cost-today")).to_have_text("$0.00684")  # 40 * 0.000171
        expect(page.locator("#st-cost-today-sub")).to_contain_text("55 requests")
        expect(page.locator("#st-cost-today-sub")).to_contain_text("15 without a price")
        expect(page.locator("#st-cost-week")).to_have_text("$0.00684")
        expect(page.locator("#connect-code")).to_have_text(f"ccm code --config {ccm.config_path}")
        env = page.locator("#connect-env")
        expect(env).to_have_text(
            f"ANTHROPIC_BASE_URL={ccm.base_url} ANTHROPIC_AUTH_TOKEN=ccm-local "
            "ANTHROPIC_API_KEY= claude"
        )
        page.screenshot(path=str(SCREENSHOTS / "overview-usage.png"), full_page=True)

        click_tab(page, "usage")
        page.select_option("#usage-range", "24h")
        expect(page.locator("#us-requests")).to_have_text("55")
        expect(page.locator("#us-requests-sub")).to_contain_text("1 failed over")
        expect(page.locator("#us-tokens")).to_have_text("660 / 495")
        expect(page.locator("#us-cost")).to_have_text("$0.00684")
        expect(page.locator("#us-cost-sub")).to_contain_text("15 without a price")
        expect(page.locator("#us-latency")).to_contain_text("ms")
        for chart in ("requests", "tokens", "cost", "latency"):
            expect(page.locator(f"#chart-{chart} canvas")).to_have_count(1)
        # the requests chart is split by provider (legend), then by model
        legend = page.locator("#chart-requests .u-legend")
        expect(legend).to_contain_text("primary")
        expect(legend).to_contain_text("backup")
        rows = page.locator("#usage-providers tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("primary")
        expect(rows.first).to_contain_text("54")  # all but the one backup answered
        models = page.locator("#usage-models tbody")
        expect(models.locator("tr[data-key='gpt-priced']")).to_contain_text("$0.00684")
        expect(models.locator("tr[data-key='glm-up']")).to_contain_text("–")  # no price: not $0
        page.select_option("#usage-by", "model")
        expect(legend).to_contain_text("gpt-priced")
        expect(page.locator("#chart-requests-by")).to_have_text("by model")
        page.select_option("#usage-bucket", "day")
        expect(page.locator("#chart-requests .u-legend")).to_contain_text("gpt-priced")
        page.screenshot(path=str(SCREENSHOTS / "usage.png"), full_page=True)

        click_tab(page, "requests")
        count = page.locator("#req-count")
        expect(count).to_have_text("1–50 of 55")
        table = page.locator("#req-table tbody tr.req")
        expect(table).to_have_count(50)
        expect(page.locator("#req-newer")).to_be_disabled()
        page.click("#req-older")
        expect(count).to_have_text("51–55 of 55")
        expect(table).to_have_count(5)
        expect(page.locator("#req-older")).to_be_disabled()
        page.click("#req-newer")
        expect(count).to_have_text("1–50 of 55")

        page.select_option("#req-session", SESSION_B)
        expect(count).to_have_text("1–15 of 15")
        page.select_option("#req-status", "failover")
        expect(count).to_have_text("1–1 of 1")
        row = table.first
        expect(row).to_have_attribute("data-id", failover.headers["x-ccm-request-id"])
        expect(row).to_contain_text("failover")
        row.click()
        detail = page.locator("#req-table tr.detail")
        attempts = detail.locator("ol.attempts li")
        expect(attempts).to_have_count(2)
        expect(attempts.nth(0)).to_contain_text("429")
        expect(attempts.nth(0)).to_contain_text("primary")
        expect(attempts.nth(1)).to_contain_text("200")
        expect(attempts.nth(1)).to_contain_text("backup")
        expect(detail).to_contain_text(SESSION_B)
        expect(detail).to_contain_text("12 in, 9 out")
        page.screenshot(path=str(SCREENSHOTS / "requests.png"), full_page=True)
        row.click()  # closes
        expect(detail).to_have_count(0)
        page.click("#req-reset")
        expect(count).to_have_text("1–50 of 55")
        page.select_option("#req-model", "gpt-priced")
        expect(count).to_have_text("1–40 of 40")
        expect(table.first).to_contain_text("$0.000171")
        no_page_error(page)
    assert page.console.page_errors() == []


def test_usage_views_say_so_when_the_ledger_is_off(
    page: Any, up: FakeUpstream, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    cfg = tmp_path / "config.toml"
    cfg.write_text(
        config_text(provider_toml("p", up, key="sk-x") + model_toml("m", ("p", "gpt-x")))
        + "\n[ledger]\nenabled = false\n"
    )
    with running_ccm(cfg) as ccm:
        httpx.post(f"{ccm.base_url}/api/test", json={"model": "m", "message": "hi"}, timeout=10)
        open_tab(page, ccm, "overview")
        expect(page.locator("#st-cost-today-sub")).to_have_text("ledger off")
        expect(page.locator("#st-cost-today")).to_have_text("–")
        click_tab(page, "usage")
        empty = page.locator("#usage-empty")
        expect(empty).to_contain_text("The usage ledger is off")
        expect(empty).to_contain_text("[ledger] enabled = false")
        expect(page.locator("#us-requests")).to_have_text("0")
        click_tab(page, "requests")
        expect(page.locator("#req-empty")).to_contain_text("The usage ledger is off")
        expect(page.locator("#req-count")).to_have_text("no requests")
        page.screenshot(path=str(SCREENSHOTS / "usage-ledger-off.png"), full_page=True)
        no_page_error(page)
    assert page.console.page_errors() == []


# ---------------------------------------------------------------- 7. the page as a user finds it


def providers_file(base: str) -> str:
    """Three providers as a user might have left them: a key set, a key whose variable is
    misspelt, a literal key."""
    return (
        f'{COMMENT}\n[server]\nhost = "127.0.0.1"\nport = 13456\n'
        + provider(
            "env-set",
            "openai-compatible",
            api_key="$CCM_PAGE_SET_KEY",
            base_url=f"{base}/v1/a-rather-long-path/that/makes/the/base/url/column/wide",
        )
        + provider(
            "env-typo", "openai-compatible", api_key="$CCM_PAGE_TYPO_KEY", base_url=f"{base}/v1"
        )
        + provider(
            "literal", "openai-compatible", api_key="sk-literal-never-shown", base_url=f"{base}/v1"
        )
        + model_toml("m", ("env-set", "gpt-x"))
    )


def test_providers_at_800px_keys_switch_errors_and_new_blocks(
    page: Any, up: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    monkeypatch.setenv("CCM_PAGE_SET_KEY", "sk-from-env")
    monkeypatch.delenv("CCM_PAGE_TYPO_KEY", raising=False)
    cfg = tmp_path / "config.toml"
    original = providers_file(up.base_url)
    cfg.write_text(original)
    page.set_viewport_size({"width": 800, "height": 900})
    with running_ccm(cfg) as ccm:
        open_tab(page, ccm, "providers")
        rows = page.locator("#prov-table tbody tr[data-name]")
        expect(rows).to_have_count(3)

        # 800 px: the table and the form are stacked, every button whole and inside the card
        table_card = page.locator("#prov-table").locator(
            "xpath=ancestor::div[contains(@class,'card')][1]"
        )
        form_card = page.locator("#prov-form").locator(
            "xpath=ancestor::div[contains(@class,'card')][1]"
        )
        t, f = table_card.bounding_box(), form_card.bounding_box()
        assert f["y"] >= t["y"] + t["height"], (t, f)  # below, not beside or under
        for button in rows.get_by_role("button").all():
            b = button.bounding_box()
            assert t["x"] <= b["x"] and b["x"] + b["width"] <= t["x"] + t["width"], (b, t)
            assert b["x"] + b["width"] <= 800
        assert_fits(page, "providers at 800 px")
        page.screenshot(path=str(SCREENSHOTS / "providers-800.png"), full_page=True)

        # a $VAR reference as written, with whether it is set; a literal key stays masked
        expect(rows.nth(0).locator(".key-ref")).to_have_text(
            re.compile(r"\$CCM_PAGE_SET_KEY\s*set")
        )
        expect(rows.nth(1).locator(".key-ref")).to_have_text(
            re.compile(r"\$CCM_PAGE_TYPO_KEY\s*not set")
        )
        expect(rows.nth(1).locator(".badge-err")).to_have_text("not set")
        expect(rows.nth(2)).to_contain_text("********")
        assert (
            "sk-literal-never-shown" not in page.content() and "sk-from-env" not in page.content()
        )
        rows.nth(1).get_by_role("button", name="Edit").click()
        expect(page.locator("#prov-key")).to_have_value("$CCM_PAGE_TYPO_KEY")
        expect(page.locator("#prov-key")).to_have_attribute("type", "text")  # shown as written
        expect(page.locator("#prov-key-status")).to_contain_text("$CCM_PAGE_TYPO_KEY is not set")
        rows.nth(2).get_by_role("button", name="Edit").click()
        expect(page.locator("#prov-key")).to_have_value("********")
        expect(page.locator("#prov-key")).to_have_attribute("type", "password")
        page.click("#prov-cancel")

        # off and on again from the table: `enabled = false` while off, then the file as it was
        switch = rows.nth(1).locator("label.switch")
        switch.click()
        toast(page, "Provider “env-typo” disabled")
        expect(rows.nth(1).locator("input.prov-enabled")).not_to_be_checked()
        assert 'name = "env-typo"\nprovider_type = "openai-compatible"\napi_key' in cfg.read_text()
        assert tomllib.loads(cfg.read_text())["providers"][1]["enabled"] is False
        rows.nth(1).locator("label.switch").click()
        toast(page, "Provider “env-typo” enabled")
        expect(rows.nth(1).locator("input.prov-enabled")).to_be_checked()
        assert cfg.read_text() == original  # no `enabled = true`, nothing else moved

        # a refused change says what to do, in words, as a toast and beside the table
        rows.nth(0).get_by_role("button", name="Delete").click()
        rows.nth(0).get_by_role("button", name="Confirm?").click()
        said = toast(page, "still used by model", kind="error")
        assert "remove those mappings first" in said
        assert not re.search(r"HTTP \d{3}|_error\b|\(\w+, ", said), said
        expect(page.locator("#prov-list-msg .alert-error")).to_have_text(said)

        # a new provider, then a model: each set off by one blank line, like the rest
        page.fill("#prov-name", "added")
        page.select_option("#prov-type", "openai-compatible")
        page.fill("#prov-key", "$CCM_PAGE_SET_KEY")
        expect(page.locator("#prov-key")).to_have_attribute("type", "text")
        page.fill("#prov-base", f"{up.base_url}/v1")
        page.click("#prov-save")
        toast(page, "Saved provider")
        new_model(page, "m2", "added", "gpt-y")
        page.click("#model-save")
        toast(page, "Saved model")
        text = cfg.read_text()
        assert text.startswith(original.rstrip("\n") + "\n\n[[models]]") is False  # models last
        assert "\n\n\n" not in text and text.endswith("\n") and not text.endswith("\n\n")
        assert (
            f'base_url = "{up.base_url}/v1"\n\n[[providers]]\nname = "added"\n'
            'provider_type = "openai-compatible"\napi_key = "$CCM_PAGE_SET_KEY"\n'
            f'base_url = "{up.base_url}/v1"\n\n[[models]]\nname = "m"\n'
        ) in text
        assert text.endswith(
            'priority = 1\n\n[[models]]\nname = "m2"\n\n[[models.mappings]]\n'
            'provider = "added"\nactual_model = "gpt-y"\npriority = 1\n'
        )
        no_page_error(page)
    # Chromium's own line for the refused (409) delete
    assert page.console.page_errors(409) == []


def test_rules_saved_from_router_lose_the_header_and_the_slots_come_back(
    page: Any, up: FakeUpstream, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    with served(
        tmp_path,
        provider_toml("p", up, key="sk-x") + model_toml("big", ("p", "gpt-big")),
        router='default = "big"',
    ) as ccm:
        open_tab(page, ccm, "rules")
        ta = page.locator("#rules-text")
        expect(ta).to_have_value(re.compile(r"^# generated from \[router\]"))
        expect(page.locator("#router-card")).to_be_visible()
        expect(page.locator("#rules-file-note")).to_be_hidden()
        ta.fill(ta.input_value() + "# edited in the page\n")
        expect(page.locator("#rules-state")).to_contain_text("unsaved")
        page.click("#rules-save")
        toast(page, "Saved")
        rules = tmp_path / "ccm.rules"
        saved = rules.read_text()
        assert "generated from [router]" not in saved
        assert saved.endswith("# edited in the page\n") and "default to" in saved
        expect(ta).to_have_value(saved)
        assert tomllib.loads(ccm.config_path.read_text())["router"]["rules"] == "ccm.rules"
        expect(page.locator("#router-card")).to_be_hidden()
        note = page.locator("#rules-file-note")
        expect(note).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "rules-from-file.png"), full_page=True)

        # the way back: [router] rules goes, the slots route again and their card is back
        page.click("#rules-use-router")
        toast(page, "The [router] slots route again")
        assert "rules" not in tomllib.loads(ccm.config_path.read_text())["router"]
        assert rules.read_text() == saved  # left on disk, unused
        expect(page.locator("#router-card")).to_be_visible()
        expect(page.locator("#router-fields input[name='default']")).to_have_value("big")
        expect(ta).to_have_value(re.compile(r"^# generated from \[router\]"))
        expect(note).to_be_hidden()
        assert ccm.config_path.read_text().startswith(COMMENT + "\n")
        no_page_error(page)
    assert page.console.page_errors() == []


def test_test_sender_streams_with_a_spinner_and_a_toast(
    page: Any, up: FakeUpstream, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    with served(
        tmp_path, provider_toml("p", up, key="sk-x") + model_toml("m", ("p", "gpt-x"))
    ) as ccm:
        open_tab(page, ccm, "test")
        page.fill("#test-model", "m")
        expect(page.locator("#test-stream")).not_to_be_checked()
        page.locator("label[for='test-stream']").click()
        expect(page.locator("#test-stream")).to_be_checked()
        up.script(reply_text(ANSWER).with_delay(1.0))
        page.click("#test-send")
        # while the call runs: a spinner on the button and beside it
        expect(page.locator("#test-send")).to_have_class(re.compile(r"\bbusy\b"))
        expect(page.locator("#test-spinner")).to_be_visible()
        expect(page.locator("#test-busy")).to_contain_text("streaming the answer")
        page.screenshot(path=str(SCREENSHOTS / "test-busy.png"), full_page=True)
        expect(page.locator("#test-answer")).to_have_text(ANSWER)
        said = toast(page, "Answered by p")
        assert "(streamed)" in said
        expect(page.locator("#test-send")).not_to_have_class(re.compile(r"\bbusy\b"))
        expect(page.locator("#test-spinner")).to_have_count(0)
        expect(page.locator("#test-out")).to_contain_text("streamed")
        assert up.requests[-1].stream is True

        # and not streamed; then a failure: an error toast in words
        page.locator("label[for='test-stream']").click()
        page.click("#test-send")
        toast(page, "Answered by p")
        assert up.requests[-1].stream is False
        up.script(status(400))  # not retried: the upstream's refusal comes back
        page.click("#test-send")
        said = toast(page, "", kind="error")
        assert said and not re.search(r"\(\w+_error, HTTP", said), said
        expect(page.locator("#test-out .alert-error")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "test-error.png"), full_page=True)
        no_page_error(page)
    assert page.console.page_errors() == []
