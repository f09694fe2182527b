"""Static checks on a parsed rules file: everything that can be known wrong before a request.

Errors: bad regex, unknown field, a comparison the field's type cannot make, a literal target
naming no model or provider, an unbound $capture, `strip` with nothing to strip, a rule after
an always-true one, rewrite after route, a missing or misplaced default, duplicate names.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator

from ccm.diagnostics import Diagnostic, at
from ccm.rules import ast
from ccm.rules.features import STRIP_SLOTS, field_type

_CAPTURE_IN_TEXT = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
TARGET_WORDS = ("model", "original_model")

_OPS_BY_TYPE = {
    "str": {"==", "!=", "~", "!~", "in", "not in"},
    "list": {"==", "!=", "~", "!~", "in", "not in"},
    "int": {"==", "!=", "<", "<=", ">", ">=", "in", "not in"},
    "bool": {"==", "!="},
}


def const_value(cond: ast.Cond | None) -> bool | None:
    """True/False when a condition's outcome is known without a request, else None."""
    if cond is None:
        return True
    if isinstance(cond, ast.Const):
        return cond.value
    if isinstance(cond, ast.Not):
        v = const_value(cond.operand)
        return None if v is None else not v
    if isinstance(cond, ast.And):
        values = [const_value(c) for c in cond.items]
        if False in values:
            return False
        return True if all(v is True for v in values) else None
    if isinstance(cond, ast.Or):
        values = [const_value(c) for c in cond.items]
        if True in values:
            return True
        return False if all(v is False for v in values) else None
    return None


def leaves(cond: ast.Cond | None) -> Iterator[ast.Compare | ast.Truthy]:
    if cond is None or isinstance(cond, ast.Const):
        return
    if isinstance(cond, ast.Compare | ast.Truthy):
        yield cond
    elif isinstance(cond, ast.Not):
        yield from leaves(cond.operand)
    else:
        for c in cond.items:
            yield from leaves(c)


def positive_matches(cond: ast.Cond | None, negated: bool = False) -> Iterator[ast.Compare]:
    """`~` comparisons that hold when the condition holds (not under a `not`)."""
    if cond is None or isinstance(cond, ast.Const | ast.Truthy):
        return
    if isinstance(cond, ast.Compare):
        if cond.op == "~" and not negated:
            yield cond
    elif isinstance(cond, ast.Not):
        yield from positive_matches(cond.operand, not negated)
    else:
        for c in cond.items:
            yield from positive_matches(c, negated)


def bound_captures(cond: ast.Cond | None) -> set[str]:
    names: set[str] = set()
    for cmp in positive_matches(cond):
        if not isinstance(cmp.value, ast.Regex):
            continue  # reported by _check_value
        with contextlib.suppress(re.error):
            names.update(re.compile(cmp.value.pattern).groupindex)
    return names


def target_names(target: ast.Target) -> Iterator[ast.Target]:
    if isinstance(target, ast.ListTarget):
        for t in target.items:
            yield from target_names(t)
    else:
        yield target


def check_rules(
    rules: ast.RulesFile,
    knows: Callable[[str], bool] | None,
    suggest: Callable[[str], str | None] | None = None,
) -> list[Diagnostic]:
    """All problems in `rules`. `knows(name)` says whether a model/provider target exists;
    None skips target checks (no config at hand). `suggest(name)` offers the closest known
    name for a target that names none."""
    if knows is not None and suggest is not None:
        knows = _Known(knows, suggest)
    out: list[Diagnostic] = []

    def err(span: ast.Span, message: str, severity: str = "error") -> None:
        width = span.end_pos - span.start_pos if span.end_line == span.line else 1
        out.append(at(rules.path, rules.source, span.line, span.column, message, severity, width))

    scope = _Scope(err, knows)
    seen_project: ast.Project | None = None
    for st in rules.statements:
        if not scope.reachable(st):
            continue
        if isinstance(st, ast.Rewrite):
            if scope.seen_route or seen_project is not None:
                err(st.span, "rewrite must come before every route (rewrites run first)")
            _check_cond(st.cond, err)
            if isinstance(st.target, ast.ListTarget):
                err(st.target.span, "rewrite needs a single model name, not a list")
            _check_target(st.target, st.cond, err, knows)
        elif isinstance(st, ast.Project):
            seen_project = st
            if scope.seen_route:
                err(
                    st.span,
                    "a project block must come before every route outside it (its routes apply first)",
                )
            _check_project(st, err, knows)
        else:
            scope.statement(st)
    if scope.default_at is None:
        lines = rules.source.splitlines() or [""]
        out.append(
            at(
                rules.path,
                rules.source,
                len(lines),
                len(lines[-1]) + 1 if lines[-1] else 1,
                "missing `default to ...` at the end (e.g. `default to model`)",
            )
        )
    return out


