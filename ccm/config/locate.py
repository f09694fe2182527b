"""Find the line of each key in a TOML text, so config errors can say file:line."""

from __future__ import annotations

import re

Path_ = tuple[str | int, ...]

_BARE = re.compile(r'\s*([A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')\s*')


def _split_key(text: str) -> list[str] | None:
    """`a."b.c".d` -> ["a", "b.c", "d"]; None if it is not a key."""
    parts: list[str] = []
    pos = 0
    while True:
        m = _BARE.match(text, pos)
        if not m:
            return None
        raw = m.group(1)
        parts.append(raw[1:-1] if raw[0] in "\"'" else raw)
        pos = m.end()
        if pos == len(text):
            return parts
        if text[pos] != ".":
            return None
        pos += 1


def _key_end(line: str) -> int:
    """Index of the `=` after a (possibly quoted, dotted) key, or -1."""
    pos = 0
    while True:
        m = _BARE.match(line, pos)
        if not m:
            return -1
        pos = m.end()
        if pos < len(line) and line[pos] == "=":
            return pos
        if pos >= len(line) or line[pos] != ".":
            return -1
        pos += 1


def key_lines(source: str) -> dict[Path_, int]:
    """Map each table and key path (array-of-tables indexed) to its 1-based line."""
    lines: dict[Path_, int] = {}
    table: Path_ = ()
    aot_count: dict[Path_, int] = {}  # array-of-tables path -> how many seen so far
    in_multiline: str | None = None

    def resolve(parts: list[str]) -> Path_:
        path: Path_ = ()
        for part in parts:
            path = (*path, part)
            if path in aot_count:  # a parent that is an array of tables: its latest element
                path = (*path, aot_count[path] - 1)
        return path

    for n, raw in enumerate(source.splitlines(), 1):
        line = raw.strip()
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("[["):
            end = line.find("]]")
            parts = _split_key(line[2:end]) if end > 0 else None
            if parts:
                parent = resolve(parts[:-1])
                full = (*parent, parts[-1])
                aot_count[full] = aot_count.get(full, 0) + 1
                table = (*full, aot_count[full] - 1)
                lines.setdefault(full, n)
                lines[table] = n
            continue
        if line.startswith("["):
            end = line.find("]")
            parts = _split_key(line[1:end]) if end > 0 else None
            if parts:
                table = resolve(parts)
                lines[table] = n
            continue
        eq = _key_end(line)
        if eq > 0:
            parts = _split_key(line[:eq])
            if parts:
                lines[(*table, *parts)] = n
            rest = line[eq + 1 :].lstrip()
            for quote in ('"""', "'''"):
                # a multi-line string opens the value and does not close on the same line
                if rest.startswith(quote) and quote not in rest[3:]:
                    in_multiline = quote
    return lines


def line_of(lines: dict[Path_, int], path: Path_) -> int:
    """The line of `path`, or of its nearest parent that has one; 0 if none."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return 0


_MSGSPEC_PATH = re.compile(r"`\$((?:\.[A-Za-z0-9_]+|\[\d+\]|\[\.\.\.\])*)`")
_STEP = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")


def parse_msgspec_path(message: str) -> Path_:
    """'... - at `$.providers[0].name`' -> ("providers", 0, "name")."""
    m = _MSGSPEC_PATH.search(message)
    if not m:
        return ()
    return tuple(a if a else int(b) for a, b in _STEP.findall(m.group(1)))
