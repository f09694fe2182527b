"""GET /v1/models and /v1/models/{id}: Anthropic's list shape and paging, every logical model,
provider models and preset Claude ids, and the aliases Claude Code keeps, which route back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ccm.claude.catalogue import CLAUDE_MODELS, aliases, offered_models
from ccm.config.load import load_config, parse_config
from ccm.runtime import State, build_runtime
from ccm.server.run import build_app
from tests.fakes.upstream import FakeUpstream, reply_text
from tests.harness import running_ccm
from tests.proxy_setup import model_toml, provider, provider_toml, write_config

CONFIG = (
    provider("zai", "z.ai", api_key="sk-zai", models=["glm-4.5-air", "glm-*"])
    + provider("anthropic", "anthropic", api_key="sk-ant", models=["claude-*"])
    + provider("off", "openai", api_key="sk-off", enabled=False, models=["gpt-4o"])
    + model_toml("glm-4.6", ("zai", "glm-4.6"))
    + model_toml("claude-ccm-taken", ("zai", "x"))
    + model_toml("taken", ("zai", "y"))
    + model_toml("anthropic-style", ("zai", "z"))
)

CLAUDE_IDS = [m.id for m in CLAUDE_MODELS]


def _client(tmp_path: Path, text: str = CONFIG, server: str = "") -> httpx.Client:
    path = tmp_path / "config.toml"
    path.write_text(f"[server]\n{server}\n" + text)
    state = State(path, build_runtime(load_config(path)))
    transport = httpx.ASGITransport(app=build_app(state, watch=False))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")  # type: ignore[return-value]


@pytest.fixture
async def client(tmp_path: Path) -> Iterator[httpx.AsyncClient]:
    async with _client(tmp_path) as c:  # type: ignore[attr-defined]
        yield c


def test_offered_models_in_config_order_with_aliases() -> None:
    cfg = parse_config(CONFIG).config
    ids = [o.id for o in offered_models(cfg)]
    assert ids == [
        "glm-4.6",
        "claude-ccm-glm-4.6",
        "claude-ccm-taken",
        "taken",  # its alias would be an existing name: none
        "anthropic-style",  # Claude Code keeps anthropic* ids: no alias needed
        "glm-4.5-air",
        "claude-ccm-glm-4.5-air",
        *CLAUDE_IDS,  # claude-* pass-through: the preset ids; "glm-*" matches none of them
    ]
    assert aliases(cfg) == {
        "claude-ccm-glm-4.6": "glm-4.6",
        "claude-ccm-glm-4.5-air": "glm-4.5-air",
    }
    assert "gpt-4o" not in ids  # its provider is disabled


async def test_list_shape(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/models", params={"limit": 1000})
    assert r.status_code == 200
    page = r.json()
    assert set(page) == {"data", "has_more", "first_id", "last_id"}
    assert page["has_more"] is False
    assert page["first_id"] == "glm-4.6" and page["last_id"] == CLAUDE_IDS[-1]
    by_id = {m["id"]: m for m in page["data"]}
    assert by_id["claude-ccm-glm-4.6"]["display_name"] == "glm-4.6"
    assert by_id["claude-opus-4-8"]["display_name"] == "Opus 4.8"
    for m in page["data"]:
        assert set(m) == {"type", "id", "display_name", "created_at"} and m["type"] == "model"
        assert m["created_at"].endswith("Z")


async def test_paging(client: httpx.AsyncClient) -> None:
    everything = [m["id"] for m in (await client.get("/v1/models?limit=1000")).json()["data"]]
    assert len(everything) == 17
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 3, **({"after_id": after} if after else {})}
        page = (await client.get("/v1/models", params=params)).json()
        seen += [m["id"] for m in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert seen == everything
    back = (await client.get("/v1/models", params={"limit": 3, "before_id": everything[4]})).json()
    assert [m["id"] for m in back["data"]] == everything[1:4] and back["has_more"] is True
    start = (await client.get("/v1/models", params={"limit": 9, "before_id": everything[2]})).json()
    assert [m["id"] for m in start["data"]] == everything[:2] and start["has_more"] is False
    last = (await client.get("/v1/models", params={"after_id": everything[-1]})).json()
    assert last == {"data": [], "has_more": False, "first_id": None, "last_id": None}


async def test_default_limit_is_20(tmp_path: Path) -> None:
    many = "".join(model_toml(f"m{i:02d}", ("zai", "x")) for i in range(30))
    async with _client(tmp_path, CONFIG + many) as c:  # type: ignore[attr-defined]
        page = (await c.get("/v1/models")).json()
        assert len(page["data"]) == 20 and page["has_more"] is True
        assert page["last_id"] == page["data"][-1]["id"]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("after_id=nope", "after_id"),
        ("before_id=nope", "before_id"),
        ("after_id=glm-4.6&before_id=taken", "not both"),
    ],
)
async def test_bad_queries_are_anthropic_errors(
    client: httpx.AsyncClient, query: str, fragment: str
) -> None:
    r = await client.get(f"/v1/models?{query}")
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert fragment in body["error"]["message"]


async def test_one_model(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/models/claude-ccm-glm-4.6")
    assert r.status_code == 200
    assert r.json()["id"] == "claude-ccm-glm-4.6" and r.json()["display_name"] == "glm-4.6"
    assert (await client.get("/v1/models/claude-sonnet-5")).json()["display_name"] == "Sonnet 5"
    missing = await client.get("/v1/models/nope")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


async def test_models_need_the_client_key_when_one_is_set(tmp_path: Path) -> None:
    async with _client(tmp_path, server='api_key = "sk-ccm"') as c:  # type: ignore[attr-defined]
        assert (await c.get("/v1/models")).status_code == 401
        assert (await c.get("/v1/models/glm-4.6")).status_code == 401
        assert (await c.get("/v1/models", headers={"x-api-key": "sk-ccm"})).status_code == 200
        ok = await c.get("/v1/models/glm-4.6", headers={"authorization": "Bearer sk-ccm"})
        assert ok.status_code == 200


@pytest.mark.parametrize("fast_path", [True, False])
def test_alias_routes_back_to_its_model(tmp_path: Path, fast_path: bool) -> None:
    with FakeUpstream("anthropic") as up:
        up.default = reply_text("from glm")
        cfg = write_config(
            tmp_path / "config.toml",
            provider_toml("zai", up, extra='models = ["claude-*"]')
            + model_toml("glm-4.6", ("zai", "glm-4.6-upstream")),
            router='default = "glm-4.6"',  # auto-map: every claude-* name to glm-4.6
        )
        with running_ccm(cfg, fast_path=fast_path) as ccm, httpx.Client(base_url=ccm.base_url) as c:
            body = {"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
            r = c.post("/v1/messages", json={**body, "model": "claude-ccm-glm-4.6"})
            assert r.status_code == 200, r.text
            assert r.json()["model"] == "claude-ccm-glm-4.6"  # the name the client asked for
            assert r.headers["x-ccm-route"] == "rule=default; model=glm-4.6; provider=zai"
            assert up.requests[-1].json["model"] == "glm-4.6-upstream"


def test_an_alias_as_a_rule_target_resolves_to_its_model_not_the_claude_glob() -> None:
    from ccm.rules.chain import Resolver

    resolver = Resolver(parse_config(CONFIG).config)
    chain = resolver.resolve("claude-ccm-glm-4.6").chain
    assert [(e.provider, e.actual_model, e.model) for e in chain] == [("zai", "glm-4.6", "glm-4.6")]
    assert [e.provider for e in resolver.resolve("claude-opus-4-8").chain] == ["anthropic"]


def test_explain_shows_the_alias(tmp_path: Path) -> None:
    from ccm.rules.explain import explain, format_explanation
    from ccm.rules.load import build_router

    text = '[router]\ndefault = "glm-4.6"\n' + CONFIG
    router = build_router(parse_config(text, tmp_path / "c.toml"))
    body = {"model": "claude-ccm-glm-4.6", "messages": [{"role": "user", "content": "hi"}]}
    exp = explain(router, body)
    assert exp["trace"][0]["kind"] == "alias"
    assert exp["model"] == "glm-4.6" and exp["original_model"] == "claude-ccm-glm-4.6"
    # the auto-map rewrite (model ~ /^claude-/) did not swallow the alias
    assert all(not t["held"] for t in exp["trace"] if t["kind"] == "rewrite")
    assert 'model "claude-ccm-glm-4.6" -> "glm-4.6"' in format_explanation(exp)
    assert json.dumps(exp)
