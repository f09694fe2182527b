"""Config loading: claude-code-mux compatibility, errors at file:line, warnings, first start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ccm.config.load import (
    BUILTIN_DEFAULT,
    ensure_config,
    env_reference,
    load_config,
    parse_config,
)
from ccm.config.locate import key_lines, line_of
from ccm.config.schema import DEFAULT_PORT
from ccm.diagnostics import Diagnostic, DiagnosticError
from ccm.rules.chain import Resolver
from ccm.rules.load import build_router
from tests.proxy_setup import model_toml, provider

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "config.toml"
EXAMPLE_ENV = ("ZAI_API_KEY", "OPENROUTER_API_KEY", "KIMI_API_KEY")
CFG = "conf.toml"  # the file name every inline config is parsed as


def _request(model: str) -> dict:
    return {
        "model": model,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hello"}],
    }


def _error(source: str, name: str = CFG) -> Diagnostic:
    """The single error `source` must produce."""
    with pytest.raises(DiagnosticError) as info:
        parse_config(source, name)
    errors = info.value.errors
    assert len(errors) == 1, [d.format() for d in info.value.diagnostics]
    return errors[0]


def _caret_column(formatted: str, source_line: str) -> int:
    """1-based column of the first caret printed under `source_line` in formatted output."""
    lines = formatted.splitlines()
    i = lines.index("    " + source_line)
    caret = lines[i + 1]
    assert set(caret.strip()) == {"^"}, caret
    return caret.index("^") - 4 + 1


# ---- claude-code-mux's example config ------------------------------------


@pytest.fixture
def example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in EXAMPLE_ENV:
        monkeypatch.setenv(var, f"secret-{var.lower()}")


def test_example_config_loads_unchanged(example_env: None) -> None:
    loaded = load_config(EXAMPLE)
    assert loaded.warnings == []  # no unknown keys, every env var set
    cfg = loaded.config

    assert [(p.name, p.provider_type) for p in cfg.providers] == [
        ("zai coding plan", "z.ai"),
        ("openrouter", "openrouter"),
        ("kimi-for-coding", "anthropic"),
    ]
    assert all(p.is_enabled and p.models == [] for p in cfg.providers)
    kimi = cfg.provider("kimi-for-coding")
    assert kimi is not None
    assert kimi.base_url == "https://api.kimi.com/coding/"
    assert kimi.auth_type == "apikey"

    assert [m.name for m in cfg.models] == ["glm-4.6", "glm-4.5-air", "kimi-for-coding"]
    glm = cfg.model("glm-4.6")
    assert glm is not None
    assert [(m.provider, m.actual_model, m.priority) for m in glm.mappings] == [
        ("zai coding plan", "glm-4.6", 1),
        ("openrouter", "z-ai/glm-4.6", 2),
    ]

    r = cfg.router
    assert (r.default, r.background, r.think, r.websearch) == (
        "glm-4.6",
        "glm-4.5-air",
        "kimi-for-coding",
        "glm-4.6",
    )
    assert r.auto_map_regex is None and r.background_regex is None and r.rules is None

    assert (cfg.server.host, cfg.server.port) == ("127.0.0.1", 13456)
    assert cfg.server.timeouts.api_timeout_ms == 600000
    assert cfg.server.timeouts.connect_timeout_ms == 10000


def test_example_config_chains_follow_priority(example_env: None) -> None:
    cfg = load_config(EXAMPLE).config
    chain = Resolver(cfg).resolve("glm-4.5-air").chain
    assert [(e.provider, e.actual_model, e.priority) for e in chain] == [
        ("zai coding plan", "glm-4.5-air", 1),
        ("openrouter", "z-ai/glm-4.5-air", 2),
    ]


def test_example_config_routes_like_mux(example_env: None) -> None:
    router = build_router(load_config(EXAMPLE))
    main = router.route(_request("claude-sonnet-4-5"))  # auto-map: claude-* -> default
    assert main.error is None
    assert main.model == "glm-4.6"
    assert [e.provider for e in main.chain] == ["zai coding plan", "openrouter"]
    bg = router.route(_request("claude-haiku-4-5"))  # background checks the ORIGINAL name
    assert bg.rule == "background"
    assert [e.actual_model for e in bg.chain] == ["glm-4.5-air", "z-ai/glm-4.5-air"]


def test_mappings_are_tried_by_priority_not_file_order() -> None:
    source = (
        provider("a", "openai", api_key="k")
        + provider("b", "openai", api_key="k")
        + model_toml(
            "m",
            ("b", "m-third", {"priority": 3}),
            ("a", "m-first", {"priority": 1}),
            ("b", "m-second", {"priority": 2}),
            ("a", "m-second-tie", {"priority": 2}),
        )
    )
    cfg = parse_config(source, CFG).config
    chain = Resolver(cfg).resolve("m").chain
    assert [e.actual_model for e in chain] == ["m-first", "m-second", "m-second-tie", "m-third"]


# ---- every claude-code-mux key --------------------------------------------

FULL_MUX = """\
[server]
host = "0.0.0.0"
port = 14000
log_level = "debug"
api_key = "$CCM_TEST_SERVER_KEY"

