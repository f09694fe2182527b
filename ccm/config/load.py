"""Read a config file: tomlkit text -> msgspec Structs, with errors and warnings at file:line."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import tomlkit
from tomlkit.exceptions import ParseError

from ccm.config.locate import Path_, key_lines, line_of, parse_msgspec_path
from ccm.config.schema import Config, ProviderConfig, ServerConfig
from ccm.diagnostics import Diagnostic, DiagnosticError, at

DEFAULT_CONFIG_DIR = Path.home() / ".claude-code-mux"


def default_config_path() -> Path:
    env = os.environ.get("CCM_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".claude-code-mux" / "config.toml"


@dataclass
class LoadedConfig:
    config: Config
    path: Path
    source: str
    warnings: list[Diagnostic] = field(default_factory=list)
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, *path: str | int) -> int:
        return line_of(self.lines, tuple(path))

    def rules_path(self) -> Path | None:
        rules = self.config.router.rules
        if not rules:
            return None
        p = Path(rules).expanduser()
        return p if p.is_absolute() else self.path.parent / p


BUILTIN_DEFAULT = """\
# ccm configuration (compatible with claude-code-mux's config.toml).
# Written on first start; edit it here or in the admin page at http://127.0.0.1:13456/
# Reference: docs/config.md. API keys are best given as "$ENV_VAR" references.

[server]
host = "127.0.0.1"
port = 13456
log_level = "info"
# api_key = "$CCM_API_KEY"     # clients must then send it as x-api-key or Bearer

[server.timeouts]
api_timeout_ms = 600000
connect_timeout_ms = 10000

[router]
# With no `default`, model names pass through unchanged: Claude Code's own claude-*
# requests go to Anthropic with your key. Set the slots to route elsewhere:
# default = "glm-4.6"           # every claude-* request is mapped to this model
# think = "kimi-k2-thinking"    # requests with thinking enabled
# background = "glm-4.5-air"    # haiku (background) requests
# websearch = "glm-4.6"         # requests carrying the web_search tool
# rules = "ccm.rules"           # or: a rules file (docs/rules.md), which replaces the slots

[[providers]]
name = "anthropic"
provider_type = "anthropic"
api_key = "$ANTHROPIC_API_KEY"
models = ["claude-*"]           # serves any claude-* model name as it is

# [[providers]]
# name = "zai"
# provider_type = "z.ai"
# api_key = "$ZAI_API_KEY"
#
# [[models]]
# name = "glm-4.6"
# [[models.mappings]]
# provider = "zai"
# actual_model = "glm-4.6"
# priority = 1
"""


def ensure_config(path: Path) -> bool:
    """Write the built-in default config when `path` does not exist. True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(BUILTIN_DEFAULT)
    return True


def _known_fields(struct_type: type) -> dict[str, Any]:
    hints = msgspec.structs.fields(struct_type)
    return {f.name: f.type for f in hints}


def _nested_struct(tp: Any) -> type | None:
    """The Struct type inside `tp` (Struct, Struct | None, list[Struct]), if any."""
    import typing

    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    for arg in typing.get_args(tp):
        found = _nested_struct(arg)
        if found is not None:
            return found
    return None


def _unknown_keys(data: Any, struct_type: type, path: Path_, out: list[Path_]) -> None:
    if not isinstance(data, dict):
        return
    known = _known_fields(struct_type)
    for key, value in data.items():
        if key not in known:
            out.append((*path, key))
            continue
        inner = _nested_struct(known[key])
        if inner is None:
            continue
        if isinstance(value, list):
            for i, item in enumerate(value):
                _unknown_keys(item, inner, (*path, key, i), out)
        else:
            _unknown_keys(value, inner, (*path, key), out)


_ENV_REF = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


def env_reference(value: str | None) -> str | None:
    """The variable name when `value` is a whole "$NAME" reference."""
    if not value:
        return None
    m = _ENV_REF.match(value)
    return m.group(1) if m else None


