"""`ccm check`'s question beyond syntax: can this config route anything, and does every
model and rule target reach at least one provider that can be used right now?

A provider is unusable when it is disabled, or when it signs in with an API key that is
missing or is a `$VAR` reference to an unset variable (OAuth providers are taken as usable).
Errors: a mapping to an unknown provider; a rule's literal target (a [router] slot included)
whose every provider is unusable; no usable provider at all. A [[models]] entry no provider can
serve is a warning (a client may still name it). Each names the line to fix.
"""

from __future__ import annotations

import os

from ccm.config.load import LoadedConfig, did_you_mean, env_reference
from ccm.config.schema import ProviderConfig
from ccm.diagnostics import Diagnostic, at
from ccm.dialects import registry
from ccm.rules.compile import Router
from ccm.rules.load import relocate


def unusable(p: ProviderConfig) -> str | None:
    """Why requests to `p` cannot succeed now, or None."""
    if not p.is_enabled:
        return f"provider {p.name!r} is disabled"
    if p.auth_type != "apikey":
        return None
    preset = registry.preset(p.provider_type)
    if preset is not None and not preset.needs_key:
        return None
    refs = [r for r in (p.api_key, *p.api_keys) if r]
    if not refs:
        return f"provider {p.name!r} has no api_key"
    unset = [v for r in refs if (v := env_reference(r)) and not os.environ.get(v)]
    if len(unset) == len(refs):  # a pool serves while one of its keys is set
        return f"provider {p.name!r}: ${unset[0]} is not set"
    return None


def routing_problems(loaded: LoadedConfig, router: Router) -> list[Diagnostic]:
    cfg = loaded.config
    path, source = str(loaded.path), loaded.source
    out: list[Diagnostic] = []
    providers = {p.name: p for p in cfg.providers}
    why = {p.name: unusable(p) for p in cfg.providers}

    def diag(line: int, message: str, severity: str = "error") -> Diagnostic:
        return at(path, source, line, 1 if line else 0, message, severity)

    for i, m in enumerate(cfg.models):
        reasons: list[str] = []
        for j, mp in enumerate(m.mappings):
            if mp.provider not in providers:
                out.append(
                    diag(
                        loaded.line("models", i, "mappings", j, "provider"),
                        f"model {m.name!r}: mapping names unknown provider {mp.provider!r}"
                        + did_you_mean(mp.provider, list(providers)),
                    )
                )
                reasons.append(f"{mp.provider!r} is not configured")
            elif why[mp.provider]:
                reasons.append(str(why[mp.provider]))
        if m.mappings and len(reasons) == len(m.mappings):
            out.append(
                diag(
                    loaded.line("models", i, "name"),
                    f"model {m.name!r} cannot be served: " + "; ".join(reasons),
                    "warning",
                )
            )

    rules = router.rules_file
    rule_diags: list[Diagnostic] = []
    for cr in [*router.routes, *([router.default] if router.default else [])]:
        for name, (chain, _skipped) in cr.static.items():
            if not chain:
                continue  # a disabled or unknown provider: reported above or by the rules check
            blocked = [why[e.provider] for e in chain if why.get(e.provider)]
            if len(blocked) == len(chain):
                span = cr.node.span
                rule_diags.append(
                    at(
                        rules.path,
                        rules.source,
                        span.line,
                        span.column,
                        f"{cr.name} -> {name!r}: no provider can serve it: "
                        + "; ".join(dict.fromkeys(str(b) for b in blocked)),
                        width=span.end_pos - span.start_pos if span.end_line == span.line else 1,
                    )
                )
    out.extend(relocate(rule_diags, rules, loaded))

    if cfg.providers and all(why.values()):
        first = next(i for i, p in enumerate(cfg.providers) if why[p.name])
        out.append(
            diag(
                loaded.line("providers", first, "api_key") or loaded.line("providers", first),
                "nothing can be routed: no provider can be used ("
                + "; ".join(str(w) for w in why.values())
                + "). Set the key's variable, or add a provider with a key (README: add a provider)",
            )
        )
    elif not cfg.providers:
        out.append(diag(0, "nothing can be routed: the config has no [[providers]]"))
    return out


def claude_code_problems(loaded: LoadedConfig, router: Router) -> list[Diagnostic]:
    """[claude_code] slots that name nothing ccm routes (warnings: Claude Code would get a 404
    for that slot, everything else works)."""
    out: list[Diagnostic] = []
    resolver = router.resolver
    for slot in ("opus", "sonnet", "haiku", "subagent"):
        name = getattr(loaded.config.claude_code, slot)
        if not name or resolver.knows(name):
            continue
        close = resolver.suggest(name)
        hint = f'; did you mean "{close}"?' if close else ""
        line = loaded.line("claude_code", slot)
        out.append(
            at(
                str(loaded.path),
                loaded.source,
                line,
                1 if line else 0,
                f"[claude_code] {slot}: {name!r} names no model ccm routes{hint}",
                "warning",
            )
        )
    return out
