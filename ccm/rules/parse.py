"""Rules text -> syntax tree (ccm.rules.ast), with lark and grammar/ccm.lark."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ccm.diagnostics import Diagnostic, DiagnosticError, at
from ccm.rules import ast

_PKG = Path(__file__).resolve().parent.parent


def _grammar_path() -> Path:
    # installed wheel: ccm/_data/grammar; source checkout / editable install: ./grammar
    for candidate in (
        _PKG / "_data" / "grammar" / "ccm.lark",
        _PKG.parent / "grammar" / "ccm.lark",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("grammar/ccm.lark not found")


@cache
def _parser() -> Lark:
    return Lark(
        _grammar_path().read_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
    )


_READABLE = {
    "NAME": "a name",
    "STRING": 'a "string"',
    "NUMBER": "a number",
    "REGEX": "a /regex/",
    "CAPTURE": "a $capture",
    "OP": "a comparison (== != < <= > >= ~ !~)",
    "IN": "in",
    "NOT_IN": "not in",
    "STRIP": "strip",
    "LPAR": "(",
    "RPAR": ")",
    "LSQB": "[",
    "RSQB": "]",
    "COMMA": ",",
    "LBRACE": "{",
    "RBRACE": "}",
    "$END": "end of file",
}


def _readable(term: str) -> str:
    if term in _READABLE:
        return _READABLE[term]
    # anonymous keyword terminals are named after their text, e.g. WHEN, TO, AND
    return term.lower()


def _span(meta_or_token: object) -> ast.Span:
    m = meta_or_token
    return ast.Span(
        m.line,  # type: ignore[attr-defined]
        m.column,  # type: ignore[attr-defined]
        m.end_line,  # type: ignore[attr-defined]
        m.end_column,  # type: ignore[attr-defined]
        m.start_pos,  # type: ignore[attr-defined]
        m.end_pos,  # type: ignore[attr-defined]
    )


def parse_number(text: str) -> float:
    t = text.replace("_", "")
    scale = 1
    if t[-1] in "kK":
        scale, t = 1000, t[:-1]
    elif t[-1] in "mM":
        scale, t = 1_000_000, t[:-1]
    value = float(t) * scale
    return int(value) if value.is_integer() else value


class _ToAst(Transformer):
    """Builds ast nodes; collects problems with literals instead of stopping at the first."""

    def __init__(self, path: str, source: str) -> None:
        super().__init__()
        self.path = path
        self.source = source
        self.problems: list[Diagnostic] = []

    def _bad(self, tok: Token, message: str) -> None:
        self.problems.append(
            at(self.path, self.source, tok.line or 0, tok.column or 0, message, width=len(tok))
        )

    # values
    def _text(self, tok: Token) -> str:
        """A string literal's value (JSON escapes); its raw inside, with an error, when an
        escape is bad."""
        try:
            return json.loads(tok)
        except json.JSONDecodeError:
            self._bad(tok, f"bad escape in string {tok}")
            return tok[1:-1]

    def string(self, children: list[Token]) -> ast.Str:
        (tok,) = children
        return ast.Str(self._text(tok), _span(tok))

    def number(self, children: list[Token]) -> ast.Num:
        (tok,) = children
        return ast.Num(parse_number(tok), str(tok), _span(tok))

    def regex(self, children: list[Token]) -> ast.Regex:
        (tok,) = children
        return ast.Regex(tok[1:-1], _span(tok))

    @v_args(meta=True)
    def true(self, meta: object, _children: list) -> ast.BoolLit:
        return ast.BoolLit(True, _span(meta))

    @v_args(meta=True)
    def false(self, meta: object, _children: list) -> ast.BoolLit:
        return ast.BoolLit(False, _span(meta))

    @v_args(meta=True)
    def const_true(self, meta: object, _children: list) -> ast.Const:
        return ast.Const(True, _span(meta))

    @v_args(meta=True)
    def const_false(self, meta: object, _children: list) -> ast.Const:
        return ast.Const(False, _span(meta))

    @v_args(meta=True)
    def list(self, meta: object, children: list) -> ast.ListLit:
        items = tuple(c for c in children if c is not None)
        return ast.ListLit(items, _span(meta))

    # fields and conditions
    def field(self, children: list[Token]) -> ast.Field:
        (tok,) = children
        return ast.Field(str(tok), None, _span(tok))

    @v_args(meta=True)
    def header_field(self, meta: object, children: list[Token]) -> ast.Field:
        (tok,) = children
        return ast.Field("header", self._text(tok).lower(), _span(meta))

    @v_args(meta=True)
    def comparison(self, meta: object, children: list) -> ast.Compare:
        field, op, value = children
        op_text = "not in" if op.type == "NOT_IN" else str(op)
        return ast.Compare(field, op_text, value, _span(meta))

    @v_args(meta=True)
    def truthy(self, meta: object, children: list) -> ast.Truthy:
        (field,) = children
        return ast.Truthy(field, _span(meta))

    @v_args(meta=True)
    def not_expr(self, meta: object, children: list) -> ast.Not:
        (operand,) = children
        return ast.Not(operand, _span(meta))

    @v_args(meta=True)
    def and_expr(self, meta: object, children: list) -> ast.And:
        return ast.And(tuple(children), _span(meta))

    @v_args(meta=True)
    def or_expr(self, meta: object, children: list) -> ast.Or:
        return ast.Or(tuple(children), _span(meta))

    # targets
    def name_target(self, children: list[Token]) -> ast.NameTarget:
        s = self.string(children)
        return ast.NameTarget(s.value, s.span)

    def word_target(self, children: list[Token]) -> ast.WordTarget:
        (tok,) = children
        return ast.WordTarget(str(tok), _span(tok))

    def capture_target(self, children: list[Token]) -> ast.CaptureTarget:
        (tok,) = children
        return ast.CaptureTarget(str(tok)[1:], _span(tok))

    @v_args(meta=True)
    def list_target(self, meta: object, children: list) -> ast.ListTarget:
        return ast.ListTarget(tuple(children), _span(meta))

    # statements
    @v_args(meta=True)
    def rewrite(self, meta: object, children: list) -> ast.Rewrite:
        cond, target = children
        return ast.Rewrite(cond, target, _span(meta))

    @v_args(meta=True)
    def route(self, meta: object, children: list) -> ast.Route:
        name, cond, strip, target = children
        return ast.Route(str(name), cond, strip is not None, target, _span(meta))

    @v_args(meta=True)
    def default(self, meta: object, children: list) -> ast.Default:
        (target,) = children
        return ast.Default(target, _span(meta))

    @v_args(meta=True)
    def project(self, meta: object, children: list) -> ast.Project:
        tok, *statements = children
        pattern = self.string([tok])
        return ast.Project(pattern.value, pattern.span, tuple(statements), _span(meta))

    def start(self, children: list) -> tuple:
        return tuple(children)


def _one_of(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return "one of: " + ", ".join(items)


def _syntax_error(path: str, source: str, e: UnexpectedInput) -> Diagnostic:
    line, column = e.line if e.line > 0 else 1, e.column if e.column > 0 else 1
    if (isinstance(e, UnexpectedToken) and e.token.type == "$END") or isinstance(e, UnexpectedEOF):
        lines = source.splitlines() or [""]
        line = len(lines)
        column = len(lines[-1]) + 1
        expected = sorted({_readable(t) for t in getattr(e, "expected", ()) or ()})
        msg = "unexpected end of file"
        if expected:
            msg += "; expected " + _one_of(expected)
        return at(path, source, line, column, msg)
    if isinstance(e, UnexpectedToken):
        expected = sorted({_readable(t) for t in e.accepts or e.expected})
        msg = f"unexpected {e.token!s}"
        if expected:
            msg += "; expected " + _one_of(expected)
        return at(path, source, line, column, msg, width=len(str(e.token)) or 1)
    if isinstance(e, UnexpectedCharacters):
        ch = source[e.pos_in_stream] if 0 <= e.pos_in_stream < len(source) else "?"
        hint = ""
        if ch == "/":
            hint = " (a /regex/ must end on the same line)"
        elif ch == '"':
            hint = " (a string must end on the same line)"
        return at(path, source, line, column, f"unexpected character {ch!r}{hint}")
    return at(path, source, line, column, str(e))


def parse_rules(source: str, path: str = "<rules>") -> ast.RulesFile:
    """Parse rules text. Raises DiagnosticError with file:line:col on any syntax problem."""
    try:
        tree: Tree = _parser().parse(source)
    except UnexpectedInput as e:
        raise DiagnosticError([_syntax_error(path, source, e)]) from None
    builder = _ToAst(path, source)
    statements = builder.transform(tree)
    if builder.problems:
        raise DiagnosticError(builder.problems)
    return ast.RulesFile(path, source, statements)