def parse_config(source: str, path: Path | str = "<config>") -> LoadedConfig:
    """Parse and validate config text. Raises DiagnosticError naming file, line and key."""
    path = Path(path)
    name = str(path)
    try:
        doc = tomlkit.parse(source)
    except ParseError as e:
        # tomlkit's col is 0-based and its message repeats "at line L col C"
        text = re.sub(r" at line \d+ col \d+$", "", str(e.args[0] if e.args else e))
        raise DiagnosticError(
            [at(name, source, e.line, e.col + 1, f"TOML syntax: {text}")]
        ) from None
    data = doc.unwrap()
    lines = key_lines(source)

    def diag(p: Path_, message: str, severity: str = "error", code: str = "") -> Diagnostic:
        line = line_of(lines, p)
        return at(name, source, line, 1 if line else 0, message, severity, code=code)

    try:
        config = msgspec.convert(data, Config, str_keys=True)
    except msgspec.ValidationError as e:
        msg = str(e)
        p = parse_msgspec_path(msg)
        key = ".".join(str(s) for s in p) or "(top level)"
        text = msg.split(" - at ")[0].replace(" | null", "")
        raise DiagnosticError([diag(p, f"{key}: {text}")]) from None

    problems: list[Diagnostic] = []
    unknown: list[Path_] = []
    _unknown_keys(data, Config, (), unknown)
    for p in unknown:
        hint = did_you_mean(p[-1], known_keys(p[:-1]))
        problems.append(
            diag(p, f"unknown key `{'.'.join(map(str, p))}` (ignored){hint}", "warning")
        )

    problems.extend(_validate(config, diag))
    errors = [d for d in problems if d.severity == "error"]
    if errors:
        raise DiagnosticError(problems)
    return LoadedConfig(config, path, source, problems, lines)


def _validate(config: Config, diag: Any) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    s = config.server
    if not 0 < s.port < 65536:
        out.append(diag(("server", "port"), f"server.port {s.port} is not a TCP port"))
    if s.max_body_bytes <= 0:
        out.append(diag(("server", "max_body_bytes"), "server.max_body_bytes must be positive"))

    seen: dict[str, int] = {}
    for i, p in enumerate(config.providers):
        where = ("providers", i)
        if p.name in seen:
            out.append(diag((*where, "name"), f"duplicate provider name {p.name!r}"))
        seen[p.name] = i
        from ccm.dialects import registry  # the registry imports the config schema

        pre = registry.preset(p.provider_type)
        if pre is None:
            known = sorted(registry.PRESETS)
            hint = did_you_mean(p.provider_type, known)
            out.append(
                diag(
                    (*where, "provider_type"),
                    f"provider {p.name!r}: unknown provider_type {p.provider_type!r}{hint} "
                    f"(known: {', '.join(known)})",
                )
            )
            continue
        if p.auth_type not in ("apikey", "oauth", "client"):
            out.append(
                diag(
                    (*where, "auth_type"),
                    f'provider {p.name!r}: auth_type must be "apikey", "oauth" or "client"',
                )
            )
        if p.auth_type == "client":
            out.extend(_client_auth_problems(p, pre, s, (*where, "auth_type"), diag))
        if p.base_url and not _is_http_url(p.base_url):
            out.append(
                diag(
                    (*where, "base_url"),
                    f"provider {p.name!r}: base_url must be an http:// or https:// URL",
                    code="bad-url",
                )
            )
        for problem in registry.problems(p):
            out.append(diag(where, f"provider {p.name!r}: {problem}"))
        out.extend(_validate_pool(p, where, diag))
        if not p.is_enabled:
            continue
        if p.auth_type == "apikey" and pre.needs_key and not (p.api_key or p.api_keys):
            out.append(diag(where, f"provider {p.name!r} has no api_key", "warning"))
        keyed = [("api_key", p.api_key), *(("api_keys", k) for k in p.api_keys)]
        for field_name, ref in keyed:
            var = env_reference(ref)
            if var and p.auth_type == "apikey" and not os.environ.get(var):
                out.append(
                    diag(
                        (*where, field_name),
                        f"provider {p.name!r}: environment variable ${var} is not set; "
                        "requests to it will fail over",
                        "warning",
                    )
                )

    names: set[str] = set()
    for i, m in enumerate(config.models):
        if m.name in names:
            out.append(diag(("models", i, "name"), f"duplicate model name {m.name!r}"))
        names.add(m.name)
        for j, mp in enumerate(m.mappings):
            if mp.provider not in seen:
                out.append(
                    diag(
                        ("models", i, "mappings", j, "provider"),
                        f"model {m.name!r}: mapping names unknown provider {mp.provider!r}"
                        + did_you_mean(mp.provider, list(seen)),
                        "warning",
                        "unknown-provider",
                    )
                )

    if s.max_client_retry_after_s < 1:
        out.append(
            diag(
                ("server", "max_client_retry_after_s"),
                "server.max_client_retry_after_s must be at least 1 (seconds)",
            )
        )
    url = config.state.url
    if url and not env_reference(url) and urlsplit(url).scheme not in STATE_SCHEMES:
        out.append(
            diag(
                ("state", "url"),
                'state.url must be a Redis URL ("redis://host:port/db", rediss://, unix://) '
                'or a "$VAR" holding one',
            )
        )

    r = config.router
    for key in ("auto_map_regex", "background_regex"):
        pattern = getattr(r, key)
        if pattern:
            try:
                re.compile(pattern)
            except re.error as e:
                out.append(diag(("router", key), f"router.{key}: bad regex {pattern!r}: {e}"))
    for key in ("default", "background", "think", "websearch", "long_context", "image"):
        if getattr(r, key) == "":
            out.append(
                diag(("router", key), f"router.{key} is empty (treated as unset)", "warning")
            )
    if r.rules:
        set_slots = [
            k
            for k in ("background", "think", "websearch", "long_context", "image")
            if getattr(r, k)
        ]
        if set_slots:
            out.append(
                diag(
                    ("router", "rules"),
                    f"router.rules is set, so {', '.join(set_slots)} are ignored (the rules file decides)",
                    "warning",
                )
            )
    return out


