"""Static checks of a rules file (`ccm check`): every error at file:line:col with a caret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ccm.config.load import parse_config
from ccm.diagnostics import Diagnostic, DiagnosticError
from ccm.rules import ast
from ccm.rules.chain import Resolver
from ccm.rules.check import check_rules
from ccm.rules.compile import compile_rules
from ccm.rules.parse import parse_rules
from tests.proxy_setup import model_toml, provider

RULES = "r.rules"  # the name every inline rules text is parsed as

CONFIG = (
    provider("zai", "z.ai", api_key="k", models=["glm-*"])
    + provider("anthropic", "anthropic", api_key="k", models=["claude-*"])
    + model_toml("fast", ("zai", "glm-4.5-air"))
)


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver(parse_config(CONFIG, "c.toml").config)


def _errors(source: str, resolver: Resolver) -> list[Diagnostic]:
    """Every error parsing + compiling `source` reports (it must report some)."""
    with pytest.raises(DiagnosticError) as info:
        compile_rules(parse_rules(source, RULES), resolver)
    errors = info.value.errors
    assert errors, "DiagnosticError without errors"
    return errors


def _caret_column(formatted: str, source_line: str) -> int:
    """1-based column of the caret printed under `source_line` in formatted output."""
    lines = formatted.splitlines()
    i = lines.index("    " + source_line)
    caret = lines[i + 1]
    assert caret.startswith("    ") and set(caret.strip()) == {"^"}, caret
    return caret.index("^") - 4 + 1


def _assert_at(d: Diagnostic, source: str, line: int, column: int, *fragments: str) -> None:
    assert (d.line, d.column) == (line, column), d.format()
    assert d.severity == "error"
    for fragment in fragments:
        assert fragment in d.message, d.format()
    text = d.format()
    assert text.startswith(f"{RULES}:{line}:{column}: error: ")
    source_line = source.splitlines()[line - 1]
    assert d.source_line == source_line
    assert _caret_column(text, source_line) == column


# Each case: rules text, line, column, fragments the message must hold. The text has exactly
# one error.
CASES = {
    "syntax: stray =": (
        'route a when model = "x" to "fast"\ndefault to model\n',
        1,
        20,
        ("unexpected character '='",),
    ),
    "syntax: missing to": (
        '# routing\nroute a when model == "x" to "fast"\nroute b when tokens > 10 "fast"\n'
        "default to model\n",
        3,
        26,
        ('unexpected "fast"', "strip", "to"),
    ),
    "syntax: unterminated regex": (
        'route a when model ~ /claude\n  to "fast"\ndefault to model\n',
        1,
        22,
        ("unexpected character '/'", "same line"),
    ),
    "syntax: end of file": (
        'route a when model == "x" to\n',
        1,
        29,
        ("unexpected end of file", '"string"'),
    ),
    "syntax: in needs a list": (
        'route a when model in "x" to "fast"\ndefault to model\n',
        1,
        23,
        ('unexpected "x"', "expected ["),
    ),
    "bad regex": (
        'route a when model ~ /(unclosed/ to "fast"\ndefault to model\n',
        1,
        22,
        ("bad regex /(unclosed/", "missing )"),
    ),
    "bad regex in !~ inside not": (
        'route a when tokens > 1 and not (system !~ /a{2,1}/) to "fast"\ndefault to model\n',
        1,
        44,
        ("bad regex /a{2,1}/",),
    ),
    "unknown field": (
        'route a when modle == "x" to "fast"\ndefault to model\n',
        1,
        14,
        ("unknown field 'modle'", "original_model", "header("),
    ),
    "unknown dotted field": (
        'route a when tokens > 5 or thinking.budgett > 10 to "fast"\ndefault to model\n',
        1,
        28,
        ("unknown field 'thinking.budgett'",),
    ),
    "literal target names nothing": (
        'route a when model == "x" to "nosuch"\ndefault to model\n',
        1,
        30,
        ('target "nosuch"', "[[models]]"),
    ),
    "literal pair with unknown provider": (
        'route a when model == "x" to "ghost,glm-4.6"\ndefault to model\n',
        1,
        30,
        ('target "ghost,glm-4.6"',),
    ),
    "literal target inside a list": (
        'route a when model == "x" to ["fast", "nope"]\ndefault to model\n',
        1,
        39,
        ('target "nope"',),
    ),
    "literal default target": (
        'default to "nosuch"\n',
        1,
        12,
        ('target "nosuch"',),
    ),
    "literal rewrite target": (
        'rewrite when model ~ /^claude-/ to "minimax-m2"\ndefault to model\n',
        1,
        36,
        ('target "minimax-m2"',),
    ),
    "unknown target word": (
        "default to modle\n",
        1,
        12,
        ("unknown target word 'modle'", '("modle")'),
    ),
    "missing default": (
        'route a when model == "x" to "fast"\n',
        1,
        36,
        ("missing `default to ...`",),
    ),
    "missing default after comment": (
        'route a when model == "x" to "fast"\n# the end\n',
        2,
        10,
        ("missing `default to ...`",),
    ),
    "rewrite after route": (
        'route a when model == "x" to "fast"\nrewrite when model ~ /^claude-/ to "fast"\n'
        "default to model\n",
        2,
        1,
        ("rewrite must come before every route",),
    ),
    "duplicate route name": (
        'route a when model == "x" to "fast"\nroute b when model == "z" to "fast"\n'
        'route a when model == "y" to "fast"\ndefault to model\n',
        3,
        1,
        ("duplicate route name 'a'", "first at line 1"),
    ),
    "unbound capture": (
        "route a when model ~ /(?P<n>x)/ to $m\ndefault to model\n",
        1,
        36,
        ("$m is not bound", "(?P<m>...)"),
    ),
    "unbound capture in a string target": (
        'route a when model ~ /x/ to "zai,$m"\ndefault to model\n',
        1,
        29,
        ("$m is not bound",),
    ),
    "capture bound only under not": (
        "route a when not model ~ /(?P<n>x)/ to $n\ndefault to model\n",
        1,
        40,
        ("$n is not bound",),
    ),
    "capture bound by another rule": (
        "route a when model ~ /(?P<n>x)/ to $n\nroute b when tokens > 1 to $n\ndefault to model\n",
        2,
        28,
        ("$n is not bound",),
    ),
    "strip without a regex on system/last_user": (
        'route a when model ~ /x/ strip to "fast"\ndefault to model\n',
        1,
        1,
        ("`strip` needs a `~ /regex/` on system or last_user",),
    ),
    "strip with a negated system regex": (
        'route a when not system ~ /x/ strip to "fast"\ndefault to model\n',
        1,
        1,
        ("`strip` needs",),
    ),
    "strip with !~ on last_user": (
        'route a when last_user !~ /x/ strip to "fast"\ndefault to model\n',
        1,
        1,
        ("`strip` needs",),
    ),
    "type: tokens ~ regex": (
        'route a when tokens ~ /x/ to "fast"\ndefault to model\n',
        1,
        14,
        ("tokens is a number", "`~` does not apply", ">="),
    ),
    "type: model > 5": (
        'route a when model > 5 to "fast"\ndefault to model\n',
        1,
        14,
        ("model is text", "`>` does not apply"),
    ),
    'type: thinking == "yes"': (
        'route a when thinking == "yes" to "fast"\ndefault to model\n',
        1,
        26,
        ("thinking is true/false", "cannot compare it with text"),
    ),
    "type: model == 5": (
        'route a when model == 5 to "fast"\ndefault to model\n',
        1,
        23,
        ("model is text", "a number"),
    ),
    "type: tokens == text": (
        'route a when tokens == "60k" to "fast"\ndefault to model\n',
        1,
        24,
        ("tokens is a number", "text"),
    ),
    "type: !~ needs a regex": (
        'route a when model !~ "claude" to "fast"\ndefault to model\n',
        1,
        23,
        ("`!~` needs a /regex/",),
    ),
    "syntax: == with a list": (
        'route a when model == ["a"] to "fast"\ndefault to model\n',
        1,
        23,
        ("unexpected [", '"string"'),
    ),
    "type: list of numbers for text": (
        'route a when effort in ["high", 3] to "fast"\ndefault to model\n',
        1,
        33,
        ("effort is text", "a number"),
    ),
    "rewrite to a list": (
        'rewrite to ["fast", "fast"]\ndefault to model\n',
        1,
        12,
        ("single model name, not a list",),
    ),
    "statement after default": (
        'default to model\nroute a when model == "x" to "fast"\n',
        2,
        1,
        ("nothing may follow `default` (line 1)",),
    ),
}


@pytest.mark.parametrize(("source", "line", "column", "fragments"), CASES.values(), ids=CASES)
def test_check_error(
    resolver: Resolver, source: str, line: int, column: int, fragments: tuple[str, ...]
) -> None:
    errors = _errors(source, resolver)
    assert len(errors) == 1, "\n".join(d.format() for d in errors)
    _assert_at(errors[0], source, line, column, *fragments)


@pytest.mark.parametrize("kind", ["route a when", "rewrite when"])
def test_match_needs_a_regex(resolver: Resolver, kind: str) -> None:
    source = f'{kind} model ~ "claude" to "fast"\ndefault to model\n'
    (d,) = _errors(source, resolver)
    column = len(kind) + len(" model ~ ") + 1
    _assert_at(d, source, 1, column, "`~` needs a /regex/")


def test_caret_underlines_the_whole_token(resolver: Resolver) -> None:
    source = 'route a when modle == "x" to "fast"\ndefault to model\n'
    (d,) = _errors(source, resolver)
    caret = d.format().splitlines()[-1]
    assert caret == "    " + " " * 13 + "^" * len("modle")


def test_all_errors_are_reported_not_just_the_first(resolver: Resolver) -> None:
    source = (
        'route a when modle == "x" to "nosuch"\n'
        'route a when tokens ~ /x/ to "fast"\n'
        'route b when model ~ /x/ strip to "fast"\n'
    )
    found = {(d.line, d.column, d.message.split(" ")[0]) for d in _errors(source, resolver)}
    assert found == {
        (1, 14, "unknown"),  # field
        (1, 30, "target"),  # "nosuch"
        (2, 1, "duplicate"),
        (2, 14, "tokens"),  # ~ on a number
        (3, 1, "`strip`"),
        (3, 41, "missing"),  # default
    }


def test_file_name_is_kept_in_diagnostics(resolver: Resolver) -> None:
    with pytest.raises(DiagnosticError) as info:
        compile_rules(parse_rules("default to modle\n", "/etc/ccm/my.rules"), resolver)
    assert str(info.value).startswith("/etc/ccm/my.rules:1:12: error:")


GOOD = """\
# every kind of target and condition the small config supports
rewrite when model ~ /^claude-3-(?P<size>\\w+)/ to "glm-$size"
route web   when tools.type ~ /^web_search/ and not image to "zai,glm-4.6"
route sub   when system ~ /<M>(?P<name>[^<]+)<\\/M>/ strip to $name
route ask   when last_user ~ /^!fast/ strip to "fast"
route long  when tokens > 60k or messages >= 1_000 to ["fast", "glm-4.6"]
route team  when header("X-Team") in ["a", "b"] and stream == true to original_model
route think when thinking and thinking.budget > 1k and effort != "low" to "claude-opus-4-1"
default to model
"""


def test_good_rules_compile(resolver: Resolver) -> None:
    router = compile_rules(parse_rules(GOOD, RULES), resolver)
    assert router.warnings == []
    assert [r.name for r in router.routes] == ["web", "sub", "ask", "long", "team", "think"]
    assert len(router.rewrites) == 1 and router.default is not None


def test_without_config_target_names_are_not_checked() -> None:
    rules = parse_rules('route a when model == "x" to "anything"\ndefault to "else"\n', RULES)
    assert check_rules(rules, None) == []


# ---- a rule after an always-true one --------------------------------------


def test_route_after_always_true_route(resolver: Resolver) -> None:
    source = (
        'route all when true to "fast"\nroute b when model == "x" to "fast"\ndefault to model\n'
    )
    errors = _errors(source, resolver)
    # line 2 is unreachable; so is the default on line 3
    assert [(d.line, d.column) for d in errors] == [(2, 1), (3, 1)]
    _assert_at(errors[0], source, 2, 1, "unreachable", "'all'", "line 1", "always holds")


def test_default_after_always_true_route(resolver: Resolver) -> None:
    source = 'route all when true to "fast"\ndefault to model\n'
    (d,) = _errors(source, resolver)
    _assert_at(d, source, 2, 1, "unreachable", "always holds", "make it the default")


def test_always_true_through_not_and_or(resolver: Resolver) -> None:
    source = 'route all when image or not false to "fast"\ndefault to model\n'
    (d,) = _errors(source, resolver)
    _assert_at(d, source, 2, 1, "unreachable")


def _span(line: int, col: int, text: str, start: int) -> ast.Span:
    return ast.Span(line, col, line, col + len(text), start, start + len(text))


def test_unreachable_check_itself_with_a_constant_condition() -> None:
    """check.py's logic on a hand-built tree (as the parser should build it for `when true`)."""
    lines = ['route all when true to "fast"', 'route b when true to "fast"', "default to model"]
    source = "\n".join(lines) + "\n"
    starts = [0, len(lines[0]) + 1, len(lines[0]) + len(lines[1]) + 2]
    stmts: list[ast.Statement] = []
    for i, name in enumerate(["all", "b"]):
        s = starts[i]
        stmts.append(
            ast.Route(
                name,
                ast.Const(True, _span(i + 1, 14, "true", s + 13)),
                False,
                ast.NameTarget("fast", _span(i + 1, 24, '"fast"', s + 23)),
                _span(i + 1, 1, lines[i], s),
            )
        )
    stmts.append(
        ast.Default(
            ast.WordTarget("model", _span(3, 12, "model", starts[2] + 11)),
            _span(3, 1, lines[2], starts[2]),
        )
    )
    diags = check_rules(ast.RulesFile(RULES, source, tuple(stmts)), None)
    assert [(d.line, d.column, d.severity) for d in diags] == [(2, 1, "error"), (3, 1, "error")]
    assert "unreachable: route 'all' at line 1 always holds" in diags[0].message
    assert "make it the default" in diags[1].message
    assert _caret_column(diags[0].format(), lines[1]) == 1


