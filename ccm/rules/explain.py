"""Why a request goes where it goes: features, each rule tried (file:line), target, chain.

The trace walks the same compiled leaf predicates the router uses, and the decision is made
by the router's own `decide`, so explain cannot disagree with routing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ccm.rules import ast
from ccm.rules.compile import CompiledRule, Router
from ccm.rules.features import Features, field_getter, field_type

_MAX = 80


def _short(text: str, limit: int = _MAX) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{_short(value)}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        if not value:
            return "[] (empty)"
        shown = ", ".join(f'"{_short(v, 30)}"' for v in value[:6])
        more = f", … ({len(value)} in all)" if len(value) > 6 else ""
        return f"[{shown}{more}]"
    return str(value)


class _Tracer:
    def __init__(self, router: Router, f: Features) -> None:
        self.router = router
        self.f = f
        self.source = router.rules_file

    def cond(self, node: ast.Cond | None, checks: list[dict[str, Any]]) -> bool:
        if node is None:
            return True
        if isinstance(node, ast.Const):
            return node.value
        if isinstance(node, ast.Not):
            return not self.cond(node.operand, checks)
        if isinstance(node, ast.And):
            return all(self.cond(c, checks) for c in node.items)
        if isinstance(node, ast.Or):
            return any(self.cond(c, checks) for c in node.items)
        held = self.router.leaves[id(node)](self.f)
        checks.append(
            {
                "expr": self.source.text_of(node.span),
                "value": self._value(node),
                "held": held,
            }
        )
        return held

    def _value(self, node: ast.Compare | ast.Truthy) -> str:
        fld = node.field
        value = field_getter(fld.name, fld.arg)(self.f)
        if (
            isinstance(node, ast.Compare)
            and node.op in ("~", "!~")
            and isinstance(node.value, ast.Regex)
        ):
            import re

            rx = re.compile(node.value.pattern)
            texts = value if isinstance(value, list) else [value]
            for t in texts:
                m = rx.search(t)
                if m:
                    return f'matched "{_short(m.group(0))}"'
            if field_type(fld.name) == "list":
                return f"no match in {len(texts)} item(s)"
            return f"{_show(value)}: no match"
        return _show(value)


def features_of(f: Features) -> dict[str, Any]:
    """Every feature, for display (explain computes all of them, routing only what it needs)."""
    return {
        "model": f.original_model,
        "tokens": f.tokens,
        "tools": f.tools,
        "thinking.type": f.thinking_type,
        "thinking.budget": f.thinking_budget,
        "effort": f.effort,
        "image": f.image,
        "images": f.images,
        "system": [_short(s, 120) for s in f.system],
        "last_user": _short(f.last_user, 200),
        "messages": f.messages,
        "max_tokens": field_getter("max_tokens", None)(f),
        "stream": field_getter("stream", None)(f),
        "metadata.user_id": _short(f.metadata_user_id, 120),
        "session": f.session,
        "subagent": f.subagent,
        "agent": f.agent,
        "plan_mode": f.plan_mode,
        "title": f.title,
        "project": f.project,
        "client": f.client,
    }


def request_of(data: Any) -> tuple[Any, dict[str, str]]:
    """A request file's body and headers. Two forms: a Messages request body, or a capture
    (`{"headers": {...}, "body": {...}}`, what tests/fakes/capture_server.py records; the
    captures in examples/requests/ keep the headers that Claude Code's subagents are known by)."""
    if (
        isinstance(data, dict)
        and isinstance(data.get("body"), dict)
        and "messages" not in data
        and isinstance(data.get("headers"), dict | list)
    ):
        raw = data["headers"]
        pairs = raw.items() if isinstance(raw, dict) else (p for p in raw if len(p) == 2)
        headers = {str(k).lower(): str(v) for k, v in pairs}
        return data["body"], headers
    return data, {}


def explain(router: Router, body: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A JSON-ready account of one routing decision."""
    if not isinstance(body, dict):
        d = router.route(body, headers)
        return {**d.to_json(), "trace": [], "features": {}}
    f = Features(body, headers)
    tracer = _Tracer(router, f)
    trace: list[dict[str, Any]] = []

    def step(cr: CompiledRule) -> bool:
        f.captures = {}
        f.hits = []
        checks: list[dict[str, Any]] = []
        cond = getattr(cr.node, "cond", None)
        held = True
        if cr.project is not None:  # a project block's route: its gate first
            held = cr.project.matches(f.project)
            checks.append(
                {"expr": f'project "{cr.project.pattern}"', "value": _show(f.project), "held": held}
            )
        if held and cr.kind != "default":
            held = tracer.cond(cond, checks)
        entry: dict[str, Any] = {
            "rule": cr.name,
            "kind": cr.kind,
            "location": cr.location,
            "text": router.rules_file.text_of(cr.node.span),
            "held": held,
            "checks": checks,
        }
        if cr.kind == "rewrite" and held:
            new = cr.target(f)[0]
            entry["effect"] = f'model "{f.model}" -> "{new}"' if new else "no change (empty name)"
            if new:
                f.model = new
        if f.captures:
            entry["captures"] = dict(f.captures)
        trace.append(entry)
        return held

    real = router.aliases.get(f.model)
    if real is not None:
        trace.append(
            {
                "rule": "alias",
                "kind": "alias",
                "location": "/v1/models",
                "text": f'"{f.model}" is the name ccm offers Claude Code for "{real}"',
                "held": True,
                "checks": [],
                "effect": f'model "{f.model}" -> "{real}"',
            }
        )
        f.model = real
    for rw in router.rewrites:
        step(rw)
    chosen: CompiledRule | None = None
    for cr in router.routes:
        if step(cr):
            chosen = cr
            break
    if chosen is None:
        chosen = router.default
        assert chosen is not None
        f.captures = {}
        f.hits = []
        step(chosen)
    decision = router.decide(chosen, f)
    return {**decision.to_json(), "trace": trace, "features": features_of(f)}


def format_explanation(exp: dict[str, Any]) -> str:
    """The human-readable form printed by `ccm explain`."""
    out: list[str] = []
    feats = exp.get("features") or {}
    if feats:
        out.append("features")
        for k, v in feats.items():
            if k == "tools" and isinstance(v, list):
                shown = f"{len(v)} types/names" + (f": {_show(v)}" if v else "")
                out.append(f"  {k:<17} {shown}")
            elif k == "system" and isinstance(v, list):
                out.append(f"  {k:<17} {len(v)} text(s)" + (f", first: {v[0]}" if v else ""))
            else:
                out.append(f"  {k:<17} {_show(v)}")
    out.append("rules tried")
    for t in exp.get("trace", []):
        mark = "HELD" if t["held"] else "no"
        out.append(f"  {t['location']:<40} {t['rule']:<14} {mark}")
        for c in t["checks"]:
            out.append(f"      {'✓' if c['held'] else '✗'} {c['expr']}  — {c['value']}")
        if "effect" in t:
            out.append(f"      -> {t['effect']}")
        if "captures" in t:
            caps = ", ".join(f"${k} = {v!r}" for k, v in t["captures"].items())
            out.append(f"      captures: {caps}")
    out.append(f"target    {exp['model']!r} (rule {exp['rule']}, {exp['location']})")
    for note in exp.get("capability", []):
        out.append(f"fit       {note}")
    if exp.get("strip"):
        for s in exp["strip"]:
            out.append(f"strip     /{s['regex']}/ from {s['field']}")
    if exp.get("images") == "placeholder":
        out.append("images    replaced by a short note before sending")
    if exp.get("chain"):
        out.append("chain")
        for i, e in enumerate(exp["chain"], 1):
            out.append(
                f"  {i}. {e['provider']:<20} {e['actual_model']:<36} priority {e['priority']}"
            )
    for s in exp.get("skipped", []):
        out.append(f"  skipped: {s}")
    if exp.get("error"):
        out.append(f"error     {exp['error']}")
    return "\n".join(out)
