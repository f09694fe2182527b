"""Property tests: route() and explain() never raise on any JSON value, whatever its shape."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccm.config.load import load_config
from ccm.rules.compile import Decision
from ccm.rules.explain import explain
from ccm.rules.load import build_router
from tests.conftest import EXAMPLES

ROUTERS = [build_router(load_config(EXAMPLES / c)) for c in ("config.toml", "config-rules.toml")]

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=25,
)
KEYS = [
    "model",
    "messages",
    "system",
    "tools",
    "thinking",
    "output_config",
    "metadata",
    "max_tokens",
    "stream",
]
content_block = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["text", "image", "tool_result", "tool_use", "thinking", "weird"])
        | json_values
    },
    optional={"text": json_values, "content": json_values, "source": json_values},
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system"]) | json_values},
    optional={"content": st.text(max_size=40) | st.lists(content_block, max_size=4) | json_values},
)
# request-shaped objects, with every known key sometimes of the wrong type
request_like = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["claude-4-5-haiku", "claude-opus-4-8", "glm-4.6", "", "x,y"])
        | json_values,
        "messages": st.lists(message, max_size=5) | json_values,
        "system": st.text(max_size=60) | st.lists(content_block, max_size=3) | json_values,
        "tools": st.lists(
            st.dictionaries(st.sampled_from(["type", "name", "input_schema"]), json_values),
            max_size=4,
        )
        | json_values,
        "thinking": st.fixed_dictionaries(
            {}, optional={"type": json_values, "budget_tokens": json_values}
        )
        | json_values,
        "output_config": st.dictionaries(st.just("effort"), json_values) | json_values,
        "metadata": st.dictionaries(st.just("user_id"), json_values) | json_values,
        "max_tokens": json_values,
        "stream": json_values,
    },
)
headers = st.dictionaries(st.text(max_size=10).map(str.lower), st.text(max_size=10), max_size=3)


def _check(decision: Decision) -> None:
    assert isinstance(decision, Decision)
    if decision.error is None:
        assert decision.chain, "a decision without error has a provider chain"
    else:
        assert not decision.error.startswith("internal"), decision.error
        assert decision.error.strip()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=request_like, hdrs=headers)
def test_route_never_raises_on_request_shapes(body: dict, hdrs: dict) -> None:
    for router in ROUTERS:
        _check(router.route(body, hdrs))
        exp = explain(router, body, hdrs)
        json.dumps(exp)  # explain output is always JSON-serialisable
        assert exp["rule"] == router.route(body, hdrs).rule


@settings(max_examples=300, deadline=None)
@given(body=json_values)
def test_route_never_raises_on_any_json(body: object) -> None:
    for router in ROUTERS:
        _check(router.route(body))
        json.dumps(explain(router, body))
