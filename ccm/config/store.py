"""Config writes that keep what the user wrote: comments, key order, $ENV references.

Every write is an edit of the tomlkit document of the file as it is on disk, validated (the
new text must load and its rules compile) before it replaces the file atomically: a temp file
in the same folder, fsync, rename. A file that holds a literal secret is written 0600.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Comment, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

from ccm.config.load import LoadedConfig, env_reference, parse_config
from ccm.config.secrets import REDACTED
from ccm.diagnostics import Diagnostic, DiagnosticError
from ccm.files import atomic_write

SECRET_KEYS = ("api_key", "admin_token")


STALE_AFTER_S = 60.0


def remove_stale_temp_files(target: Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Temp files an interrupted atomic_write left beside `target` (a SIGKILL between write and
    rename): they may hold keys, so they go. Young ones may belong to a write in progress in
    another worker and stay."""
    target = target.resolve()
    removed = []
    now = time.time()
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        try:
            if now - tmp.stat().st_mtime >= older_than_s:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue
    return removed


def holds_secret(doc: Mapping[str, Any]) -> bool:
    """True when any key-like value is a literal rather than a $ENV reference."""
    server = doc.get("server") or {}
    values = [server.get(k) for k in SECRET_KEYS]
    values += [p.get("api_key") for p in doc.get("providers") or []]
    values += [k for p in doc.get("providers") or [] for k in p.get("api_keys") or []]  # key pools
    return any(isinstance(v, str) and v and env_reference(v) is None for v in values)


def set_key(table: Table | TOMLDocument, key: str, value: Any) -> None:
    """Set or remove (value None) a key, in place: a changed value keeps its comment; a new key
    goes after the table's last key, before any comment that introduces the next section."""
    if value is None:
        if key in table:
            del table[key]
        return
    if key in table:
        if table[key] != value:
            table[key] = value
        return
    container = table.value if isinstance(table, Table) else table
    body = container.body
    keyed = [
        i
        for i, (k, _) in enumerate(body)
        if k is not None and not isinstance(body[i][1], Table | AoT)
    ]
    if keyed and keyed[-1] + 1 < len(body) and hasattr(container, "_insert_at"):
        container._insert_at(keyed[-1] + 1, key, value)
    else:  # the table's keys end its body: appending is the same place
        table[key] = value


def _table(
    data: Mapping[str, Any],
    nested: Mapping[str, list[Mapping[str, Any]]] | None = None,
    gap: int = 0,
) -> Table:
    """A new table; `gap` blank lines above each nested table's header."""
    t = tomlkit.table()
    for k, v in data.items():
        if v is not None:
            t[k] = v
    for k, items in (nested or {}).items():
        aot = tomlkit.aot()
        for i, item in enumerate(items):
            inner = _table(item)
            if gap and i < len(items) - 1:
                inner.add(tomlkit.ws("\n" * gap))
            _append(aot, inner)
        if items:
            if gap:
                t.add(tomlkit.ws("\n" * gap))
            t[k] = aot
    return t


def update_table(
    table: Table, data: Mapping[str, Any], *, secrets: tuple[str, ...] = SECRET_KEYS
) -> None:
    """Make `table` hold `data` (keys with None removed), editing in place. A redacted secret
    sent back unchanged keeps what is stored."""
    for k, v in data.items():
        if k in secrets and v == REDACTED:
            continue
        if isinstance(v, dict):
            inner = table.get(k)
            if isinstance(inner, Table):
                update_table(inner, v, secrets=())
                continue
            v = {ik: iv for ik, iv in v.items() if iv is not None} or None
        set_key(table, k, v)


def find(aot: AoT | None, name: str) -> int | None:
    if aot is None:
        return None
    for i, t in enumerate(aot):
        if t.get("name") == name:
            return i
    return None


MAPPING_KEYS = ("provider", "actual_model", "priority", "max_tokens")


def replace_mappings(table: Table, mappings: list[Mapping[str, Any]]) -> None:
    """Make the model's [[models.mappings]] hold `mappings`, in that order. A mapping of a
    provider that stays is edited in place (its comments stay); a dropped one's trailing
    comments (which introduce what follows it) move to the mapping now before them."""
    aot = table.get("mappings")
    free = list(aot) if isinstance(aot, AoT) else []
    tables: list[Table] = []
    for m in mappings:
        match = next((t for t in free if t.get("provider") == m.get("provider")), None)
        if match is None:
            match = _mapping_table(m)
        else:
            free.remove(match)
            update_table(match, {k: m.get(k) for k in MAPPING_KEYS})
        tables.append(match)
    rescued = [item for t in free for item in take_trailing_trivia(t)]
    fresh = tomlkit.aot()
    for t in tables:
        fresh.append(t)
    table["mappings"] = fresh
    if rescued:
        target = tables[-1] if tables else table
        target.value.body.extend(rescued)


def take_trailing_trivia(table: Table) -> list[tuple[None, Any]]:
    """Remove and return the comments and blank lines that end `table` (in its last nested
    table, if it ends with one). In a TOML file they sit above the next header and introduce
    what follows, so deleting `table` must not take them along."""
    body = table.value.body
    out: list[tuple[None, Any]] = []
    while body and body[-1][0] is None and isinstance(body[-1][1], Comment | Whitespace):
        out.append(body.pop())
    if not out and body:
        last = body[-1][1]
        if isinstance(last, AoT) and len(last):
            return take_trailing_trivia(last[-1])
        if isinstance(last, Table):
            return take_trailing_trivia(last)
    return out[::-1]