class _Scope:
    """Routes and a default read in order: the file's, or one project block's."""

    def __init__(self, err: Callable[..., None], knows: Callable[[str], bool] | None) -> None:
        self.err = err
        self.knows = knows
        self.seen_route = False
        self.default_at: ast.Default | None = None
        self.always: ast.Route | None = None
        self.names: dict[str, ast.Route] = {}

    def reachable(self, st: ast.Statement) -> bool:
        """Reports a statement after `default` (False: not checked further) or after an
        always-true route (checked all the same)."""
        if self.default_at is not None:
            self.err(
                st.span,
                f"nothing may follow `default` (line {self.default_at.span.line}): it must be last",
            )
            return False
        if self.always is not None:
            self.err(
                st.span,
                f"unreachable: route {self.always.name!r} at line {self.always.span.line} always holds"
                + ("; make it the default" if isinstance(st, ast.Default) else ""),
            )
        return True

    def statement(self, st: ast.Route | ast.Default, checked: bool = True) -> None:
        err = self.err
        if not checked and not self.reachable(st):
            return
        if isinstance(st, ast.Default):
            self.default_at = st
            _check_target(st.target, None, err, self.knows)
            return
        self.seen_route = True
        if st.name in self.names:
            err(
                st.span,
                f"duplicate route name {st.name!r} (first at line {self.names[st.name].span.line})",
            )
        self.names[st.name] = st
        _check_cond(st.cond, err)
        _check_target(st.target, st.cond, err, self.knows)
        if st.strip and not any(c.field.name in STRIP_SLOTS for c in positive_matches(st.cond)):
            err(st.span, "`strip` needs a `~ /regex/` on system or last_user in the condition")
        v = const_value(st.cond)
        if v is True and self.always is None:
            self.always = st
        elif v is False:
            err(st.cond.span, f"route {st.name!r} never holds", "warning")


def _check_project(
    block: ast.Project, err: Callable[..., None], knows: Callable[[str], bool] | None
) -> None:
    if not block.pattern.strip():
        err(block.pattern_span, 'project needs a directory or a glob, e.g. project "~/work/*"')
    elif not (block.pattern.startswith(("/", "~", "*")) or ":" in block.pattern[:3]):
        err(
            block.pattern_span,
            f"project {block.pattern!r}: give an absolute directory (or ~/..., or a glob "
            "starting with *): Claude Code states absolute paths",
        )
    if not block.statements:
        err(block.span, f"project {block.pattern!r} has no routes", "warning")
    scope = _Scope(err, knows)
    for st in block.statements:
        scope.statement(st, checked=False)


def _check_cond(cond: ast.Cond | None, err: Callable[..., None]) -> None:
    for leaf in leaves(cond):
        ftype = field_type(leaf.field.name)
        if ftype is None:
            from ccm.rules.features import FIELDS

            err(
                leaf.field.span,
                f'unknown field {leaf.field.name!r}; fields: {", ".join(FIELDS)}, header("name")',
            )
            continue
        if isinstance(leaf, ast.Truthy):
            continue
        ops = _OPS_BY_TYPE[ftype]
        if leaf.op not in ops:
            err(
                leaf.span,
                f"{leaf.field.label} is {_kind(ftype)}; `{leaf.op}` does not apply (use {' '.join(sorted(ops))})",
            )
            continue
        values = leaf.value.items if isinstance(leaf.value, ast.ListLit) else (leaf.value,)
        if leaf.op in ("in", "not in") and not isinstance(leaf.value, ast.ListLit):
            err(leaf.value.span, f"`{leaf.op}` needs a [list]")
            continue
        if leaf.op not in ("in", "not in") and isinstance(leaf.value, ast.ListLit):
            err(leaf.value.span, f"`{leaf.op}` compares with one value, not a list (use `in`)")
            continue
        for v in values:
            _check_value(leaf, ftype, v, err)


def _kind(ftype: str) -> str:
    return {"str": "text", "list": "a list of text", "int": "a number", "bool": "true/false"}[ftype]


def _check_value(leaf: ast.Compare, ftype: str, v: ast.Value, err: Callable[..., None]) -> None:
    if leaf.op in ("~", "!~"):
        if not isinstance(v, ast.Regex):
            err(v.span, f"`{leaf.op}` needs a /regex/")
            return
        try:
            re.compile(v.pattern)
        except re.error as e:
            err(v.span, f"bad regex /{v.pattern}/: {e}")
        return
    want = {"str": ast.Str, "list": ast.Str, "int": ast.Num, "bool": ast.BoolLit}[ftype]
    if not isinstance(v, want):
        err(v.span, f"{leaf.field.label} is {_kind(ftype)}; cannot compare it with {_describe(v)}")


def _describe(v: ast.Value) -> str:
    if isinstance(v, ast.Regex):
        return "a regex (use ~)"
    if isinstance(v, ast.Num):
        return "a number"
    if isinstance(v, ast.BoolLit):
        return "true/false"
    return "text"


def _check_target(
    target: ast.Target,
    cond: ast.Cond | None,
    err: Callable[..., None],
    knows: Callable[[str], bool] | None,
) -> None:
    bound = bound_captures(cond)
    for t in target_names(target):
        if isinstance(t, ast.WordTarget):
            if t.word not in TARGET_WORDS:
                err(
                    t.span,
                    f'unknown target word {t.word!r}; write a name in quotes ("{t.word}"), `model` or `original_model`',
                )
        elif isinstance(t, ast.CaptureTarget):
            if t.name not in bound:
                err(
                    t.span,
                    f"${t.name} is not bound by a (?P<{t.name}>...) group in this rule's condition",
                )
        elif isinstance(t, ast.NameTarget):
            refs = _CAPTURE_IN_TEXT.findall(t.text)
            for ref in refs:
                if ref not in bound:
                    err(
                        t.span,
                        f"${ref} is not bound by a (?P<{ref}>...) group in this rule's condition",
                    )
            if not refs and knows is not None and not knows(t.text):
                close = knows.suggest(t.text) if isinstance(knows, _Known) else None
                hint = f'; did you mean "{close}"?' if close else ""
                err(
                    t.span,
                    f'target "{t.text}" names no [[models]] entry, provider model or "provider,model" pair{hint}',
                )


class _Known:
    """`knows` with a `suggest` beside it."""

    def __init__(self, knows: Callable[[str], bool], suggest: Callable[[str], str | None]) -> None:
        self.knows = knows
        self.suggest = suggest

    def __call__(self, name: str) -> bool:
        return self.knows(name)
