"""[router] in config.toml -> the rules text it implies, in claude-code-mux's order.

auto-map rewrite first; then websearch > subagent tag > think > long_context > image >
background (on the ORIGINAL model) > default. Two changes make the slots classify Claude Code
2.1's traffic as a user means them: plan mode goes to `think` (2.1 no longer enables
thinking for it), its title/summary calls (which carry the main model's name) go to
`background`, and a background-model request with thinking enabled is background, not think. Each generated line remembers the TOML key
that implied it, so `ccm explain` can point at config.toml rather than at generated text.
"""

from __future__ import annotations

import json
import re

from ccm.config.load import LoadedConfig
from ccm.rules.ast import Origin

DEFAULT_AUTO_MAP = "^claude-"
DEFAULT_BACKGROUND = "(?i)claude.*haiku"
SUBAGENT_TAG = r"<CCM-SUBAGENT-MODEL>\s*(?P<name>[^<]+?)\s*</CCM-SUBAGENT-MODEL>"


def regex_literal(pattern: str) -> str:
    """A Python regex as a /literal/ of the rule language (slashes escaped)."""
    return "/" + re.sub(r"(?<!\\)((?:\\\\)*)/", r"\1\\/", pattern) + "/"


def _q(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def rules_from_router(loaded: LoadedConfig) -> tuple[str, dict[int, Origin]]:
    """The rules text [router] implies, and each generated line's origin in the TOML."""
    r = loaded.config.router
    path = str(loaded.path)
    lines: list[str] = [f"# generated from [router] in {path}"]
    origins: dict[int, Origin] = {}

    def add(text: str, key: str) -> None:
        lines.append(text)
        origins[len(lines)] = Origin(path, loaded.line("router", key) or loaded.line("router"), key)

    if r.default:
        auto_map = r.auto_map_regex or DEFAULT_AUTO_MAP
        add(
            f"rewrite when model ~ {regex_literal(auto_map)} to {_q(r.default)}",
            "auto_map_regex" if r.auto_map_regex else "default",
        )
    if r.websearch:
        add(f"route websearch when tools.type ~ /^web_search/ to {_q(r.websearch)}", "websearch")
    add(
        f"route subagent when system ~ {regex_literal(SUBAGENT_TAG)} strip to $name", "subagent tag"
    )
    bg = regex_literal(r.background_regex or DEFAULT_BACKGROUND)
    if r.think:
        cond = 'thinking.type == "enabled"'
        if r.background:  # a haiku call that thinks is still background work
            cond = f"({cond} and original_model !~ {bg})"
        # Claude Code 2.1 plan mode sends the same adaptive thinking as every turn
        add(f"route think when {cond} or plan_mode to {_q(r.think)}", "think")
    if r.long_context:
        add(
            f"route long_context when tokens > {r.long_context_threshold} to {_q(r.long_context)}",
            "long_context",
        )
    if r.image:
        add(f"route image when image to {_q(r.image)}", "image")
    if r.background:
        add(
            f"route background when original_model ~ {bg} or title to {_q(r.background)}",
            "background",
        )
    add("default to model", "(model name as it is)")
    return "\n".join(lines) + "\n", origins
