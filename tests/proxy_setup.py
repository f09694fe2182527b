"""Configs that point ccm at fake upstreams, for the proxy tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import anthropic

from tests.fakes.upstream import FakeUpstream
from tests.harness import RunningCCM, running_ccm


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


BASH_TOOL = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "description": {"type": "string"}},
        "required": ["command"],
    },
}
TOOLS = [BASH_TOOL]


def sdk(base_url: str) -> anthropic.Anthropic:
    """The official SDK as ccm's client: no retries of its own, a test-sized timeout."""
    return anthropic.Anthropic(base_url=base_url, api_key="sk-client", max_retries=0, timeout=20)


@contextlib.contextmanager
def proxied(
    tmp_path: Path,
    *chain: tuple[str, FakeUpstream, str],
    keys: dict[str, str] | None = None,
    extra: str = "",
    router: str = 'default = "m"',
    fast_path: bool = True,
) -> Iterator[RunningCCM]:
    """ccm in front of fakes: one provider per (name, fake, actual model), in that order the
    chain of the model "m" (the default route)."""
    providers = "".join(
        provider_toml(name, up, key=(keys or {}).get(name, "sk-upstream")) for name, up, _ in chain
    )
    models = model_toml("m", *((name, actual) for name, _, actual in chain))
    cfg = write_config(tmp_path / "config.toml", providers + models + extra, router=router)
    with running_ccm(cfg, fast_path=fast_path) as running:
        yield running
