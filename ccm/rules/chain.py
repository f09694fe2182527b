"""Logical model name -> ordered provider chain (provider, actual model, priority).

A name resolves, in this order: a "provider,model" pair; a [[models]] entry (its mappings
by priority, file order breaking ties); the same case-insensitively; an alias ccm offers
Claude Code for a name it would not keep (`claude-ccm-<name>`, ccm.claude.catalogue); the
providers whose `models` list holds the name or a glob matching it (in config order).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ccm.claude.catalogue import aliases
from ccm.config.load import closest
from ccm.config.schema import Config, Mapping, ProviderConfig
from ccm.dialects.capabilities import UNKNOWN, Capabilities, capabilities


@dataclass(frozen=True, slots=True)
class ChainEntry:
    provider: str
    actual_model: str
    priority: int
    model: str  # the logical name this entry came from
    # the cap on the request's max_tokens: the mapping's, else the model's known output limit
    max_tokens: int | None = None
    caps: Capabilities = UNKNOWN  # what the model can do (ccm.dialects.capabilities)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "provider": self.provider,
            "actual_model": self.actual_model,
            "priority": self.priority,
            "model": self.model,
        }
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        out["capabilities"] = self.caps.to_json()
        return out


def entry(
    provider: ProviderConfig | None,
    provider_name: str,
    actual: str,
    priority: int,
    model: str,
    mapping: Mapping | None = None,
) -> ChainEntry:
    """A chain entry with its capabilities (the mapping's, else the model data's)."""
    caps = capabilities(provider, actual, mapping)
    return ChainEntry(provider_name, actual, priority, model, caps.max_output, caps)


@dataclass(frozen=True, slots=True)
class Resolution:
    chain: tuple[ChainEntry, ...]
    skipped: tuple[str, ...]  # why mappings were left out, for explain
    found: bool  # the name exists somewhere, even if every provider is disabled


class Resolver:
    """Resolves names against one config; results are memoised (the config is immutable)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._providers = {p.name: p for p in config.providers}
        self._models = {m.name: m for m in config.models}
        self._models_ci = {m.name.lower(): m for m in reversed(config.models)}
        self._cache: dict[str, Resolution] = {}
        # alias -> logical name; the router swaps an alias for its name before any rule
        self.aliases: dict[str, str] = aliases(config)

    def resolve(self, name: str) -> Resolution:
        cached = self._cache.get(name)
        if cached is None:
            cached = self._resolve(name)
            if len(self._cache) < 4096:  # captured names come from requests: bound the memo
                self._cache[name] = cached
        return cached

    def _enabled(self, provider: str) -> str | None:
        """None if usable, else why not."""
        p = self._providers.get(provider)
        if p is None:
            return f"provider {provider!r} is not configured"
        if not p.is_enabled:
            return f"provider {provider!r} is disabled"
        return None

    def _resolve(self, name: str) -> Resolution:
        if "," in name:
            provider, _, actual = name.partition(",")
            provider, actual = provider.strip(), actual.strip()
            why = self._enabled(provider)
            if why is None and actual:
                found = entry(self._providers.get(provider), provider, actual, 1, name)
                return Resolution((found,), (), True)
            return Resolution((), (why or "empty model in pair",), provider in self._providers)

        model = self._models.get(name) or self._models_ci.get(name.lower())
        if model is not None:
            chain: list[ChainEntry] = []
            skipped: list[str] = []
            for m in sorted(model.mappings, key=lambda m: m.priority):
                why = self._enabled(m.provider)
                if why is None:
                    provider = self._providers.get(m.provider)
                    chain.append(
                        entry(provider, m.provider, m.actual_model, m.priority, model.name, m)
                    )
                else:
                    skipped.append(f"{m.provider}/{m.actual_model}: {why}")
            return Resolution(tuple(chain), tuple(skipped), True)

        if name in self.aliases:  # before the globs: "claude-*" would match an alias too
            return self._resolve(self.aliases[name])
        chain = []
        skipped = []
        for p in self.config.providers:
            if any(n == name or fnmatch.fnmatchcase(name, n) for n in p.models):
                if p.is_enabled:
                    chain.append(entry(p, p.name, name, len(chain) + 1, name))
                else:
                    skipped.append(f"{p.name}/{name}: provider {p.name!r} is disabled")
        return Resolution(tuple(chain), tuple(skipped), bool(chain or skipped))

    def knows(self, name: str) -> bool:
        return self.resolve(name).found

    def suggest(self, name: str) -> str | None:
        """The known name closest to a misspelt one ("did you mean"), or None."""
        if "," in name:
            provider, _, actual = name.partition(",")
            close = closest(provider.strip(), list(self._providers))
            return f"{close},{actual.strip()}" if close else None
        names = [m.name for m in self.config.models]
        for p in self.config.providers:
            names.extend(n for n in p.models if not any(c in n for c in "*?["))
        return closest(name, [*names, *self.aliases])