[server.timeouts]
api_timeout_ms = 120000
connect_timeout_ms = 5000

[router]
default = "glm-4.6"
background = "glm-4.5-air"
think = "kimi-k2-thinking"
websearch = "glm-4.6"
auto_map_regex = "^(claude|gpt)-"
background_regex = "(?i)haiku|mini"

[[providers]]
name = "zai"
provider_type = "z.ai"
api_key = "$CCM_TEST_ZAI_KEY"
base_url = "https://api.z.ai/api/anthropic"
enabled = true
models = ["glm-4.6", "glm-4.5-air"]
auth_type = "apikey"

[[providers]]
name = "claude-max"
provider_type = "anthropic"
enabled = false
auth_type = "oauth"
oauth_provider = "anthropic"

[[providers]]
name = "vertex"
provider_type = "vertex-ai"
project_id = "my-project"
location = "us-central1"
auth_type = "oauth"
oauth_provider = "google"

[[models]]
name = "glm-4.6"

[[models.mappings]]
provider = "zai"
actual_model = "glm-4.6"
priority = 1

[[models]]
name = "kimi-k2-thinking"

[[models.mappings]]
provider = "vertex"
actual_model = "kimi-k2-thinking"
priority = 1
"""


def test_every_mux_key_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCM_TEST_SERVER_KEY", "s")
    monkeypatch.setenv("CCM_TEST_ZAI_KEY", "z")
    loaded = parse_config(FULL_MUX, CFG)
    assert loaded.warnings == [], [d.format() for d in loaded.warnings]
    cfg = loaded.config

    s = cfg.server
    assert (s.host, s.port, s.log_level, s.api_key) == (
        "0.0.0.0",
        14000,
        "debug",
        "$CCM_TEST_SERVER_KEY",
    )
    assert (s.timeouts.api_timeout_ms, s.timeouts.connect_timeout_ms) == (120000, 5000)

    r = cfg.router
    assert (r.default, r.background, r.think, r.websearch) == (
        "glm-4.6",
        "glm-4.5-air",
        "kimi-k2-thinking",
        "glm-4.6",
    )
    assert r.auto_map_regex == "^(claude|gpt)-"
    assert r.background_regex == "(?i)haiku|mini"

    zai, claude, vertex = cfg.providers
    assert zai.base_url == "https://api.z.ai/api/anthropic"
    assert zai.enabled is True and zai.models == ["glm-4.6", "glm-4.5-air"]
    assert zai.auth_type == "apikey"
    assert claude.enabled is False and not claude.is_enabled
    assert (claude.auth_type, claude.oauth_provider) == ("oauth", "anthropic")
    assert (vertex.project_id, vertex.location, vertex.oauth_provider) == (
        "my-project",
        "us-central1",
        "google",
    )
    assert [m.name for m in cfg.models] == ["glm-4.6", "kimi-k2-thinking"]
    assert cfg.models[1].mappings[0].provider == "vertex"


def test_empty_config_gets_mux_defaults() -> None:
    cfg = parse_config("", CFG).config
    assert cfg.server.port == DEFAULT_PORT == 13456
    assert cfg.server.host == "127.0.0.1"
    assert cfg.providers == [] and cfg.models == []
    assert cfg.router.default is None


# ---- errors name file, line and key ---------------------------------------


def test_toml_syntax_error_has_line_and_column() -> None:
    source = '[server]\nhost = "127.0.0.1"\nport = = 3\n'
    d = _error(source, "/some/dir/conf.toml")
    assert d.line == 3
    assert d.column > 0
    text = d.format()
    assert text.startswith(f"/some/dir/conf.toml:3:{d.column}: error: TOML syntax")
    assert "\n    port = = 3\n" in text
    assert "^" in text.splitlines()[-1]


def test_toml_syntax_error_caret_under_offending_character() -> None:
    d = _error("[server]\nport = = 3\n")
    assert (d.line, d.column) == (2, 8)  # the second '='
    assert d.format().startswith(f"{CFG}:2:8:")
    assert _caret_column(d.format(), "port = = 3") == 8


def test_unterminated_string_is_a_syntax_error_on_its_line() -> None:
    d = _error('[server]\nlog_level = "info\nport = 1\n')
    assert d.line == 2
    assert "TOML syntax" in d.message


def test_wrong_type_names_file_line_and_key() -> None:
    source = '[server]\nhost = "127.0.0.1"\nport = "abc"\nlog_level = "info"\n'
    d = _error(source, "/etc/ccm/conf.toml")
    assert d.line == 3
    assert "server.port" in d.message
    assert "int" in d.message and "str" in d.message
    text = d.format()
    assert text.startswith("/etc/ccm/conf.toml:3:1: error: server.port")
    assert _caret_column(text, 'port = "abc"') == 1


@pytest.mark.parametrize(
    ("source", "line", "key"),
    [
        ('[server.timeouts]\napi_timeout_ms = "5s"\n', 2, "server.timeouts.api_timeout_ms"),
        (
            '[[providers]]\nname = "a"\nprovider_type = "openai"\napi_key = "k"\nenabled = "yes"\n',
            5,
            "providers.0.enabled",
        ),
        (
            '[[models]]\nname = "m"\n\n[[models.mappings]]\nprovider = "p"\n'
            'actual_model = "x"\npriority = "high"\n',
            7,
            "models.0.mappings.0.priority",
        ),
        ("server = 5\n", 1, "server"),
    ],
)
def test_wrong_type_in_nested_places(source: str, line: int, key: str) -> None:
    d = _error(source)
    assert d.line == line
    assert d.message.startswith(f"{key}:")


def test_wrong_type_in_provider_headers_names_line() -> None:
    source = (
        '[[providers]]\nname = "a"\nprovider_type = "openai"\napi_key = "k"\n'
        'headers = { "X-Title" = 5 }\n'
    )
    d = _error(source)
    assert d.line == 5
    assert "providers.0.headers" in d.message


def test_provider_without_name_points_at_its_table() -> None:
    source = """\
