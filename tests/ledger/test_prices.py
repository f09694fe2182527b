"""The price table and mapping prices: lookups by the names providers use, exact costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccm.config.load import parse_config
from ccm.ledger.prices import Pricer, shipped_table
from ccm.ledger.usage import Usage
from tests.proxy_setup import model_toml, provider

CONFIG = (
    provider("anth", "anthropic", api_key="k")
    + provider("router", "openrouter", api_key="k")
    + provider("groq", "groq", api_key="k")
    + provider("max", "anthropic", auth_type="oauth")
    + provider("kimi", "kimi-coding", api_key="k")
    + model_toml(
        "mine",
        (
            "anth",
            "my-finetune",
            {"price": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}},
        ),
        ("router", "some/model", {"price": {"input": 1.1, "output": 2.2}}),
    )
)


@pytest.fixture
def pricer() -> Pricer:
    return Pricer(parse_config(CONFIG, Path("c.toml")).config)


def test_mapping_price_with_cache_tokens_exact_cost(pricer: Pricer) -> None:
    # 12 x $3 + 9 x $15 + 100 x $0.30 + 40 x $3.75 = 36 + 135 + 30 + 150 = 351 per million
    u = Usage(12, 9, 100, 40)
    assert pricer.cost("anth", "my-finetune", "mine", u) == (0.000351, False)
    # no cache prices given: cache tokens are charged at the input price
    # 12 x 1.1 + 9 x 2.2 + 100 x 1.1 + 40 x 1.1 = 13.2 + 19.8 + 110 + 44 = 187 per million
    assert pricer.cost("router", "some/model", "mine", u) == (0.000187, False)


def test_shipped_prices_by_the_names_providers_use(pricer: Pricer) -> None:
    u = Usage(100_000, 100_000, 0, 0)  # 0.1 M of each
    # dated Anthropic ids: $3 + $15
    assert pricer.cost("anth", "claude-sonnet-4-5-20250929", None, u) == (1.8, False)
    # OpenRouter mirrors the maker's price under "vendor/name.with.dots"
    assert pricer.cost("router", "anthropic/claude-sonnet-4.5", None, u) == (1.8, False)
    assert pricer.cost("router", "openai/gpt-4o-2024-08-06", None, u) == (1.25, False)
    assert pricer.cost("router", "google/gemini-2.5-flash-lite", None, u) == (0.05, False)
    assert pricer.cost("router", "deepseek/deepseek-chat", None, u) == (0.07, False)
    # "-preview" and variants after a known name
    assert pricer.cost("router", "gemini-3-pro-preview", None, u) == (1.4, False)
    assert pricer.cost("router", "gpt-5-codex", None, u) == (1.125, False)
    # the longest known name wins: gpt-4o-mini is not priced as gpt-4o
    assert pricer.cost("router", "gpt-4o-mini", None, u) == (0.075, False)


def test_hosts_use_their_own_prices_or_none(pricer: Pricer) -> None:
    u = Usage(100_000, 100_000, 0, 0)
    assert pricer.cost("groq", "openai/gpt-oss-120b", None, u) == (0.075, False)
    assert pricer.cost("groq", "llama-3.3-70b-versatile", None, u) == (0.138, False)
    # Groq serving a model it has no listed price for: not Moonshot's own price, but null
    assert pricer.cost("groq", "kimi-k2-thinking", None, u) == (None, False)


def test_unknown_model_costs_null_not_zero(pricer: Pricer) -> None:
    assert pricer.cost("anth", "claude-made-up-9", None, Usage(10, 10)) == (None, False)
    assert pricer.cost("anth", "claude-sonnet-4-5", None, Usage()) == (None, False)  # no usage
    assert pricer.cost(None, None, None, Usage(10, 10)) == (None, False)


def test_subscription_providers(pricer: Pricer) -> None:
    assert pricer.cost("max", "claude-sonnet-4-5", None, Usage(10, 10)) == (None, True)
    assert pricer.cost("kimi", "kimi-k2-thinking", None, Usage(10, 10)) == (None, True)


def test_long_context_tier() -> None:
    price = shipped_table().find("gemini", "gemini-2.5-pro")
    assert price is not None
    assert price.cost(Usage(200_000, 0)) == 0.25  # at the threshold: $1.25 / M
    assert price.cost(Usage(150_000, 1000, 60_000)) == pytest.approx(
        (150_000 * 2.5 + 1000 * 15 + 60_000 * 0.25) / 1e6
    )


def test_every_shipped_entry_names_its_source_and_date() -> None:
    import tomllib

    from ccm.ledger.prices import TABLE_PATH

    data = tomllib.loads(TABLE_PATH.read_text())
    entries = list(data["models"].items()) + [
        (k, v) for host in data["hosted"].values() for k, v in host.items()
    ]
    assert len(entries) > 40
    # a sonnet request past 200K input tokens is priced at the long-context rate
    long = shipped_table().find("anthropic", "claude-sonnet-4-5")
    assert long is not None and long.cost(Usage(1_000_000, 1_000_000)) == 28.5
    for name, entry in entries:
        assert entry["source"].startswith("https://"), name
        assert entry["as_of"][:2] == "20", name
        assert entry["input"] >= 0 and entry["output"] >= 0, name


def test_negative_price_is_a_config_error() -> None:
    from ccm.diagnostics import DiagnosticError

    bad = CONFIG.replace("input = 1.1", "input = -1")
    with pytest.raises(DiagnosticError) as e:
        parse_config(bad, Path("c.toml"))
    assert "price" in str(e.value)