def _client_auth_problems(
    p: ProviderConfig, pre: Any, server: ServerConfig, where: Path_, diag: Any
) -> list[Diagnostic]:
    """`auth_type = "client"` forwards the client's own credential (Claude Code's sign-in or
    key) upstream: only an Anthropic-dialect provider can take it, and not while clients
    authenticate to ccm itself with `[server] api_key` (their one credential would be ccm's
    key, and would be sent to the provider)."""
    out = []
    if pre.dialect.name != "anthropic":
        out.append(
            diag(
                where,
                f'provider {p.name!r}: auth_type = "client" forwards Claude Code\'s own '
                f"credential, which only an Anthropic-compatible provider takes "
                f"({p.provider_type} speaks {pre.dialect.name})",
            )
        )
    if server.api_key:
        out.append(
            diag(
                where,
                f'provider {p.name!r}: auth_type = "client" cannot be combined with [server] '
                "api_key: the client's one credential would be ccm's key and would go to the "
                "provider. Remove [server] api_key (ccm on 127.0.0.1), or give this provider "
                "its own api_key or OAuth sign-in",
            )
        )
    if p.api_key:
        out.append(
            diag(
                where,
                f'provider {p.name!r}: auth_type = "client" sends the client\'s credential; '
                "its api_key is never used",
                "warning",
            )
        )
    return out


# ---- key pools and failover (ccm.providers.keys) ----
KEY_STRATEGIES = ("round-robin", "fill-first", "least-used", "session")
FAILOVER_WORDS = ("connect", "timeout", "4xx", "5xx")
STATE_SCHEMES = ("redis", "rediss", "unix")


def _validate_pool(p: Any, where: Path_, diag: Any) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if p.key_strategy is not None and p.key_strategy not in KEY_STRATEGIES:
        out.append(
            diag(
                (*where, "key_strategy"),
                f"provider {p.name!r}: key_strategy must be one of {', '.join(KEY_STRATEGIES)}"
                + did_you_mean(p.key_strategy, list(KEY_STRATEGIES)),
            )
        )
    if p.key_rest_ms is not None and p.key_rest_ms < 0:
        out.append(diag((*where, "key_rest_ms"), f"provider {p.name!r}: key_rest_ms must be >= 0"))
    for value in p.failover_on or ():
        ok = (isinstance(value, int) and 400 <= value <= 599) or value in FAILOVER_WORDS
        if not ok:
            out.append(
                diag(
                    (*where, "failover_on"),
                    f"provider {p.name!r}: failover_on takes HTTP statuses 400-599 and "
                    f"{', '.join(repr(w) for w in FAILOVER_WORDS)}, not {value!r}",
                )
            )
    if p.oauth_providers and p.auth_type != "oauth":
        out.append(
            diag(
                (*where, "oauth_providers"),
                f'provider {p.name!r}: oauth_providers needs auth_type = "oauth"',
            )
        )
    if p.api_keys and p.auth_type == "oauth":
        out.append(
            diag(
                (*where, "api_keys"),
                f"provider {p.name!r}: api_keys is ignored for an OAuth provider "
                "(oauth_providers lists its sign-ins)",
                "warning",
            )
        )
    return out


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def load_config(path: Path) -> LoadedConfig:
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DiagnosticError([Diagnostic(str(path), 0, 0, "config file not found")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DiagnosticError([Diagnostic(str(path), 0, 0, f"cannot read config: {e}")]) from None
    return parse_config(source, path)


# ---- "did you mean": the closest known name for a misspelt key, provider or model ----------


def closest(word: str, choices: list[str]) -> str | None:
    """difflib's best match for `word` among `choices` (case-insensitive), or None."""
    import difflib

    by_lower = {c.lower(): c for c in reversed(choices)}
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


def did_you_mean(word: str, choices: list[str]) -> str:
    """`; did you mean `x`?` for the closest of `choices`, else ""."""
    found = closest(word, choices)
    return f"; did you mean `{found}`?" if found else ""


def known_keys(path: Path_) -> list[str]:
    """The keys the schema knows at a table path (("server",), ("providers", 0), ...)."""
    struct: Any = Config
    for step in path:
        if isinstance(step, int):
            continue
        fields = _known_fields(struct)
        inner = _nested_struct(fields.get(str(step)))
        if inner is None:
            return []
        struct = inner
    return list(_known_fields(struct))
