"""Config -> Router: the rules file `[router] rules` names, or the rules [router] implies."""

from __future__ import annotations

from ccm.config.load import LoadedConfig
from ccm.diagnostics import Diagnostic, DiagnosticError
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
    """Parse, check and compile. Raises DiagnosticError with every error found."""
    return compile_rules(rules_for(loaded), Resolver(loaded.config))
