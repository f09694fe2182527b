"""Configs that point ccm at fake upstreams, for the proxy tests."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.upstream import FakeUpstream


def provider_toml(name: str, up: FakeUpstream, *, key: str = "sk-upstream", extra: str = "") -> str:
    if hasattr(up, "codex_base_url"):
        ptype, base = "openai-responses", f"{up.base_url}/v1"
    elif hasattr(up, "gemini_base_url"):
        ptype, base = "gemini", up.gemini_base_url
    elif up.dialect == "anthropic":
        ptype, base = "anthropic", up.base_url
    else:
        ptype, base = "openai", f"{up.base_url}/v1"
    return f'''
[[providers]]
name = "{name}"
provider_type = "{ptype}"
api_key = "{key}"
base_url = "{base}"
{extra}
'''


def model_toml(name: str, *mappings: tuple[str, str]) -> str:
    out = f'\n[[models]]\nname = "{name}"\n'
    for i, (provider, actual) in enumerate(mappings, 1):
        out += f'[[models.mappings]]\nprovider = "{provider}"\nactual_model = "{actual}"\npriority = {i}\n'
    return out


def write_config(path: Path, body: str, *, server: str = "", router: str = "") -> Path:
    path.write_text(
        f"""[server]
host = "127.0.0.1"
port = 13456
{server}

[server.timeouts]
connect_timeout_ms = 2000
first_byte_timeout_ms = 3000
idle_timeout_ms = 3000
api_timeout_ms = 10000

[router]
{router}
{body}"""
    )
    return path
