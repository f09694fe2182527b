"""JSON Schema -> the OpenAPI subset Gemini accepts as a function's `parameters` or a
response schema. See ccm.dialects.gemini's module notes for the rules."""

from __future__ import annotations

from typing import Any

from ccm.dialects import common

_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_FORMATS = {
    "string": frozenset({"enum", "date-time"}),
    "number": frozenset({"float", "double"}),
    "integer": frozenset({"int32", "int64"}),
}
_COUNT_KEYS = {
    "string": ("minLength", "maxLength"),
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties"),
}
_DOC_KEYS = ("description", "title", "default", "example")
_MAX_DEPTH = 32


def _resolve_ref(ref: str, root: dict[str, Any]) -> dict[str, Any] | None:
    """A local `#/...` JSON pointer into the root schema."""
    if not ref.startswith("#"):
        return None
    node: Any = root
    for token in ref[1:].split("/"):
        if not token:
            continue
        token = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return None
        node = node[token]
    return node if isinstance(node, dict) else None


def _merge_all_of(schema: dict[str, Any], root: dict[str, Any], seen: tuple[str, ...]) -> dict:
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for sub in schema["allOf"]:
        if not isinstance(sub, dict):
            continue
        ref = sub.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            target = _resolve_ref(ref, root)
            if target is not None:
                sub = {**target, **{k: v for k, v in sub.items() if k != "$ref"}}
        for key, value in sub.items():
            if key == "properties" and isinstance(value, dict):
                props = merged.get("properties")
                merged["properties"] = {**(props if isinstance(props, dict) else {}), **value}
            elif key == "required" and isinstance(value, list):
                req = merged.get("required")
                req = list(req) if isinstance(req, list) else []
                merged["required"] = req + value
            else:
                merged.setdefault(key, value)
    return merged


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _plain_enum(schema: dict[str, Any]) -> bool:
    """A cleaned node that only lists string values (it may say what they mean)."""
    return (
        schema.get("type") == "string"
        and bool(schema.get("enum"))
        and schema.keys() <= {"type", "enum", "description", "title"}
    )


