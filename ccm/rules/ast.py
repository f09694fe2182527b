"""Syntax tree of a rules file. Every node keeps the span it came from for errors and explain."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int
    start_pos: int
    end_pos: int


# ---- values -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Num:
    value: float
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: str
    span: Span


@dataclass(frozen=True, slots=True)
class BoolLit:
    value: bool
    span: Span


Value = Str | Num | Regex | BoolLit


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Value, ...]
    span: Span


# ---- conditions ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # e.g. "thinking.budget"; "header" for header("x-name")
    arg: str | None  # the header name, lower-cased
    span: Span

    @property
    def label(self) -> str:
        return f'header("{self.arg}")' if self.arg is not None else self.name


@dataclass(frozen=True, slots=True)
class Compare:
    field: Field
    op: str  # == != < <= > >= ~ !~ in "not in"
    value: Value | ListLit
    span: Span


@dataclass(frozen=True, slots=True)
class Truthy:
    field: Field
    span: Span


@dataclass(frozen=True, slots=True)
class Const:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    operand: Cond
    span: Span


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Cond, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Cond, ...]
    span: Span


Cond = Compare | Truthy | Const | Not | And | Or


# ---- targets ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NameTarget:
    """A [[models]] name or a "provider,model" pair; may hold $captures."""

    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class WordTarget:
    """A bare word: `model` (the current name) or `original_model`."""

    word: str
    span: Span


@dataclass(frozen=True, slots=True)
class CaptureTarget:
    name: str  # without the $
    span: Span


@dataclass(frozen=True, slots=True)
class ListTarget:
    items: tuple[Target, ...]
    span: Span


Target = NameTarget | WordTarget | CaptureTarget | ListTarget


# ---- statements ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rewrite:
    cond: Cond | None
    target: Target
    span: Span

    @property
    def name(self) -> str:
        return "rewrite"


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    cond: Cond
    strip: bool
    target: Target
    span: Span


@dataclass(frozen=True, slots=True)
class Default:
    target: Target
    span: Span

    @property
    def name(self) -> str:
        return "default"


@dataclass(frozen=True, slots=True)
class Project:
    """`project "path-or-glob" { route ... default ... }`: routes tried first, and only, for
    requests whose working directory (the `project` field) the pattern matches."""

    pattern: str
    pattern_span: Span
    statements: tuple[Route | Default, ...]
    span: Span

    @property
    def name(self) -> str:
        return "project"


Statement = Rewrite | Route | Default | Project


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a statement came from when it was generated (from [router] in TOML)."""

    path: str
    line: int
    key: str


@dataclass(frozen=True, slots=True)
class RulesFile:
    path: str
    source: str
    statements: tuple[Statement, ...]
    # generated rules point back at the TOML key that implied them
    origins: dict[int, Origin] | None = None  # keyed by the generated line number

    def location(self, span: Span) -> str:
        if self.origins and span.line in self.origins:
            o = self.origins[span.line]
            return f"{o.path}:{o.line} ([router] {o.key})"
        return f"{self.path}:{span.line}"

    def text_of(self, span: Span) -> str:
        return self.source[span.start_pos : span.end_pos]