def remove_table(doc: TOMLDocument, array: str, index: int) -> None:
    """Delete `doc[array][index]`, keeping the comments that end it (see take_trailing_trivia):
    they move to the end of the element before it, or of what precedes the array."""
    aot = doc[array]
    rescued = take_trailing_trivia(aot[index])
    body = doc.body
    at = next((i for i, (_, v) in enumerate(body) if v is aot), 0)
    if len(aot) == 1:  # an emptied array of tables would be written as `models = []` on top
        del doc[array]
        if rescued:
            _insert_trivia(doc, min(at, len(doc.body)), rescued)
        return
    del aot[index]
    if not rescued:
        return
    if index > 0:
        aot[index - 1].value.body.extend(rescued)
        return
    before = body[at - 1][1] if at > 0 else None
    if isinstance(before, Table):
        before.value.body.extend(rescued)
    elif isinstance(before, AoT) and len(before):
        before[-1].value.body.extend(rescued)
    else:
        _insert_trivia(doc, at, rescued)


def _insert_trivia(container: TOMLDocument, index: int, items: list[tuple[None, Any]]) -> None:
    """Insert comments / blank lines into a container's body at `index`, keeping tomlkit's
    key -> position map true (it has no public call for keyless items at a position)."""
    shift = len(items)
    for key, pos in list(container._map.items()):
        if isinstance(pos, tuple):
            container._map[key] = tuple(p + shift if p >= index else p for p in pos)
        elif pos >= index:
            container._map[key] = pos + shift
    container._body[index:index] = items


def _mapping_table(m: Mapping[str, Any]) -> Table:
    t = tomlkit.table()
    for k in MAPPING_KEYS:
        if m.get(k) is not None:
            t[k] = m[k]
    return t


_HEADER = re.compile(r"^\s*\[")


def blank_lines_between_tables(text: str) -> int:
    """The blank lines a file puts above its table headers (comments just above a header
    belong to it), the most common count; 1 when it has no header after another line."""
    counts: dict[int, int] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not _HEADER.match(line):
            continue
        j = i - 1
        while j >= 0 and lines[j].lstrip().startswith("#"):
            j -= 1
        blank = 0
        while j >= 0 and not lines[j].strip():
            blank += 1
            j -= 1
        if j >= 0:  # not the file's first content
            counts[blank] = counts.get(blank, 0) + 1
    if not counts:
        return 1
    return max(sorted(counts), key=lambda n: counts[n])


def _innermost(item: Any) -> Any:
    """The container whose body ends where `item` ends (its last nested table, if any)."""
    if isinstance(item, AoT):
        return _innermost(item[-1]) if len(item) else None
    if isinstance(item, Table):
        body = item.value.body
        if body and isinstance(body[-1][1], Table | AoT):
            return _innermost(body[-1][1]) or item
        return item
    return None


def _end_with(container: Table | TOMLDocument, gap: int) -> None:
    """Make the blank lines that end `container` exactly `gap` (comments stay)."""
    body = container.value.body if isinstance(container, Table) else container.body
    while body and body[-1][0] is None and isinstance(body[-1][1], Whitespace):
        body.pop()
    if gap and body:
        body.append((None, tomlkit.ws("\n" * gap)))


def append_table(doc: TOMLDocument, array: str, data: Mapping[str, Any]) -> None:
    """Append a `[[array]]` table, set off by the blank lines the rest of the file puts
    between tables; what ended the array before (blank lines, comments introducing the next
    section) now ends the new table."""
    gap = blank_lines_between_tables(tomlkit.dumps(doc))
    nested = {}
    plain = dict(data)
    if array == "models":
        nested = {"mappings": list(plain.pop("mappings", []) or [])}
    table = _table(plain, nested, gap)
    aot = doc.get(array)
    if not isinstance(aot, AoT) or not len(aot):
        if array in doc:
            del doc[array]
        last = doc.body[-1][1] if doc.body else None
        before = _innermost(last) if isinstance(last, Table | AoT) else doc
        if before is not None:
            _end_with(before, gap)
        doc[array] = tomlkit.aot()
        _append(doc[array], table)
        return
    before = _innermost(aot[-1])
    follows = doc.body and doc.body[-1][1] is not aot
    if follows:  # the array's ending introduces what follows it: it moves to the new table
        rescued = take_trailing_trivia(aot[-1])
        end = _innermost(table) or table
        end.value.body.extend(rescued)
    _end_with(before, gap)
    _append(aot, table)


def _append(aot: AoT, table: Table) -> None:
    """tomlkit puts a blank line above a table added to an array it built: the gaps are ours."""
    aot.append(table)
    table.trivia.indent = table.trivia.indent.replace("\n", "")


class ConfigStore:
    """Reads, edits and writes one config file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def document(self) -> TOMLDocument:
        text = self.path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            text += "\n"  # else a table appended at the end would join the last line
        return tomlkit.parse(text)

    def edit(
        self,
        change: Callable[[TOMLDocument], None],
        validate: Callable[[LoadedConfig], None] | None = None,
    ) -> LoadedConfig:
        """Apply `change` to the file's document; save only if the result is valid.
        Raises DiagnosticError (nothing written) or KeyError/ValueError from `change`."""
        doc = self.document()
        change(doc)
        text = tomlkit.dumps(doc)
        loaded = parse_config(text, self.path)
        if validate is not None:
            validate(loaded)
        atomic_write(self.path, text, 0o600 if holds_secret(doc.unwrap()) else None)
        return loaded


def write_rules(path: Path, text: str) -> None:
    atomic_write(path, text)


def problems(e: DiagnosticError) -> list[dict[str, Any]]:
    return [d.to_json() for d in e.diagnostics]


__all__ = [
    "REDACTED",
    "ConfigStore",
    "Diagnostic",
    "append_table",
    "atomic_write",
    "find",
    "holds_secret",
    "problems",
    "replace_mappings",
    "set_key",
    "update_table",
    "write_rules",
]