def _clean(schema: Any, root: dict[str, Any], seen: tuple[str, ...] = (), depth: int = 0) -> dict:
    """One JSON Schema node as a Gemini Schema (see the module notes)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        target = _resolve_ref(ref, root) if ref not in seen else None
        if target is not None:  # siblings of $ref (a description) win over the target's
            return _clean({**target, **rest}, root, (*seen, ref), depth + 1)
        schema = rest if ref not in seen else {"type": "object", **rest}

    nullable = schema.get("nullable") is True
    union_key = "anyOf" if "anyOf" in schema else "oneOf"
    union = schema.get(union_key)
    if isinstance(union, list):
        branches_raw = [b for b in union if not _is_null(b)]
        nullable = nullable or len(branches_raw) < len(union)
        schema = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
        if len(branches_raw) == 1:  # X or null: X, nullable
            earlier = schema.get("allOf") if isinstance(schema.get("allOf"), list) else []
            schema["allOf"] = [*earlier, branches_raw[0]]
        elif branches_raw:
            schema["anyOf"] = branches_raw
    for _ in range(_MAX_DEPTH):  # nested allOf inside allOf members merge too
        if not isinstance(schema.get("allOf"), list):
            break
        schema = _merge_all_of(schema, root, seen)

    types: list[str] = []
    raw_type = schema.get("type")
    for t in raw_type if isinstance(raw_type, list) else [raw_type]:
        if isinstance(t, str) and t.lower() not in types:
            types.append(t.lower())
    nullable = nullable or "null" in types
    types = [t for t in types if t in _TYPES]

    out: dict[str, Any] = {}
    for key in _DOC_KEYS:
        value = schema.get(key)
        if key in ("description", "title"):
            if isinstance(value, str):
                out[key] = value
        elif key in schema:
            out[key] = value

    if len(types) > 1:  # a union of types: one anyOf branch per type
        rest = {k: v for k, v in schema.items() if k not in _DOC_KEYS and k != "nullable"}
        out["anyOf"] = [_clean({**rest, "type": t}, root, seen, depth + 1) for t in types]
    elif isinstance(schema.get("anyOf"), list):  # the branches say the type
        outer = types[0] if types else None
        branches = []
        for branch in schema["anyOf"]:
            cleaned = _clean(branch, root, seen, depth + 1)
            untyped = "type" not in cleaned and "anyOf" not in cleaned
            if outer is not None and untyped and isinstance(branch, dict):
                cleaned = _clean({**branch, "type": outer}, root, seen, depth + 1)
            branches.append(cleaned)
        if all(_plain_enum(b) for b in branches):  # enum-or-const unions: one enum
            out["type"] = "string"
            out["enum"] = list(dict.fromkeys(v for b in branches for v in b["enum"]))
        else:
            out["anyOf"] = branches
    else:
        kind = types[0] if types else None
        if kind is None:  # no type: infer it from what is there
            if isinstance(schema.get("properties"), dict):
                kind = "object"
            elif "items" in schema:
                kind = "array"
            elif "enum" in schema or "const" in schema:
                kind = "string"
        if kind is not None:
            out["type"] = kind
        _typed(schema, kind, out, root, seen, depth)
    if nullable:
        out["nullable"] = True
    return {k: v for k, v in out.items() if k in _SCHEMA_KEYS}


def _typed(
    schema: dict[str, Any],
    kind: str | None,
    out: dict[str, Any],
    root: dict[str, Any],
    seen: tuple[str, ...],
    depth: int,
) -> None:
    """The keywords of a node with one type (or none): enum, format, bounds, children."""
    values: list[Any] | None = None
    if isinstance(schema.get("enum"), list):
        values = list(schema["enum"])
    elif "const" in schema:
        values = [schema["const"]]
    if values is not None:
        if None in values:
            out["nullable"] = True
        values = [v for v in values if v is not None]
        if values and kind == "string":
            out["enum"] = [v if isinstance(v, str) else common.encode(v).decode() for v in values]
        elif values:  # Gemini enums are strings: say it in words
            listed = ", ".join(common.encode(v).decode() for v in values)
            note = f"One of: {listed}."
            out["description"] = f"{out['description']} ({note})" if "description" in out else note

    fmt = schema.get("format")
    if isinstance(fmt, str) and kind in _FORMATS and fmt in _FORMATS[kind]:
        out["format"] = fmt
    for key in ("minimum", "maximum"):
        value = schema.get(key)
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric and kind in ("number", "integer"):
            out[key] = value
    for key in _COUNT_KEYS.get(kind or "", ()):
        value = schema.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out[key] = value
    if isinstance(schema.get("pattern"), str) and kind == "string":
        out["pattern"] = schema["pattern"]

    if kind == "object":
        props = schema.get("properties")
        if isinstance(props, dict) and props:
            out["properties"] = {
                str(name): _clean(sub, root, seen, depth + 1) for name, sub in props.items()
            }
            for key in ("required", "propertyOrdering"):
                listed = schema.get(key)
                if isinstance(listed, list):
                    names = [n for n in listed if isinstance(n, str) and n in out["properties"]]
                    if names:
                        out[key] = list(dict.fromkeys(names))
        else:
            out.pop("minProperties", None)
            out.pop("maxProperties", None)
    elif kind == "array":
        items = schema.get("items")
        if isinstance(items, list):  # tuple form: the first shape stands for all
            items = items[0] if items else None
        cleaned = _clean(items, root, seen, depth + 1) if isinstance(items, dict) else {}
        if "type" not in cleaned and "anyOf" not in cleaned:
            cleaned["type"] = "string"  # Gemini rejects an array without typed items
        out["items"] = cleaned


def clean_schema(schema: Any) -> dict[str, Any]:
    """A JSON Schema (tool input_schema, output format) as a Gemini `Schema` object."""
    if not isinstance(schema, dict):
        return {}
    return _clean(schema, schema)
