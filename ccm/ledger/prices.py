"""What a request cost: the shipped price table (prices.toml) or a mapping's own `price`.

Cost is null, never 0, when no price is known; a subscription provider (auth_type "oauth", or
a subscription-only type such as kimi-coding) gets cost null and the subscription flag, since
its requests are not billed per token. Figures are USD per million tokens, kept as integer
pico-dollars per token, so a hand-worked figure comes out exactly.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from ccm.ledger.usage import Usage

TABLE_PATH = Path(__file__).with_name("prices.toml")
MILLION = Decimal(1_000_000)
PICO = 10**12
# provider types that set their own prices for open models: only [hosted.<type>] applies there
HOSTS = frozenset(
    {
        "groq",
        "together",
        "fireworks",
        "deepinfra",
        "cerebras",
        "novita",
        "baseten",
        "nebius",
        "ollama",
    }
)
SUBSCRIPTION_TYPES = frozenset({"kimi-coding"})
_DATE = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")
_TAG = re.compile(r"-(?:preview|latest|exp)$")


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-token prices in pico-dollars (USD per million tokens x 10^6): integers for any
    price with up to six decimals, so sums are exact and one division gives the nearest
    float to the true cost."""

    input: int | None
    output: int | None
    cache_read: int | None
    cache_write: int | None


@dataclass(frozen=True, slots=True)
class Price:
    rates: Rates
    long_above: int | None = None  # input tokens (all kinds) past which `long` applies
    long: Rates | None = None
    source: str = ""  # where the figures came from ("config" for a mapping's price)

    def cost(self, u: Usage) -> float | None:
        """USD for one request's usage; None if a kind of token it used has no price."""
        inp, out = u.input_tokens or 0, u.output_tokens or 0
        cr, cw = u.cache_read_input_tokens or 0, u.cache_creation_input_tokens or 0
        r = self.rates
        if (
            self.long is not None
            and self.long_above is not None
            and inp + cr + cw > self.long_above
        ):
            r = self.long
        total = 0
        for tokens, rate in (
            (inp, r.input),
            (out, r.output),
            (cr, r.cache_read if r.cache_read is not None else r.input),
            (cw, r.cache_write if r.cache_write is not None else r.input),
        ):
            if not tokens:
                continue
            if rate is None:
                return None
            total += rate * tokens
        return total / PICO


def _pico(value: Any) -> int | None:
    """USD per million tokens -> pico-dollars per token (exact through Decimal)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int((Decimal(str(value)) * MILLION).to_integral_value())


def _rates(entry: Any) -> Rates:
    get = entry.get if isinstance(entry, dict) else lambda k: getattr(entry, k, None)
    return Rates(
        _pico(get("input")),
        _pico(get("output")),
        _pico(get("cache_read")),
        _pico(get("cache_write")),
    )


def _price(entry: dict[str, Any]) -> Price:
    long = entry.get("long")
    return Price(
        _rates(entry),
        int(long["above"]) if isinstance(long, dict) and "above" in long else None,
        _rates(long) if isinstance(long, dict) else None,
        str(entry.get("source", "")),
    )


def normalize(name: str) -> str:
    return name.strip().lower().replace(".", "-")


@dataclass(frozen=True)
class Table:
    models: dict[str, Price]
    hosted: dict[str, dict[str, Price]]

    @staticmethod
    def parse(data: dict[str, Any]) -> Table:
        models = {normalize(k): _price(v) for k, v in data.get("models", {}).items()}
        hosted = {
            ptype: {normalize(k): _price(v) for k, v in entries.items()}
            for ptype, entries in data.get("hosted", {}).items()
        }
        return Table(models, hosted)

    def find(self, provider_type: str, model: str) -> Price | None:
        hosted = self.hosted.get(provider_type)
        if hosted:
            found = _lookup(hosted, model)
            if found is not None:
                return found
        if provider_type in HOSTS:
            return None
        return _lookup(self.models, model)


def _candidates(model: str) -> list[str]:
    full = normalize(model)
    names = [full]
    if "/" in full:
        names.append(full.rsplit("/", 1)[1])
    out: list[str] = []
    for n in names:
        out.append(n)
        bare = _TAG.sub("", _DATE.sub("", n))
        bare = _DATE.sub("", _TAG.sub("", bare))
        if bare != n:
            out.append(bare)
    return out


def _lookup(table: dict[str, Price], model: str) -> Price | None:
    names = _candidates(model)
    for n in names:
        if n in table:
            return table[n]
    best: str | None = None
    for n in names:
        for key in table:
            if n.startswith(key + "-") and (best is None or len(key) > len(best)):
                best = key
    return table[best] if best is not None else None


@cache
def shipped_table() -> Table:
    with TABLE_PATH.open("rb") as f:
        return Table.parse(tomllib.load(f))


class Pricer:
    """Prices for one config: mapping overrides first, then the shipped table. Memoised."""

    def __init__(self, config: Any, table: Table | None = None) -> None:
        self.table = table or shipped_table()
        self._types: dict[str, str] = {}
        self._subscription: set[str] = set()
        for p in getattr(config, "providers", []):
            self._types[p.name] = p.provider_type
            if p.auth_type == "oauth" or p.provider_type in SUBSCRIPTION_TYPES:
                self._subscription.add(p.name)
        self._exact: dict[tuple[str, str, str], Price] = {}
        self._pair: dict[tuple[str, str], Price] = {}
        for m in getattr(config, "models", []):
            for mp in m.mappings:
                if mp.price is None:
                    continue
                price = Price(_rates(mp.price), source="config")
                self._exact[(m.name, mp.provider, mp.actual_model)] = price
                self._pair.setdefault((mp.provider, mp.actual_model), price)
        self._memo: dict[tuple[str, str, str | None], Price | None] = {}

    def subscription(self, provider: str | None) -> bool:
        return provider in self._subscription

    def price(self, provider: str, actual_model: str, model: str | None = None) -> Price | None:
        key = (provider, actual_model, model)
        if key in self._memo:
            return self._memo[key]
        found = (self._exact.get((model, provider, actual_model)) if model else None) or (
            self._pair.get((provider, actual_model))
        )
        if found is None:
            found = self.table.find(self._types.get(provider, ""), actual_model)
        if len(self._memo) < 4096:
            self._memo[key] = found
        return found

    def cost(
        self, provider: str | None, actual_model: str | None, model: str | None, usage: Usage
    ) -> tuple[float | None, bool]:
        """(cost in USD or None, subscription?) for one answered request."""
        if not provider or not actual_model or not usage.known:
            return None, self.subscription(provider)
        price = self.price(provider, actual_model, model)
        if self.subscription(provider) and (price is None or price.source != "config"):
            return None, True  # not billed per token, unless the config gives a price
        return (price.cost(usage) if price is not None else None), self.subscription(provider)