[[providers]]
name = "first"
provider_type = "openai"
api_key = "k"

[[providers]]
provider_type = "openai"
api_key = "k"
"""
    d = _error(source)
    assert d.line == 6
    assert "name" in d.message
    assert "providers.1" in d.message
    assert d.format().startswith(f"{CFG}:6:1: error:")
    assert _caret_column(d.format(), "[[providers]]") == 1


def test_mapping_without_actual_model_points_at_its_table() -> None:
    source = '[[models]]\nname = "m"\n\n[[models.mappings]]\nprovider = "p"\n'
    d = _error(source)
    assert d.line == 4
    assert "actual_model" in d.message


def test_unknown_provider_type_names_its_line() -> None:
    source = '[[providers]]\nname = "x"\nprovider_type = "not-a-type"\napi_key = "k"\n'
    d = _error(source)
    assert d.line == 3
    assert "'not-a-type'" in d.message and "provider_type" in d.message
    assert "openrouter" in d.message  # the known types are listed
    assert d.format().startswith(f"{CFG}:3:1:")


def test_duplicate_provider_name_points_at_the_second() -> None:
    source = """\
[[providers]]
name = "dup"
provider_type = "openai"
api_key = "k"

[[providers]]
name = "dup"
provider_type = "groq"
api_key = "k"
"""
    d = _error(source)
    assert d.line == 7
    assert "duplicate provider name 'dup'" in d.message


def test_duplicate_model_name_points_at_the_second() -> None:
    d = _error('[[models]]\nname = "m"\n\n[[models]]\nname = "m"\n')
    assert d.line == 5
    assert "duplicate model name 'm'" in d.message


@pytest.mark.parametrize("key", ["auto_map_regex", "background_regex"])
def test_bad_router_regex(key: str) -> None:
    source = f'[router]\ndefault = "x"\n{key} = "^(claude"\n'
    d = _error(source)
    assert d.line == 3
    assert f"router.{key}" in d.message and "bad regex" in d.message
    assert "^(claude" in d.message


def test_port_out_of_range() -> None:
    d = _error("[server]\nport = 70000\n")
    assert d.line == 2
    assert "70000" in d.message and "server.port" in d.message


def test_compatible_type_without_base_url() -> None:
    d = _error('[[providers]]\nname = "c"\nprovider_type = "openai-compatible"\napi_key = "k"\n')
    assert d.line == 1
    assert "base_url" in d.message


def test_every_error_is_reported_not_just_the_first() -> None:
    source = """\
