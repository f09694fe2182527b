"""The models ccm offers its clients, as Claude Code's model discovery wants them.

Claude Code 2.1 (with `CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1`) asks `GET /v1/models
?limit=1000` and keeps only ids matching `/^(claude|anthropic)/i`, so a logical model called
`glm-4.6` would never reach its `/model` picker. Each such name is also offered under an alias
it keeps, `claude-ccm-<name>` (display name: the real name), and the router maps the alias
back before any rule runs (`aliases()` is what it uses).

The Claude ids offered for `claude-*` pass-through are preset data: the current models of
Claude Code 2.1.197's own table (id, display name, context window), refreshed with ccm.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from ccm.config.schema import Config

ALIAS_PREFIX = "claude-ccm-"
_KEPT = re.compile(r"^(claude|anthropic)", re.IGNORECASE)  # Claude Code's own filter


@dataclass(frozen=True, slots=True)
class ClaudeModel:
    id: str
    display_name: str
    context_window: int


# Claude Code 2.1.197's model table (newest first within a family)
CLAUDE_MODELS: tuple[ClaudeModel, ...] = (
    ClaudeModel("claude-opus-4-8", "Opus 4.8", 1_000_000),
    ClaudeModel("claude-opus-4-7", "Opus 4.7", 1_000_000),
    ClaudeModel("claude-opus-4-6", "Opus 4.6", 200_000),
    ClaudeModel("claude-opus-4-5", "Opus 4.5", 200_000),
    ClaudeModel("claude-opus-4-1", "Opus 4.1", 200_000),
    ClaudeModel("claude-sonnet-5", "Sonnet 5", 1_000_000),
    ClaudeModel("claude-sonnet-4-6", "Sonnet 4.6", 200_000),
    ClaudeModel("claude-sonnet-4-5", "Sonnet 4.5", 200_000),
    ClaudeModel("claude-haiku-4-5", "Haiku 4.5", 200_000),
    ClaudeModel("claude-fable-5", "Fable 5", 1_000_000),
)
_BY_ID = {m.id: m for m in CLAUDE_MODELS}


def kept_by_claude_code(model_id: str) -> bool:
    return bool(_KEPT.match(model_id))


def alias_for(name: str) -> str:
    return ALIAS_PREFIX + name


@dataclass(frozen=True, slots=True)
class Offered:
    """One entry of /v1/models: `id` routes to `target` (itself, or the aliased name)."""

    id: str
    display_name: str
    target: str

    @property
    def is_alias(self) -> bool:
        return self.id != self.target


def _globs(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def offered_models(config: Config) -> list[Offered]:
    """Every model a client may name, in config order, each alias right after its model:
    [[models]] names, the explicit names in enabled providers' `models`, and the preset
    Claude ids their globs match (`claude-*` pass-through)."""
    names: dict[str, str] = {}  # id -> display name
    for m in config.models:
        names.setdefault(m.name, m.name)
    for p in config.providers:
        if not p.is_enabled:
            continue
        for pattern in p.models:
            if not _globs(pattern):
                names.setdefault(pattern, pattern)
                continue
            for cm in CLAUDE_MODELS:
                if fnmatch.fnmatchcase(cm.id, pattern):
                    names.setdefault(cm.id, cm.display_name)
    out: list[Offered] = []
    for name, display in names.items():
        out.append(Offered(name, display, name))
        alias = alias_for(name)
        if not kept_by_claude_code(name) and alias not in names:
            out.append(Offered(alias, name, name))
    return out


def aliases(config: Config) -> dict[str, str]:
    """alias -> the logical name it stands for."""
    return {o.id: o.target for o in offered_models(config) if o.is_alias}


def claude_model(model_id: str) -> ClaudeModel | None:
    return _BY_ID.get(model_id)
