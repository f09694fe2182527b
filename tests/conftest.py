from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ccm.config.load import parse_config
from ccm.rules.compile import Router
from ccm.rules.load import build_router

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# providers and models the routing tests route to (claude-code-mux README names)
MODELS_TOML = """
[[providers]]
name = "zai"
provider_type = "z.ai"
api_key = "sk-zai"

[[providers]]
name = "openrouter"
provider_type = "openrouter"
api_key = "sk-or"

[[providers]]
name = "minimax"
provider_type = "minimax"
api_key = "sk-mm"

[[providers]]
name = "off"
provider_type = "openai"
api_key = "sk-off"
enabled = false

[[models]]
name = "minimax-m2"
[[models.mappings]]
provider = "minimax"
actual_model = "MiniMax-M2"
priority = 1

[[models]]
name = "glm-4.6"
[[models.mappings]]
provider = "openrouter"
actual_model = "z-ai/glm-4.6"
priority = 2
[[models.mappings]]
provider = "zai"
actual_model = "glm-4.6"
priority = 1

[[models]]
name = "glm-4.5-air"
[[models.mappings]]
provider = "zai"
actual_model = "glm-4.5-air"
priority = 1

[[models]]
name = "kimi-k2-thinking"
[[models.mappings]]
provider = "off"
actual_model = "kimi-off"
priority = 1
[[models.mappings]]
provider = "openrouter"
actual_model = "moonshotai/kimi-k2-thinking"
priority = 2

[[models]]
name = "gemini-2.5-pro"
[[models.mappings]]
provider = "openrouter"
actual_model = "google/gemini-2.5-pro"
priority = 1
"""

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
