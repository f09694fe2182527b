"""`ccm check` beyond syntax: exit 1 when the config cannot route (keys unset with no other
provider in the chain, a mapping to an unknown provider), "did you mean" for misspelt keys,
providers and models, [router] errors at the TOML line the user wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ccm.config.load import BUILTIN_DEFAULT
from tests.proxy_setup import model_toml, provider

PROVIDERS = (
    provider("zai", "z.ai", api_key="$CCM_T_ZAI")
    + provider("openrouter", "openrouter", api_key="$CCM_T_OR")
    + model_toml("glm-4.6", ("zai", "glm-4.6"), ("openrouter", "z-ai/glm-4.6"))
    + model_toml("glm-4.5-air", ("zai", "glm-4.5-air"))
)


def check(tmp_path: Path, text: str, **env: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    base = {k: v for k, v in os.environ.items() if not k.startswith("CCM_T_")}
    base.pop("ANTHROPIC_API_KEY", None)
    base.pop("CCM_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "ccm.cli", "check", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "HOME": str(tmp_path), **env},
    )


def test_default_config_without_its_key_cannot_route(tmp_path: Path) -> None:
    out = check(tmp_path, BUILTIN_DEFAULT)
    assert out.returncode == 1
    line = BUILTIN_DEFAULT.splitlines().index('api_key = "$ANTHROPIC_API_KEY"') + 1
    assert f"config.toml:{line}:1: error: nothing can be routed" in out.stderr
    assert "$ANTHROPIC_API_KEY is not set" in out.stderr
    ok = check(tmp_path, BUILTIN_DEFAULT, ANTHROPIC_API_KEY="sk-ant-x")
    assert ok.returncode == 0, ok.stderr
    assert "ok:" in ok.stdout


def test_an_unset_key_with_another_provider_in_the_chain_is_a_warning(tmp_path: Path) -> None:
    out = check(tmp_path, PROVIDERS + '\n[router]\ndefault = "glm-4.6"\n', CCM_T_OR="k")
    assert out.returncode == 0, out.stderr
    assert "warning: provider 'zai': environment variable $CCM_T_ZAI is not set" in out.stderr
    assert "warning: model 'glm-4.5-air' cannot be served: provider 'zai'" in out.stderr
    # a rule sends traffic to glm-4.5-air, which has only zai: that cannot work
    bad = check(tmp_path, PROVIDERS + '\n[router]\nbackground = "glm-4.5-air"\n', CCM_T_OR="k")
    assert bad.returncode == 1
    line = (PROVIDERS + "\n[router]\n").count("\n") + 1
    assert (
        f"config.toml:{line}:14: error: [router] background: background -> 'glm-4.5-air': "
        "no provider can serve it: provider 'zai': $CCM_T_ZAI is not set" in bad.stderr
    )


def test_router_slot_error_points_at_the_toml_line_with_a_suggestion(tmp_path: Path) -> None:
    text = '[router]\ndefault = "glm-4.6"\nthink = "glm-4.5-aír"\n' + PROVIDERS
    out = check(tmp_path, text, CCM_T_ZAI="k", CCM_T_OR="k")
    assert out.returncode == 1
    assert (
        'config.toml:3:9: error: [router] think: target "glm-4.5-aír" names no [[models]] entry'
        in out.stderr
    )
    assert 'did you mean "glm-4.5-air"?' in out.stderr
    assert '    think = "glm-4.5-aír"\n            ^^^^^^^^^^^^^' in out.stderr


def test_mapping_to_an_unknown_provider_fails_with_a_suggestion(tmp_path: Path) -> None:
    text = PROVIDERS.replace('provider = "openrouter"', 'provider = "openrouterr"')
    out = check(tmp_path, text, CCM_T_ZAI="k", CCM_T_OR="k")
    assert out.returncode == 1
    assert (
        "error: model 'glm-4.6': mapping names unknown provider 'openrouterr'; "
        "did you mean `openrouter`?" in out.stderr
    )
    assert "warning: model 'glm-4.6': mapping names unknown" not in out.stderr  # once, as error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server]\nprot = 1\n", "unknown key `server.prot` (ignored); did you mean `port`?"),
        ("[routr]\ndefault = 'x'\n", "unknown key `routr` (ignored); did you mean `router`?"),
        (
            "[claude_code]\nsonet = 'glm-4.6'\n",
            "unknown key `claude_code.sonet` (ignored); did you mean `sonnet`?",
        ),
        (
            "[claude_code]\nsonnet = 'glm-4.7'\n",
            "warning: [claude_code] sonnet: 'glm-4.7' names no model ccm routes; did you mean \"glm-4.6\"?",
        ),
    ],
)
def test_did_you_mean_warnings(tmp_path: Path, text: str, expected: str) -> None:
    out = check(tmp_path, text + PROVIDERS, CCM_T_ZAI="k", CCM_T_OR="k")
    assert expected in out.stderr, out.stderr
    assert out.returncode == 0, out.stderr


def test_unknown_provider_type_suggests(tmp_path: Path) -> None:
    text = PROVIDERS.replace('provider_type = "openrouter"', 'provider_type = "open-router"')
    out = check(tmp_path, text, CCM_T_ZAI="k", CCM_T_OR="k")
    assert out.returncode == 1
    assert "unknown provider_type 'open-router'; did you mean `openrouter`?" in out.stderr


def test_rules_file_target_suggestion_and_unservable_rule(tmp_path: Path) -> None:
    (tmp_path / "r.rules").write_text(
        'route bg when title to "glm-4.5-air"\nroute x when thinking to "glm-46"\ndefault to model\n'
    )
    text = '[router]\nrules = "r.rules"\n' + PROVIDERS
    out = check(tmp_path, text, CCM_T_ZAI="k", CCM_T_OR="k")
    assert 'r.rules:2:26: error: target "glm-46" names no' in out.stderr
    assert 'did you mean "glm-4.6"?' in out.stderr
    (tmp_path / "r.rules").write_text('route bg when title to "glm-4.5-air"\ndefault to model\n')
    out = check(tmp_path, text, CCM_T_OR="k")
    assert out.returncode == 1
    assert "r.rules:1:1: error: bg -> 'glm-4.5-air': no provider can serve it" in out.stderr