# ---- the command line -------------------------------------------------------


GOOD_CONFIG = CONFIG
GOOD_RULES = 'route web when tools.type ~ /^web_search/ to "fast"\ndefault to model\n'


def _ccm(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CCM_CONFIG"}
    env["HOME"] = str(cwd)  # never read the user's ~/.claude-code-mux
    return subprocess.run(
        [sys.executable, "-m", "ccm.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _write(tmp_path: Path, config: str, rules: str) -> tuple[Path, Path]:
    cfg = tmp_path / "config.toml"
    cfg.write_text(config, encoding="utf-8")
    rules_path = tmp_path / "routing.rules"
    rules_path.write_text(rules, encoding="utf-8")
    return cfg, rules_path


def _check(tmp_path: Path, rules: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`ccm check` of `rules` with the good config: its result and the rules file."""
    cfg, rules_path = _write(tmp_path, GOOD_CONFIG, rules)
    return _ccm("check", "--config", cfg, "--rules", rules_path, cwd=tmp_path), rules_path


def _assert_cli_points_at(
    stderr: str, path: Path, line: int, column: int, source_line: str
) -> None:
    assert f"{path}:{line}:{column}: error: " in stderr, stderr
    assert _caret_column(stderr, source_line) == column, stderr


CLI_CASES = {
    "syntax": ('route a when model = "x" to "fast"\ndefault to model\n', 1, 20, "unexpected"),
    "bad regex": (
        '# regexes are Python\nroute a when system ~ /(?P<x/ to "fast"\ndefault to model\n',
        2,
        23,
        "bad regex",
    ),
    "unknown field": (
        'route a when tokens > 1k and toolz ~ /x/ to "fast"\ndefault to model\n',
        1,
        30,
        "unknown field 'toolz'",
    ),
    "unknown target": (
        'route a when image to "gpt-4o"\ndefault to model\n',
        1,
        23,
        'target "gpt-4o"',
    ),
    "missing default": ('route a when image to "fast"\n', 1, 29, "missing `default"),
}


@pytest.mark.parametrize(("rules", "line", "column", "fragment"), CLI_CASES.values(), ids=CLI_CASES)
def test_cli_check_reports_error(
    tmp_path: Path, rules: str, line: int, column: int, fragment: str
) -> None:
    result, rules_path = _check(tmp_path, rules)
    assert result.returncode == 1, result.stderr
    _assert_cli_points_at(result.stderr, rules_path, line, column, rules.splitlines()[line - 1])
    assert fragment in result.stderr
    assert result.stderr.rstrip().endswith("1 error")
    assert "ok" not in result.stdout


def test_cli_check_counts_every_error(tmp_path: Path) -> None:
    rules = 'route a when modle == "x" to "nosuch"\nroute a when image to "fast"\n'
    result, rules_path = _check(tmp_path, rules)
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("4 errors")
    for where in ("1:14", "1:30", "2:1", "2:29"):
        assert f"{rules_path}:{where}: error:" in result.stderr


def test_cli_check_good_file(tmp_path: Path) -> None:
    result, rules_path = _check(tmp_path, GOOD_RULES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
    assert str(rules_path) in result.stdout
    assert result.stderr == ""


def test_cli_check_uses_the_rules_file_the_config_names(tmp_path: Path) -> None:
    config = GOOD_CONFIG + '\n[router]\nrules = "routing.rules"\n'
    cfg, rules_path = _write(tmp_path, config, 'route a when image to "gpt-4o"\ndefault to model\n')
    result = _ccm("check", "--config", cfg, cwd=tmp_path)
    assert result.returncode == 1
    _assert_cli_points_at(result.stderr, rules_path, 1, 23, 'route a when image to "gpt-4o"')

    rules_path.write_text(GOOD_RULES, encoding="utf-8")
    result = _ccm("check", "--config", cfg, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_cli_check_config_error(tmp_path: Path) -> None:
    cfg, rules_path = _write(tmp_path, '[server]\nhost = "x"\nport = "abc"\n', GOOD_RULES)
    result = _ccm("check", "--config", cfg, "--rules", rules_path, cwd=tmp_path)
    assert result.returncode == 1
    assert f"{cfg}:3:1: error: server.port" in result.stderr
    assert _caret_column(result.stderr, 'port = "abc"') == 1


def test_cli_check_warnings_do_not_fail(tmp_path: Path) -> None:
    # an unset key on a provider no literal target depends on alone is a warning (the
    # claude-* pass-through fails over); `ccm check` fails only when nothing could serve
    head, sep, tail = GOOD_CONFIG.partition('name = "anthropic"')
    config = head + sep + tail.replace('api_key = "k"', 'api_key = "$CCM_TEST_UNSET_VAR"', 1)
    config += '\n[server]\ncolour = "red"\n'
    cfg, rules_path = _write(tmp_path, config, GOOD_RULES)
    result = _ccm("check", "--config", cfg, "--rules", rules_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    line = config[: config.index("$CCM_TEST_UNSET_VAR")].count("\n") + 1
    assert f"{cfg}:{line}:1: warning:" in result.stderr and "$CCM_TEST_UNSET_VAR" in result.stderr
    assert "unknown key `server.colour`" in result.stderr


def test_cli_check_missing_rules_file(tmp_path: Path) -> None:
    cfg, _ = _write(tmp_path, GOOD_CONFIG, GOOD_RULES)
    missing = tmp_path / "missing.rules"
    result = _ccm("check", "--config", cfg, "--rules", missing, cwd=tmp_path)
    assert result.returncode == 1
    assert f"{missing}: error: cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_check_unreachable_rule(tmp_path: Path) -> None:
    rules = 'route all when true to "fast"\nroute b when image to "fast"\ndefault to model\n'
    result, rules_path = _check(tmp_path, rules)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "AttributeError" not in result.stderr
    _assert_cli_points_at(result.stderr, rules_path, 2, 1, 'route b when image to "fast"')
    assert "unreachable" in result.stderr
