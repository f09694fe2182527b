"""The router fits a decision to what its first model can do: a conversation holding images
(anywhere) for a text-only model goes to the image route or gets its images replaced by a
note, as configured; a web_search request for a provider that cannot search goes to the
websearch route when there is one. `ccm explain` says which and why."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ccm.rules.compile import IMAGE_NOTE
from ccm.rules.explain import explain, format_explanation
from tests.conftest import RouterFactory
from tests.proxy_setup import model_toml, provider

MODELS = (
    provider("zai", "z.ai", api_key="k")
    + provider("or", "openrouter", api_key="k")
    + provider("ds", "deepseek", api_key="k")
    + model_toml("glm", ("zai", "glm-4.6"))
    + model_toml("eyes", ("or", "openai/gpt-4o"))
    + model_toml("ds", ("ds", "deepseek-chat"))
)
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def _body(*, image_in: str | None = "earlier", tools: list[Any] | None = None) -> dict[str, Any]:
    first: list[Any] = [{"type": "text", "text": "look at this"}]
    if image_in == "earlier":
        first.append({"type": "image", "source": PNG})
    tool_result: dict[str, Any] = {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}
    if image_in == "old tool result":
        tool_result["content"] = [{"type": "image", "source": PNG}]
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": first},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}],
            },
            {"role": "user", "content": [tool_result]},
            {"role": "assistant", "content": "done"},
            {"role": "user", "content": "and now?"},
        ],
    }
    if tools is not None:
        body["tools"] = tools
    return body


@pytest.mark.parametrize("where", ["earlier", "old tool result"])
def test_an_image_anywhere_goes_to_the_image_route(make_router: RouterFactory, where: str) -> None:
    router = make_router('[router]\ndefault = "glm"\nimage = "eyes"\n', models=MODELS)
    body = _body(image_in=where)
    d = router.route(body)
    assert (d.rule, d.model) == ("image", "eyes")
    assert d.chain[0].actual_model == "openai/gpt-4o" and d.images == ""
    (note,) = d.capability
    assert "holds 1 image(s)" in note and "zai/glm-4.6 takes none" in note
    assert "instead of 'glm'" in note
    before = copy.deepcopy(body)
    d.apply(body)
    assert body == before  # the image route's model sees: nothing replaced


def test_the_latest_turn_image_rule_still_comes_first(make_router: RouterFactory) -> None:
    router = make_router('[router]\ndefault = "glm"\nimage = "eyes"\n', models=MODELS)
    body = _body(image_in=None)
    body["messages"][-1]["content"] = [{"type": "image", "source": PNG}]
    d = router.route(body)
    assert (d.rule, d.model, d.capability) == ("image", "eyes", ())


def test_placeholder_when_configured(make_router: RouterFactory) -> None:
    router = make_router(
        '[router]\ndefault = "glm"\nimage = "eyes"\nvision = "placeholder"\n', models=MODELS
    )
    body = _body(image_in="old tool result")
    d = router.route(body)
    assert (d.rule, d.model, d.images) == ("default", "glm", "placeholder")
    assert 'vision = "placeholder"' in d.capability[0]
    d.apply(body)
    assert body["messages"][2]["content"][0]["content"] == [{"type": "text", "text": IMAGE_NOTE}]
    assert "image" not in str(body["messages"]).replace("image omitted", "").replace("images", "")


def test_placeholder_when_there_is_no_image_route(make_router: RouterFactory) -> None:
    router = make_router('[router]\ndefault = "glm"\n', models=MODELS)
    d = router.route(_body())
    assert (d.model, d.images) == ("glm", "placeholder")
    assert "no route named image" in d.capability[0]


def test_placeholder_when_the_image_route_cannot_see_either(make_router: RouterFactory) -> None:
    router = make_router('[router]\ndefault = "glm"\nimage = "ds"\n', models=MODELS)
    d = router.route(_body())
    assert (d.model, d.images) == ("glm", "placeholder")
    assert "ds/deepseek-chat cannot either" in d.capability[0]


def test_a_model_that_sees_is_left_alone(make_router: RouterFactory) -> None:
    router = make_router('[router]\ndefault = "eyes"\n', models=MODELS)
    d = router.route(_body())
    assert (d.model, d.images, d.capability) == ("eyes", "", ())


def test_a_mapping_says_a_model_sees(make_router: RouterFactory) -> None:
    models = MODELS.replace(
        'actual_model = "glm-4.6"\n', 'actual_model = "glm-4.6"\nvision = true\n'
    )
    d = make_router('[router]\ndefault = "glm"\nimage = "eyes"\n', models=models).route(_body())
    assert (d.model, d.capability) == ("glm", ())


WEB_SEARCH = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]
RULES = """
route think when thinking to "ds"
route websearch when tools.type ~ /^web_search/ to "eyes"
default to "ds"
"""


def test_web_search_goes_to_a_websearch_route_that_can(make_router: RouterFactory) -> None:
    router = make_router(rules=RULES, models=MODELS)
    body = _body(image_in=None, tools=WEB_SEARCH)
    body["thinking"] = {"type": "enabled", "budget_tokens": 2000}
    d = router.route(body)  # `think` holds first, but deepseek cannot search
    assert (d.rule, d.model) == ("websearch", "eyes")
    assert "ds/deepseek-chat cannot run it" in d.capability[0]
    text = format_explanation(explain(router, body))
    assert "fit       the request offers web_search" in text
    assert "sent to the websearch route" in text


def test_web_search_without_a_route_that_can_is_answered_by_the_dialect(
    make_router: RouterFactory,
) -> None:
    router = make_router(rules='default to "ds"\n', models=MODELS)
    d = router.route(_body(image_in=None, tools=WEB_SEARCH))
    assert d.model == "ds"
    assert 'answers its call with a "web search unavailable" error' in d.capability[0]


def test_explain_shows_the_placeholder(make_router: RouterFactory) -> None:
    router = make_router('[router]\ndefault = "glm"\nvision = "placeholder"\n', models=MODELS)
    exp = explain(router, _body())
    assert exp["images"] == "placeholder" and exp["features"]["images"] == 1
    text = format_explanation(exp)
    assert "images    replaced by a short note before sending" in text
    assert "fit       the conversation holds 1 image(s)" in text


def test_images_field_counts_the_whole_conversation(make_router: RouterFactory) -> None:
    router = make_router(
        rules='route many when images >= 2 to "eyes"\ndefault to "eyes"\n', models=MODELS
    )
    body = _body()
    body["messages"][-1]["content"] = [{"type": "image", "source": PNG}]
    assert router.route(body).rule == "many"
    assert router.route(_body()).rule == "default"
