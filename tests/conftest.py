from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ccm.config.load import parse_config
from ccm.rules.compile import Router
from ccm.rules.load import build_router
from tests.proxy_setup import model_toml, provider

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# providers and models the routing tests route to (claude-code-mux README names)
MODELS_TOML = (
    provider("zai", "z.ai", api_key="sk-zai")
    + provider("openrouter", "openrouter", api_key="sk-or")
    + provider("minimax", "minimax", api_key="sk-mm")
    + provider("off", "openai", api_key="sk-off", enabled=False)
    + model_toml("minimax-m2", ("minimax", "MiniMax-M2"))
    + model_toml("glm-4.6", ("zai", "glm-4.6"), ("openrouter", "z-ai/glm-4.6"))
    + model_toml("glm-4.5-air", ("zai", "glm-4.5-air"))
    + model_toml(
        "kimi-k2-thinking", ("off", "kimi-off"), ("openrouter", "moonshotai/kimi-k2-thinking")
    )
    + model_toml("gemini-2.5-pro", ("openrouter", "google/gemini-2.5-pro"))
)

ROUTER_TOML = """
[router]
default = "minimax-m2"
think = "kimi-k2-thinking"
background = "glm-4.5-air"
websearch = "glm-4.6"
auto_map_regex = "^claude-"
background_regex = "(?i)claude.*haiku"
"""

RouterFactory = Callable[..., Router]


@pytest.fixture
def make_router(tmp_path: Path) -> RouterFactory:
    """Router from a [router] TOML section, or from rules text (written to a .rules file)."""

    def factory(
        router_toml: str = ROUTER_TOML, rules: str | None = None, models: str = MODELS_TOML
    ) -> Router:
        cfg = tmp_path / "config.toml"
        text = models
        if rules is not None:
            (tmp_path / "test.rules").write_text(rules)
            text = '[router]\nrules = "test.rules"\n' + models
        else:
            text = router_toml + models
        cfg.write_text(text)
        return build_router(parse_config(text, cfg))

    return factory
