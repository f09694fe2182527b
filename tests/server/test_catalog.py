"""GET /api/catalog: the admin page's provider types, OAuth flows and router slots come from
the server's own tables, behind the admin guard."""

from __future__ import annotations

from pathlib import Path

import httpx

from ccm.dialects.registry import PRESETS
from ccm.oauth.flows import FLOW_NAMES
from tests.harness import running_ccm


def test_catalog_lists_every_type_flow_and_slot(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[server]\nadmin_token = "t0k"\n')
    with running_ccm(cfg) as ccm, httpx.Client(base_url=ccm.base_url, timeout=10) as c:
        assert c.get("/api/catalog").status_code == 401  # the admin guard
        r = c.get("/api/catalog", headers={"authorization": "Bearer t0k"})
    assert r.status_code == 200
    data = r.json()
    types = {t["type"]: t for g in data["groups"] for t in g["types"]}
    assert set(types) == set(PRESETS)  # openai-responses included
    assert types["openai-responses"]["base_url"] == "https://api.openai.com/v1"
    assert types["ollama"]["needs_key"] is False and types["vertex-ai"]["requires"]
    assert types["gemini"]["oauth_flow"] == "google" and types["openai"]["oauth_flow"] == "chatgpt"
    assert [f["name"] for f in data["oauth_flows"]] == list(FLOW_NAMES)
    slots = [s["key"] for s in data["router_slots"]]
    assert slots[0] == "default" and "long_context_threshold" in slots and "rules" not in slots
