"""Config -> Router: the rules file `[router] rules` names, or the rules [router] implies."""

from __future__ import annotations

from ccm.config.load import LoadedConfig
from ccm.diagnostics import Diagnostic, DiagnosticError, at
from ccm.rules.ast import RulesFile
from ccm.rules.chain import Resolver
from ccm.rules.compile import Router, compile_rules
from ccm.rules.from_toml import rules_from_router
from ccm.rules.parse import parse_rules


def rules_for(loaded: LoadedConfig) -> RulesFile:
    """Parse the rules that govern this config. Raises DiagnosticError."""
    path = loaded.rules_path()
    if path is None:
        text, origins = rules_from_router(loaded)
        parsed = parse_rules(text, f"{loaded.path} [router]")
        return RulesFile(parsed.path, parsed.source, parsed.statements, origins)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        line = loaded.line("router", "rules")
        raise DiagnosticError(
            [
                Diagnostic(
                    str(loaded.path), line, 1 if line else 0, f"cannot read rules file {path}: {e}"
                )
            ]
        ) from None
    return parse_rules(text, str(path))


def build_router(loaded: LoadedConfig) -> Router:
    """Parse, check and compile. Raises DiagnosticError with every error found; problems in
    the rules [router] implies point at the TOML line that implied them."""
    rules = rules_for(loaded)
    try:
        router = compile_rules(rules, Resolver(loaded.config))
    except DiagnosticError as e:
        raise DiagnosticError(relocate(e.diagnostics, rules, loaded)) from None
    router.warnings = relocate(router.warnings, rules, loaded)
    return router


def relocate(diags: list[Diagnostic], rules: RulesFile, loaded: LoadedConfig) -> list[Diagnostic]:
    """Diagnostics about generated rules, moved to the [router] key in config.toml that
    implied the rule, with the caret under its value."""
    if not rules.origins:
        return diags
    lines = loaded.source.splitlines()
    out: list[Diagnostic] = []
    for d in diags:
        origin = rules.origins.get(d.line) if d.path == rules.path else None
        if origin is None:
            out.append(d)
            continue
        message = f"[router] {origin.key}: {d.message}"
        text = lines[origin.line - 1] if 0 < origin.line <= len(lines) else ""
        eq = text.find("=")
        start = text.find('"', eq) if eq >= 0 else -1
        if start >= 0:
            end = text.find('"', start + 1)
            width = end - start + 1 if end > start else 1
            out.append(
                at(origin.path, loaded.source, origin.line, start + 1, message, d.severity, width)
            )
        else:
            out.append(
                at(
                    origin.path,
                    loaded.source,
                    origin.line,
                    1 if origin.line else 0,
                    message,
                    d.severity,
                )
            )
    return out
