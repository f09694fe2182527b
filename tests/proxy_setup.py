"""What the tests share to set ccm up and talk to it, one of each:

- config TOML, the one way to write it: `provider`, `model_toml` (tables), `config_text` /
  `write_config` (a whole file with test-sized timeouts);
- fake upstreams: `upstream_fixture` (a fixture per fake), `provider_toml` (a provider pointing
  at a fake), `chain_config` / `proxied` (ccm in front of a chain of fakes);
- the official SDK as the client: `sdk`, `ask` (streamed or not), `tool_answered` (the turns
  that answer a tool call), `TOOLS`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import anthropic
import pytest
import tomlkit
from anthropic.types import Message

from tests.fakes.upstream import FakeUpstream, Step
from tests.harness import RunningCCM, running_ccm


def upstream_fixture(
    kind: str | Callable[[], FakeUpstream] = "anthropic", default: Step | None = None
) -> Any:
    """A pytest fixture that gives each test a started fake upstream and stops it after:
    `up = upstream_fixture("openai")` (a FakeUpstream of that dialect) or
    `gem = upstream_fixture(FakeGemini)`; `default` answers what no script does."""

    def fake() -> Iterator[FakeUpstream]:
        with FakeUpstream(kind) if isinstance(kind, str) else kind() as up:
            if default is not None:
                up.default = default
            yield up

    return pytest.fixture(fake)


def _toml_value(value: Any) -> str:
    if isinstance(value, Mapping):
        inline = tomlkit.inline_table()
        inline.update(value)
        return inline.as_string()
    return tomlkit.item(value).as_string()


def toml_table(header: str, fields: Mapping[str, Any]) -> str:
    """One `[[header]]` table, a `key = value` line per field (values written as TOML)."""
    lines = [f"[[{header}]]", *(f"{k} = {_toml_value(v)}" for k, v in fields.items())]
    return "\n" + "\n".join(lines) + "\n"


def provider(name: str, provider_type: str, **fields: Any) -> str:
    """A `[[providers]]` table: `provider("zai", "z.ai", api_key="k", models=["glm-*"])`."""
    return toml_table("providers", {"name": name, "provider_type": provider_type, **fields})


MappingSpec = tuple[str, str] | tuple[str, str, Mapping[str, Any]]


def model_toml(name: str, *mappings: MappingSpec, **fields: Any) -> str:
    """A `[[models]]` table and its mappings, each `(provider, actual_model)` or
    `(provider, actual_model, {more fields})`, with priorities 1, 2, ... in the order given
    (a field in the mapping's dict overrides its priority)."""
    out = toml_table("models", {"name": name, **fields})
    for i, (provider_name, actual, *more) in enumerate(mappings, 1):
        entry = {"provider": provider_name, "actual_model": actual, "priority": i}
        out += toml_table("models.mappings", {**entry, **(more[0] if more else {})})
    return out


def provider_toml(name: str, up: FakeUpstream, *, key: str = "sk-upstream", extra: str = "") -> str:
    if hasattr(up, "codex_base_url"):
        ptype, base = "openai-responses", f"{up.base_url}/v1"
    elif hasattr(up, "gemini_base_url"):
        ptype, base = "gemini", up.gemini_base_url
    elif up.dialect == "anthropic":
        ptype, base = "anthropic", up.base_url
    else:
        ptype, base = "openai", f"{up.base_url}/v1"
    return provider(name, ptype, api_key=key, base_url=base) + extra + "\n"


def config_text(body: str, *, server: str = "", router: str = "") -> str:
    """A whole config: test-sized timeouts, `server` and `router` lines, then `body`."""
    return f"""[server]
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


def write_config(path: Path, body: str, *, server: str = "", router: str = "") -> Path:
    path.write_text(config_text(body, server=server, router=router))
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


def chain_config(
    tmp_path: Path,
    *chain: tuple[str, FakeUpstream, str],
    keys: dict[str, str] | None = None,
    extras: dict[str, str] | None = None,
    extra: str = "",
    server: str = "",
    router: str = 'default = "m"',
) -> Path:
    """tmp_path/config.toml for ccm in front of fakes: one provider per name in `chain` of
    (name, fake, actual model), whose entries in that order are the chain of the model "m"
    (the default route). `keys` and `extras` give a provider its API key and more TOML
    (`[providers.timeouts]`, `proxy = ""`); `extra` adds to the file (more models, [ledger]),
    `server` to its [server] table."""
    providers = {name: up for name, up, _ in chain}
    text = "".join(
        provider_toml(
            name,
            up,
            key=(keys or {}).get(name, "sk-upstream"),
            extra=(extras or {}).get(name, ""),
        )
        for name, up in providers.items()
    )
    text += model_toml("m", *((name, actual) for name, _, actual in chain)) + extra
    return write_config(tmp_path / "config.toml", text, server=server, router=router)


def ask(client: anthropic.Anthropic, stream: bool, **request: Any) -> Message:
    """One Messages request through the SDK, streamed (the message the stream adds up to) or
    not."""
    if stream:
        with client.messages.stream(**request) as s:
            return s.get_final_message()
    return client.messages.create(**request)


def tool_answered(message: Message, content: Any, **result: Any) -> list[dict[str, Any]]:
    """The turns that answer `message`'s first tool call with `content`: the assistant turn
    as the SDK gave it back, then the user's tool_result (with any more `result` fields)."""
    call = next(b for b in message.content if b.type == "tool_use")
    return [
        {
            "role": "assistant",
            "content": [b.model_dump(exclude_none=True) for b in message.content],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": content, **result}
            ],
        },
    ]


@contextlib.contextmanager
def proxied(
    tmp_path: Path,
    *chain: tuple[str, FakeUpstream, str],
    fast_path: bool = True,
    **options: Any,
) -> Iterator[RunningCCM]:
    """A running ccm on `chain_config(tmp_path, *chain, **options)`."""
    with running_ccm(chain_config(tmp_path, *chain, **options), fast_path=fast_path) as running:
        yield running
