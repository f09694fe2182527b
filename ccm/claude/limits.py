"""Claude Code's context and output limits, from the model its main turn really goes to.

Claude Code sizes its auto-compaction and output for the Claude model it names (200K or 1M
tokens), not for the model ccm routes that name to: without help a conversation routed to a
128K model grows until the upstream refuses it. `ccm code` (and `ccm env`, `ccm setup claude`)
asks the router where a main turn goes, reads that chain's capability data
(ccm.dialects.capabilities: the smallest window and output limit of its entries, since the
chain fails over) and gives Claude Code these variables (read from Claude Code 2.1.197):

- CLAUDE_CODE_AUTO_COMPACT_WINDOW: the window compaction works against; Claude Code takes the
  smaller of it and its own idea of the model's window, and accepts 100K to 1M;
- CLAUDE_CODE_MAX_CONTEXT_TOKENS: the window Claude Code assumes for model names that do not
  start with `claude-` (slots such as `glm-4.6`);
- for a main model named `claude-*` (whose window Claude Code takes from its own table,
  200K or 1M): CLAUDE_CODE_BLOCKING_LIMIT_OVERRIDE under 200K (no request above window -
  output reserve - 3K, its own formula) and, under 100K, CLAUDE_AUTOCOMPACT_PCT_OVERRIDE
  (compaction where its formula puts it for that window: window - reserve - 13K);
- CLAUDE_CODE_MAX_OUTPUT_TOKENS: the chain's output limit (Claude Code asks this max_tokens).

Which main turn: the model `--model` names, else $ANTHROPIC_MODEL, else both the opus and the
sonnet slot (or Claude Code's defaults, claude-opus-4-8 and claude-sonnet-4-6), smallest
window. A rule sending large requests elsewhere (`route long when tokens > 60k`) is followed:
the chain that serves a conversation as large as the first chain's window decides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ccm.claude.launch import Var
from ccm.config.load import LoadedConfig
from ccm.rules.chain import ChainEntry
from ccm.rules.compile import Router
from ccm.rules.features import Features

# Claude Code 2.1.197: auto-compact window bounds, its reserve for output (at most 20K) and the
# margins below the window at which it compacts (13K) and refuses to send (3K)
MIN_WINDOW = 100_000
MAX_WINDOW = 1_000_000
RESERVE_CAP = 20_000
COMPACT_MARGIN = 13_000
BLOCK_MARGIN = 3_000
CLAUDE_SMALLEST = 200_000  # the window Claude Code assumes for a claude-* name it knows least
# Claude Code's own defaults for the slots (its model table)
DEFAULT_MAIN = {
    "opus": "claude-opus-4-8",
    "sonnet": "claude-sonnet-4-6",
    "haiku": "claude-haiku-4-5",
}
SLOT_ALIASES = ("opus", "sonnet", "haiku", "opusplan", "best")
LIMIT_VARS = (
    "CLAUDE_CODE_AUTO_COMPACT_WINDOW",
    "CLAUDE_CODE_MAX_CONTEXT_TOKENS",
    "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE",
    "CLAUDE_CODE_BLOCKING_LIMIT_OVERRIDE",
    "CLAUDE_CODE_MAX_OUTPUT_TOKENS",
)


@dataclass(frozen=True, slots=True)
class Limits:
    window: int | None  # tokens the target reads (the smallest of its chain)
    max_output: int | None  # tokens it writes in one answer
    target: str  # what the main turn routes to (logical name), for messages
    asked: str  # the Claude Code model name that was routed

    @property
    def claude_named(self) -> bool:
        """Claude Code sizes a `claude-*` name from its own table, not from
        CLAUDE_CODE_MAX_CONTEXT_TOKENS."""
        return self.asked.lower().startswith("claude-")


def _main_turn(model: str) -> dict[str, object]:
    """A Claude Code main turn as rules see it (2.1: adaptive thinking, tools, 64000)."""
    return {
        "model": model,
        "max_tokens": 64_000,
        "stream": True,
        "thinking": {"type": "adaptive"},
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }


def _route(router: Router, model: str, tokens: int | None) -> tuple[str, tuple[ChainEntry, ...]]:
    f = Features(_main_turn(model))
    if tokens is not None:
        f.__dict__["tokens"] = tokens  # a conversation this large (the feature is cached)
    decision = router.route_features(f)
    return decision.model, decision.chain


def _smallest(values: Sequence[int | None]) -> int | None:
    known = [v for v in values if isinstance(v, int) and v > 0]
    return min(known) if known else None


def limits_for(router: Router, model: str) -> Limits:
    """Where a main turn naming `model` goes, and the limits of that chain."""
    target, chain = _route(router, model, None)
    window = _smallest([e.caps.context_window for e in chain])
    if window is not None:  # a conversation near that window may go elsewhere (long context)
        big_target, big_chain = _route(router, model, window)
        if big_chain and big_chain != chain:
            target, chain = big_target, big_chain
            window = _smallest([e.caps.context_window for e in chain])
    return Limits(window, _smallest([e.caps.max_output for e in chain]), target, model)


def asked_models(
    loaded: LoadedConfig, args: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> list[str]:
    """The model names Claude Code may give its main turn in this run."""
    environ = os.environ if environ is None else environ
    slots = loaded.config.claude_code
    chosen = _model_arg(args) or environ.get("ANTHROPIC_MODEL") or ""
    if chosen and chosen.lower() not in SLOT_ALIASES:
        return [chosen]
    opus = slots.opus or DEFAULT_MAIN["opus"]
    sonnet = slots.sonnet or DEFAULT_MAIN["sonnet"]
    picked = {"opus": [opus], "sonnet": [sonnet], "haiku": [slots.haiku or DEFAULT_MAIN["haiku"]]}
    return picked.get(chosen.lower(), [opus, sonnet])


def _model_arg(args: Sequence[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg == "--model" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--model="):
            return arg.partition("=")[2]
    return None


def main_limits(router: Router, models: Sequence[str]) -> Limits | None:
    """The tightest limits over the main-turn candidates; None when nothing is known."""
    found = [limits_for(router, m) for m in models]
    windowed = [lim for lim in found if lim.window]
    if not windowed and not any(lim.max_output for lim in found):
        return None
    tight = min(windowed, key=lambda lim: lim.window or 0) if windowed else found[0]
    return Limits(
        tight.window, _smallest([lim.max_output for lim in found]), tight.target, tight.asked
    )


def limit_vars(limits: Limits | None) -> list[Var]:
    """The variables that size Claude Code for `limits`."""
    if limits is None:
        return []
    out: list[Var] = []
    window, output = limits.window, limits.max_output
    if window:
        clamped = min(max(window, MIN_WINDOW), MAX_WINDOW)
        out.append(Var("CLAUDE_CODE_AUTO_COMPACT_WINDOW", str(clamped)))
        out.append(Var("CLAUDE_CODE_MAX_CONTEXT_TOKENS", str(window)))
        reserve = min(output or RESERVE_CAP, RESERVE_CAP)
        if limits.claude_named and window < CLAUDE_SMALLEST:
            blocking = max(window - reserve - BLOCK_MARGIN, 1)
            out.append(Var("CLAUDE_CODE_BLOCKING_LIMIT_OVERRIDE", str(blocking)))
        if limits.claude_named and window < MIN_WINDOW:
            effective = clamped - reserve  # the window Claude Code then compacts against
            wanted = max(window - reserve - COMPACT_MARGIN, 1)
            pct = max(int(wanted * 10_000 / effective) / 100, 0.01)
            out.append(Var("CLAUDE_AUTOCOMPACT_PCT_OVERRIDE", f"{pct:g}"))
    if output:
        out.append(Var("CLAUDE_CODE_MAX_OUTPUT_TOKENS", str(output)))
    return out


def claude_limit_vars(
    loaded: LoadedConfig,
    args: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> tuple[list[Var], Limits | None]:
    """The limit variables for this config (none the user set in `environ` already), and the
    limits they came from. A config whose rules do not compile gives none."""
    from ccm.diagnostics import DiagnosticError
    from ccm.rules.load import build_router

    environ = os.environ if environ is None else environ
    try:
        router = build_router(loaded)
    except DiagnosticError:
        return [], None
    limits = main_limits(router, asked_models(loaded, args, environ))
    return [v for v in limit_vars(limits) if v.name not in environ], limits


def claude_code_vars(
    loaded: LoadedConfig,
    url: str,
    args: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> list[Var]:
    """Everything `ccm code`, `ccm env` and `ccm setup claude` give Claude Code: the base URL,
    credential, discovery and slot variables (ccm.claude.launch), then the limit variables."""
    from ccm.claude.launch import client_vars

    return client_vars(loaded.config, url) + claude_limit_vars(loaded, args, environ)[0]


__all__ = [
    "LIMIT_VARS",
    "Limits",
    "claude_code_vars",
    "claude_limit_vars",
    "limit_vars",
    "limits_for",
    "main_limits",
]