[[providers]]
name = "a"
provider_type = "nope"

[[providers]]
name = "a"
provider_type = "openai"
api_key = "k"

[router]
auto_map_regex = "("
"""
    with pytest.raises(DiagnosticError) as info:
        parse_config(source, CFG)
    assert sorted(d.line for d in info.value.errors) == [3, 6, 11]
    text = str(info.value)
    assert f"{CFG}:3:1:" in text and f"{CFG}:6:1:" in text and f"{CFG}:11:1:" in text


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(DiagnosticError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)


# ---- unknown keys warn --------------------------------------------------


UNKNOWN_KEYS = """\
[server]
port = 1234
colour = "red"

[server.timeouts]
api_timeout_ms = 5
bogus_ms = 7

[router]
fancy = true

[[providers]]
name = "p"
provider_type = "openai"
api_key = "literal"

[[providers]]
name = "q"
provider_type = "openai"
api_key = "literal"
extra = 1

[[models]]
name = "m"

[[models.mappings]]
provider = "p"
actual_model = "a"
priority = 1

[[models.mappings]]
provider = "q"
actual_model = "b"
priority = 2
weight = 3

[toplevel]
x = 1
"""


def test_unknown_keys_warn_with_key_and_line() -> None:
    loaded = parse_config(UNKNOWN_KEYS, CFG)  # does not raise
    found = {(d.line, d.message) for d in loaded.warnings}
    assert found == {
        (3, "unknown key `server.colour` (ignored)"),
        (7, "unknown key `server.timeouts.bogus_ms` (ignored)"),
        (10, "unknown key `router.fancy` (ignored)"),
        (21, "unknown key `providers.1.extra` (ignored)"),
        (35, "unknown key `models.0.mappings.1.weight` (ignored)"),
        (37, "unknown key `toplevel` (ignored)"),
    }
    assert all(d.severity == "warning" for d in loaded.warnings)
    # the known values around them still load
    cfg = loaded.config
    assert cfg.server.port == 1234 and cfg.server.timeouts.api_timeout_ms == 5
    assert cfg.models[0].mappings[1].actual_model == "b"
    weight = next(d for d in loaded.warnings if "weight" in d.message)
    assert weight.format().startswith(f"{CFG}:35:1: warning: unknown key")
    assert _caret_column(weight.format(), "weight = 3") == 1


# ---- $ENV references ----------------------------------------------------


ENV_CONFIG = """\
[[providers]]
name = "zai"
provider_type = "z.ai"
api_key = "$CCM_TEST_KEY_A"

[[providers]]
name = "other"
provider_type = "openai"
api_key = "$CCM_TEST_KEY_B"
"""


def test_env_references_are_kept_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCM_TEST_KEY_A", "sk-real-a")
    monkeypatch.setenv("CCM_TEST_KEY_B", "sk-real-b")
    loaded = parse_config(ENV_CONFIG, CFG)
    assert loaded.warnings == []
    assert [p.api_key for p in loaded.config.providers] == ["$CCM_TEST_KEY_A", "$CCM_TEST_KEY_B"]
    assert "sk-real" not in repr(loaded.config)


def test_missing_env_var_warns_at_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCM_TEST_KEY_A", "sk-real-a")
    monkeypatch.delenv("CCM_TEST_KEY_B", raising=False)
    loaded = parse_config(ENV_CONFIG, CFG)
    assert loaded.config.providers[1].api_key == "$CCM_TEST_KEY_B"
    (w,) = loaded.warnings
    assert w.severity == "warning"
    assert w.line == 9
    assert "$CCM_TEST_KEY_B" in w.message and "'other'" in w.message
    assert "CCM_TEST_KEY_A" not in w.message


def test_disabled_provider_does_not_warn_about_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCM_TEST_KEY_C", raising=False)
    source = '[[providers]]\nname = "x"\nprovider_type = "openai"\napi_key = "$CCM_TEST_KEY_C"\nenabled = false\n'
    assert parse_config(source, CFG).warnings == []


@pytest.mark.parametrize(
    ("value", "var"),
    [
        ("$ZAI_API_KEY", "ZAI_API_KEY"),
        ("$_x1", "_x1"),
        ("sk-literal", None),
        ("$", None),
        ("prefix$VAR", None),
        ("$1ABC", None),
        ("", None),
        (None, None),
    ],
)
def test_env_reference(value: str | None, var: str | None) -> None:
    assert env_reference(value) == var


# ---- first start ----------------------------------------------------------


def test_ensure_config_writes_default_once(tmp_path: Path) -> None:
    path = tmp_path / ".claude-code-mux" / "config.toml"
    assert ensure_config(path) is True
    assert path.read_text(encoding="utf-8") == BUILTIN_DEFAULT
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    path.write_text("# mine\n", encoding="utf-8")
    before = path.stat()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns - 10_000_000_000))
    before = path.stat()
    assert ensure_config(path) is False
    after = path.stat()
    assert path.read_text(encoding="utf-8") == "# mine\n"
    assert after.st_mtime_ns == before.st_mtime_ns
    assert after.st_ino == before.st_ino


def test_written_default_loads_and_routes_claude_to_anthropic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    path = tmp_path / "config.toml"
    ensure_config(path)
    loaded = load_config(path)
    assert loaded.warnings == [], [d.format() for d in loaded.warnings]
    assert loaded.config.server.port == 13456

    router = build_router(loaded)
    d = router.route(_request("claude-sonnet-4-5"))
    assert d.error is None
    assert [(e.provider, e.actual_model) for e in d.chain] == [("anthropic", "claude-sonnet-4-5")]

    other = router.route(_request("gpt-4o"))
    assert other.chain == ()
    assert other.error is not None
    assert '"gpt-4o"' in other.error and "no provider" in other.error


def test_written_default_warns_when_anthropic_key_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    path = tmp_path / "config.toml"
    ensure_config(path)
    loaded = load_config(path)  # a warning, not an error
    (w,) = loaded.warnings
    assert "$ANTHROPIC_API_KEY" in w.message
    assert w.source_line.strip() == 'api_key = "$ANTHROPIC_API_KEY"'


# ---- key_lines ----------------------------------------------------------


KEY_DOC = """\
# comment = not a key
title = "t"
a.b.c = 1
"quoted key" = 2
'single.q' = 3

