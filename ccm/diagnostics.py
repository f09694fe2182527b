"""Errors and warnings that point at a place in a file the user wrote (rules or config).

A diagnostic quotes its line for the caret; the quote masks secrets (a syntax error on an
`admin_token` line must not show the token in /health or the log)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MASK = "********"
_ENV_REF = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    path: str
    line: int  # 1-based; 0 when the place is unknown
    column: int  # 1-based; 0 when the place is unknown
    message: str
    severity: str = "error"  # "error" | "warning"
    source_line: str = ""
    width: int = 1  # how many columns the caret underlines
    code: str = ""  # a stable name for the kind of problem, for programs (never match on message)

    def format(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        out = f"{where}: {self.severity}: {self.message}"
        if self.source_line and self.column:
            text = self.source_line.rstrip("\n")
            caret = " " * (self.column - 1) + "^" * max(
                1, min(self.width, len(text) - self.column + 1)
            )
            out += f"\n    {text}\n    {caret}"
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "message": self.message,
            **({"code": self.code} if self.code else {}),
        }


# a TOML line that assigns something key-like: `api_key = "..."`, `Authorization = "Bearer ..."`
_SECRET_NAME = (
    r"[\w.\"'-]*(?:key|token|secret|passw(?:or)?d|authorization|auth|cookie|credential)[\w.\"'-]*"
)
_KEY_LINE = re.compile(rf"^(\s*{_SECRET_NAME}\s*=\s*)(.+)$", re.IGNORECASE)
# well-known key shapes anywhere on a line (OpenAI/Anthropic sk-, Google AIza, GitHub, Slack ...)
_KEY_SHAPES = re.compile(
    r"(?:sk-[A-Za-z0-9_-]{6,}|AIza[0-9A-Za-z_-]{10,}|gh[pousr]_[A-Za-z0-9]{10,}|xox[abpr]-[A-Za-z0-9-]{10,}|ya29\.[0-9A-Za-z_-]{10,})"
)
_URL_PASSWORD = re.compile(r"(://[^/\s:@\"']+:)([^@\s\"']+)(@)")


def mask_line(text: str) -> str:
    """A line of a file the user wrote, fit to quote in an error: values of key-like names,
    passwords in URLs and well-known key shapes masked."""
    m = _KEY_LINE.match(text)
    if m and not _ENV_REF.match(m.group(2).strip().strip("\"'")):
        text = m.group(1) + MASK
    text = _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", text)
    return _KEY_SHAPES.sub(MASK, text)


def at(
    path: str,
    source: str,
    line: int,
    column: int,
    message: str,
    severity: str = "error",
    width: int = 1,
    code: str = "",
) -> Diagnostic:
    """A diagnostic at line:column of `source`, carrying the line's text for the caret."""
    lines = source.splitlines()
    text = mask_line(lines[line - 1]) if 0 < line <= len(lines) else ""
    return Diagnostic(path, line, column, message, severity, text, width, code)


@dataclass
class DiagnosticError(Exception):
    """Raised when a file cannot be used; holds every problem found, not just the first."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(d.format() for d in self.errors) or "invalid"

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]
