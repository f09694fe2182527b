"""The admin page's sign-in part in a real browser: a flow this ccm cannot start says what to
set and why as soon as it is chosen, and again (as the error) when Sign in is pressed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.server.test_admin_browser import (  # noqa: F401 - fixtures
    SCREENSHOTS,
    browser,
    no_page_error,
    open_tab,
    page,
    served,
    token_file,
)


def test_a_flow_without_client_id_says_what_to_set_and_why(
    page: Any,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import expect

    for flow in ("CLAUDE_MAX", "CHATGPT", "GOOGLE", "CLAUDE_CONSOLE"):
        monkeypatch.delenv(f"CCM_OAUTH_{flow}_CLIENT_ID", raising=False)
        monkeypatch.delenv(f"CCM_OAUTH_{flow}_CLIENT_SECRET", raising=False)
    with served(tmp_path) as ccm:
        open_tab(page, ccm, "providers")
        page.fill("#prov-name", "claude-sub")
        page.select_option("#prov-type", "anthropic")
        page.check("#prov-auth-oauth")
        note = page.locator("#prov-oauth-msg .alert-info")
        expect(note).to_contain_text("CCM_OAUTH_CLAUDE_MAX_CLIENT_ID")
        expect(note).to_contain_text("restart ccm")
        expect(note).to_contain_text("public client of Claude Code")
        expect(note).to_contain_text('auth_type = "client"')
        page.click("#prov-oauth-signin")
        error = page.locator("#prov-oauth-msg .alert-error")
        expect(error).to_contain_text("CCM_OAUTH_CLAUDE_MAX_CLIENT_ID")
        expect(page.locator("#prov-oauth-step")).to_be_hidden()
        # another flow: its own variables (google needs a secret too)
        page.select_option("#prov-oauth-flow", "google")
        expect(page.locator("#prov-oauth-msg .alert-info")).to_contain_text(
            "CCM_OAUTH_GOOGLE_CLIENT_ID and CCM_OAUTH_GOOGLE_CLIENT_SECRET"
        )
        expect(page.locator("#prov-oauth-msg")).to_contain_text("ccm login --import")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "providers-oauth-not-set-up.png"), full_page=True)
        # back to a key: the note goes with the OAuth fields
        page.check("#prov-auth-apikey")
        expect(page.locator("#prov-oauth-fields")).to_be_hidden()
        no_page_error(page)
    assert page.console.page_errors(400) == []