[tbl]
"dotted.in.quotes".inner = 4
s = \"\"\"
[not_a_table]
fake = 1
\"\"\"
after = 5

[[arr]]
name = "x"

[[arr.sub]]
v = 1

[[arr.sub]]
v = 2

[[arr]]
name = "y"

[[arr.sub]]
v = 3

[arr.tbl]
k = 1
lit = '''
[[arr]]
name = "z"
'''
end = 1
"""


def test_key_lines() -> None:
    lines = key_lines(KEY_DOC)
    assert lines == {
        ("title",): 2,
        ("a", "b", "c"): 3,
        ("quoted key",): 4,
        ("single.q",): 5,
        ("tbl",): 7,
        ("tbl", "dotted.in.quotes", "inner"): 8,
        ("tbl", "s"): 9,
        ("tbl", "after"): 13,
        ("arr",): 15,
        ("arr", 0): 15,
        ("arr", 0, "name"): 16,
        ("arr", 0, "sub"): 18,
        ("arr", 0, "sub", 0): 18,
        ("arr", 0, "sub", 0, "v"): 19,
        ("arr", 0, "sub", 1): 21,
        ("arr", 0, "sub", 1, "v"): 22,
        ("arr", 1): 24,
        ("arr", 1, "name"): 25,
        ("arr", 1, "sub"): 27,
        ("arr", 1, "sub", 0): 27,
        ("arr", 1, "sub", 0, "v"): 28,
        ("arr", 1, "tbl"): 30,
        ("arr", 1, "tbl", "k"): 31,
        ("arr", 1, "tbl", "lit"): 32,
        ("arr", 1, "tbl", "end"): 36,
    }


def test_key_lines_header_spacing_and_comments() -> None:
    source = '[ server ] # main\nport = 1 # the port\n[[ providers ]] # p\nname = "x"\n'
    assert key_lines(source) == {
        ("server",): 1,
        ("server", "port"): 2,
        ("providers",): 3,
        ("providers", 0): 3,
        ("providers", 0, "name"): 4,
    }


def test_line_of_falls_back_to_parent() -> None:
    lines = key_lines(KEY_DOC)
    assert line_of(lines, ("arr", 1, "sub", 0, "missing")) == 27
    assert line_of(lines, ("arr", 1, "nope", "deeper")) == 24
    assert line_of(lines, ("nowhere",)) == 0


def test_key_lines_quoted_key_containing_equals() -> None:
    assert key_lines('[t]\n"a=b" = 1\n')[("t", "a=b")] == 2


def test_key_lines_triple_quote_in_comment() -> None:
    source = '[server]\nport = 1  # see """ in the docs\ncolour = "red"\n'
    assert key_lines(source).get(("server", "colour")) == 3
