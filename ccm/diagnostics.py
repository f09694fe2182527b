"""Errors and warnings that point at a place in a file the user wrote (rules or config)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Diagnostic:
    path: str
    line: int  # 1-based; 0 when the place is unknown
    column: int  # 1-based; 0 when the place is unknown
    message: str
    severity: str = "error"  # "error" | "warning"
    source_line: str = ""
    width: int = 1  # how many columns the caret underlines

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
        }


def at(
    path: str,
    source: str,
    line: int,
    column: int,
    message: str,
    severity: str = "error",
    width: int = 1,
) -> Diagnostic:
    """A diagnostic at line:column of `source`, carrying the line's text for the caret."""
    lines = source.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return Diagnostic(path, line, column, message, severity, text, width)


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
