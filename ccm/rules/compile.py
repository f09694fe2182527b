"""Syntax tree -> decision function. `Router.route(body, headers)` is the hot path.

Each condition becomes a tree of closures; each leaf closure reads one lazily computed
feature, so a request pays only for the features the rules it reaches ask about. Literal
targets are resolved to provider chains once, here; names that come from the request
(`model`, `$capture`) are resolved per request through a memo.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ccm.diagnostics import Diagnostic, DiagnosticError
from ccm.rules import ast
from ccm.rules.chain import ChainEntry, Resolver
from ccm.rules.check import check_rules
from ccm.rules.features import (
    STRIP_SLOTS,
    Features,
    apply_strip,
    field_getter,
    field_type,
    replace_images,
)

log = logging.getLogger("ccm.rules")

Pred = Callable[[Features], bool]
TargetFn = Callable[[Features], list[str]]
_CAPTURE_IN_TEXT = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Decision:
    model: str  # the logical name chosen (first target)
    rule: str  # route name, "default", or "error"
    location: str  # file:line of the rule
    targets: tuple[str, ...]
    chain: tuple[ChainEntry, ...]
    original_model: str
    rewritten_model: str  # the model name after rewrites
    strips: tuple[tuple[str, re.Pattern[str]], ...] = ()
    skipped: tuple[str, ...] = ()
    error: str | None = None
    images: str = ""  # "placeholder": the conversation's images go as a note (text-only model)
    capability: tuple[str, ...] = ()  # what the capability check changed, and why

    def apply(self, body: dict[str, Any]) -> None:
        """The edits this decision makes to the request before it is sent: `strip`, and
        images replaced by a note for a model that cannot see them."""
        for fld, pattern in self.strips:
            apply_strip(body, fld, pattern)
        if self.images == "placeholder":
            replace_images(body, IMAGE_NOTE)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "rule": self.rule,
            "location": self.location,
            "targets": list(self.targets),
            "chain": [e.to_json() for e in self.chain],
            "original_model": self.original_model,
            "rewritten_model": self.rewritten_model,
            "strip": [{"field": f, "regex": p.pattern} for f, p in self.strips],
            "skipped": list(self.skipped),
            "error": self.error,
            "images": self.images,
            "capability": list(self.capability),
        }


# what a text-only model sees where the conversation held an image
IMAGE_NOTE = "[image omitted: the model this conversation was sent to cannot see images]"


def _required_prefix(rx: re.Pattern[str]) -> str:
    """The literal text every match starts with (unanchored, case-sensitive patterns only)."""
    if rx.flags & (re.IGNORECASE | re.VERBOSE):
        return ""
    try:
        from re import _parser  # type: ignore[attr-defined]

        ops = _parser.parse(rx.pattern, rx.flags)
    except Exception:  # private API: without it we only lose the shortcut
        return ""
    chars = []
    for op, arg in ops:
        if str(op) != "LITERAL":
            break
        chars.append(chr(arg))
    return "".join(chars)


def _fast_search(rx: re.Pattern[str]) -> Callable[[str], re.Match[str] | None]:
    """rx.search, skipping texts that lack the pattern's literal prefix (a much faster scan)."""
    prefix = _required_prefix(rx)
    search = rx.search
    if len(prefix) < 3:
        return search
    return lambda text: search(text) if prefix in text else None


class _Compiler:
    def __init__(self) -> None:
        # leaf node id -> predicate; explain reuses these so both paths judge alike
        self.leaves: dict[int, Pred] = {}

    def cond(self, node: ast.Cond) -> Pred:
        if isinstance(node, ast.Const):
            value = node.value
            return lambda f: value
        if isinstance(node, ast.Not):
            inner = self.cond(node.operand)
            return lambda f: not inner(f)
        if isinstance(node, ast.And):
            items = tuple(self.cond(c) for c in node.items)
            return lambda f: all(p(f) for p in items)
        if isinstance(node, ast.Or):
            items = tuple(self.cond(c) for c in node.items)
            return lambda f: any(p(f) for p in items)
        pred = self.truthy(node) if isinstance(node, ast.Truthy) else self.compare(node)
        self.leaves[id(node)] = pred
        return pred

    def truthy(self, node: ast.Truthy) -> Pred:
        get = field_getter(node.field.name, node.field.arg)
        return lambda f: bool(get(f))

    def compare(self, node: ast.Compare) -> Pred:
        name = node.field.name
        ftype = field_type(name)
        get = field_getter(name, node.field.arg)
        op = node.op
        is_list = ftype == "list"

        if op in ("~", "!~"):
            assert isinstance(node.value, ast.Regex)
            rx = re.compile(node.value.pattern)
            search = _fast_search(rx)
            strippable = name in STRIP_SLOTS

            def match_one(f: Features, text: str) -> bool:
                m = search(text)
                if m is None:
                    return False
                groups = m.groupdict()
                if groups:
                    f.captures.update({k: v for k, v in groups.items() if v is not None})
                if strippable:
                    f.hits.append((name, rx))
                return True

            if is_list:

                def matches(f: Features) -> bool:
                    return any(match_one(f, text) for text in get(f))
            else:

                def matches(f: Features) -> bool:
                    return match_one(f, get(f))

            if op == "~":
                return matches
            return lambda f: (
                not any(search(t) for t in get(f)) if is_list else search(get(f)) is None
            )

        if op in ("in", "not in"):
            assert isinstance(node.value, ast.ListLit)
            allowed = frozenset(v.value for v in node.value.items)  # type: ignore[union-attr]
            if is_list:
                hit: Pred = lambda f: any(x in allowed for x in get(f))  # noqa: E731
            else:
                hit = lambda f: get(f) in allowed  # noqa: E731
            return hit if op == "in" else (lambda f: not hit(f))

        assert not isinstance(node.value, ast.ListLit | ast.Regex)
        want = node.value.value
        if is_list:
            if op == "==":
                return lambda f: want in get(f)
            return lambda f: want not in get(f)  # "!="
        import operator

        fn = {
            "==": operator.eq,
            "!=": operator.ne,
            "<": operator.lt,
            "<=": operator.le,
            ">": operator.gt,
            ">=": operator.ge,
        }[op]
        return lambda f: fn(get(f), want)


class ProjectGate:
    """Whether a request's working directory (the `project` field) is one a `project` block
    names: the directory itself, anything below it, or what the glob matches (`*` crosses `/`).
    `~` is the home directory of the user ccm runs as."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        expanded = os.path.expanduser(pattern)
        self.glob = any(c in expanded for c in "*?[")
        self.base = expanded.rstrip("/") or "/"

    def matches(self, project: str) -> bool:
        if not project:
            return False
        if self.glob:
            return fnmatch.fnmatchcase(project, self.base) or fnmatch.fnmatchcase(
                project, self.base + "/*"
            )
        return project == self.base or project.startswith(
            self.base if self.base.endswith("/") else self.base + "/"
        )

    def __repr__(self) -> str:
        return f"project {self.pattern!r}"


@dataclass
class CompiledRule:
    node: ast.Route | ast.Rewrite | ast.Default
    kind: str  # "rewrite" | "route" | "default"
    name: str
    location: str
    cond: Pred | None
    target: TargetFn
    strip: bool = False
    # literal targets resolved at compile time: name -> (chain, skipped)
    static: dict[str, tuple[tuple[ChainEntry, ...], tuple[str, ...]]] = field(default_factory=dict)
    project: ProjectGate | None = None  # set on the routes of a `project` block


def _target_fn(target: ast.Target) -> TargetFn:
    """Target -> function giving the list of names for one request."""
    if isinstance(target, ast.ListTarget):
        parts = [_target_fn(t) for t in target.items]
        return lambda f: [n for p in parts for n in p(f)]
    if isinstance(target, ast.WordTarget):
        if target.word == "original_model":
            return lambda f: [f.original_model]
        return lambda f: [f.model]
    if isinstance(target, ast.CaptureTarget):
        cap = target.name
        return lambda f: [f.captures.get(cap, "")]
    text = target.text
    if _CAPTURE_IN_TEXT.search(text):
        return lambda f: [_CAPTURE_IN_TEXT.sub(lambda m: f.captures.get(m.group(1), ""), text)]
    names = [text]
    return lambda f: names


class Router:
    """A compiled rules file bound to one config's models and providers."""

    def __init__(
        self,
        rules: ast.RulesFile,
        resolver: Resolver,
        warnings: list[Diagnostic] | None = None,
    ) -> None:
        self.rules_file = rules
        self.resolver = resolver
        self.warnings = warnings or []
        compiler = _Compiler()
        self.rewrites: list[CompiledRule] = []
        self.routes: list[CompiledRule] = []
        self.default: CompiledRule | None = None
        for st in rules.statements:
            loc = rules.location(st.span)
            if isinstance(st, ast.Rewrite):
                cond = None if st.cond is None else compiler.cond(st.cond)
                self.rewrites.append(
                    CompiledRule(st, "rewrite", "rewrite", loc, cond, _target_fn(st.target))
                )
            elif isinstance(st, ast.Route):
                cr = CompiledRule(
                    st,
                    "route",
                    st.name,
                    loc,
                    compiler.cond(st.cond),
                    _target_fn(st.target),
                    st.strip,
                )
                self.routes.append(cr)
            elif isinstance(st, ast.Project):
                self.routes.extend(_project_routes(st, rules, compiler))
            else:
                self.default = CompiledRule(
                    st, "default", "default", loc, None, _target_fn(st.target)
                )
        self.leaves = compiler.leaves
        self.aliases = resolver.aliases
        # a conversation with images for a text-only model: "route" (to the image route,
        # when its model can see) or "placeholder" (images become a note)
        self.vision_mode = resolver.config.router.vision or "route"
        for cr in [*self.routes, *([self.default] if self.default else [])]:
            for t in _literal_names(cr.node.target):  # type: ignore[union-attr]
                res = resolver.resolve(t)
                cr.static[t] = (res.chain, res.skipped)
        assert self.default is not None, "check_rules guarantees a default"

    # ---- the hot path ---------------------------------------------------

    def route(self, body: Any, headers: Mapping[str, str] | None = None) -> Decision:
        """Decide where one request goes. Never raises: problems come back in .error."""
        if not isinstance(body, dict):
            return _error_decision("", "request body must be a JSON object")
        return self.route_features(Features(body, headers))

    def route_features(self, f: Features) -> Decision:
        """`route` for a request's Features (`ccm code` sets a token count on them)."""
        try:
            return self._route(f)
        except Exception as e:  # a bug here must not take a request down with a traceback
            log.exception("routing failed")
            return _error_decision(f.original_model, f"internal routing error: {e!r}")

    def _route(self, f: Features) -> Decision:
        real = self.aliases.get(f.model)
        if real is not None:  # claude-ccm-<name>, offered to Claude Code: its name, before rules
            f.model = real
        for rw in self.rewrites:
            f.captures = {}
            if rw.cond is None or rw.cond(f):
                new = rw.target(f)[0]
                if new:
                    f.model = new
        for cr in self.routes:
            f.captures = {}
            f.hits = []
            if cr.cond(f):  # type: ignore[misc]
                return self.decide(cr, f)
        f.hits = []
        return self.decide(self.default, f)  # type: ignore[arg-type]

    def decide(self, cr: CompiledRule, f: Features) -> Decision:
        """The decision for rule `cr`, fitted to what its first model can do."""
        decision = self._decide(cr, f)
        if decision.chain:
            caps = decision.chain[0].caps
            # each check reads its feature only when the model lacks the capability
            if not caps.vision and f.images:
                return self._fit_images(cr, f, decision)
            if not caps.web_search and f.web_search:
                return self._fit_search(cr, f, decision)
        return decision

    # ---- capabilities: images for a text-only model, web_search where it cannot run ----

    def _route_named(self, name: str, f: Features) -> CompiledRule | None:
        for cr in self.routes:
            if cr.name == name and (cr.project is None or cr.project.matches(f.project)):
                return cr
        return None

    def _alternative(
        self, name: str, cr: CompiledRule, f: Features, can: Callable[[ChainEntry], bool]
    ) -> tuple[Decision | None, str]:
        """The decision of the route called `name` when its first model can do what is
        needed; else None and why not."""
        alt_cr = self._route_named(name, f)
        if alt_cr is None:
            return None, f"no route named {name}"
        if alt_cr is cr:
            return None, f"this is the {name} route"
        alt = self._decide(alt_cr, f)
        if not alt.chain:
            return None, f"the {name} route ({alt_cr.location}) has no usable provider"
        if not can(alt.chain[0]):
            first = alt.chain[0]
            return None, f"the {name} route's {first.provider}/{first.actual_model} cannot either"
        return alt, alt_cr.location

    def _fit_images(self, cr: CompiledRule, f: Features, d: Decision) -> Decision:
        first = d.chain[0]
        why = (
            f"the conversation holds {f.images} image(s) and {first.provider}/"
            f"{first.actual_model} takes none ({first.caps.vision_from})"
        )
        if self.vision_mode == "route":
            alt, where = self._alternative("image", cr, f, lambda e: e.caps.vision)
            if alt is not None:
                note = f"{why}: sent to the image route ({where}) instead of {d.model!r}"
                return dataclasses.replace(alt, capability=(note,))
            because = where
        else:
            because = '[router] vision = "placeholder"'
        note = f"{why}: its images are replaced by a short note ({because})"
        return dataclasses.replace(d, images="placeholder", capability=(note,))

    def _fit_search(self, cr: CompiledRule, f: Features, d: Decision) -> Decision:
        first = d.chain[0]
        why = (
            f"the request offers web_search and {first.provider}/{first.actual_model} cannot "
            f"run it ({first.caps.search_from})"
        )
        alt, where = self._alternative("websearch", cr, f, lambda e: e.caps.web_search)
        if alt is not None:
            note = f"{why}: sent to the websearch route ({where}) instead of {d.model!r}"
            return dataclasses.replace(alt, capability=(note,))
        note = (
            f"{why}, and there is no other ({where}): the model gets web_search as a function "
            'and ccm answers its call with a "web search unavailable" error'
        )
        return dataclasses.replace(d, capability=(note,))

    def _decide(self, cr: CompiledRule, f: Features) -> Decision:
        names = cr.target(f)
        chain: list[ChainEntry] = []
        skipped: list[str] = []
        for n in names:
            hit = cr.static.get(n)
            if hit is None:
                res = self.resolver.resolve(n) if n else None
                hit = (res.chain, res.skipped) if res else ((), ())
            for e in hit[0]:
                if not any(
                    e.provider == c.provider and e.actual_model == c.actual_model for c in chain
                ):
                    chain.append(e)
            skipped.extend(hit[1])
        strips = tuple(dict.fromkeys(f.hits)) if cr.strip else ()
        model = names[0] if names else ""
        error = None
        if not chain:
            error = _no_chain_message(f, names, skipped)
        return Decision(
            model=model,
            rule=cr.name,
            location=cr.location,
            targets=tuple(names),
            chain=tuple(chain),
            original_model=f.original_model,
            rewritten_model=f.model,
            strips=strips,
            skipped=tuple(skipped),
            error=error,
        )


PROJECT_DEFAULT = "project-default"  # the name a `default` inside a project block routes by


def _project_routes(
    block: ast.Project, rules: ast.RulesFile, compiler: _Compiler
) -> list[CompiledRule]:
    """A block's routes, each gated by the project: tried first, in file order."""
    gate = ProjectGate(block.pattern)
    matches = gate.matches
    out: list[CompiledRule] = []
    for st in block.statements:
        if isinstance(st, ast.Route):
            inner = compiler.cond(st.cond)
            cond: Pred = lambda f, inner=inner: matches(f.project) and inner(f)  # noqa: E731
            name, strip = st.name, st.strip
        else:
            cond = lambda f: matches(f.project)  # noqa: E731
            name, strip = PROJECT_DEFAULT, False
        rule = CompiledRule(
            st, "route", name, rules.location(st.span), cond, _target_fn(st.target), strip
        )
        rule.project = gate
        out.append(rule)
    return out


def _no_chain_message(f: Features, names: list[str], skipped: list[str]) -> str:
    if not f.original_model and not any(names):
        return "request has no model"
    shown = ", ".join(f'"{n}"' for n in names) or '""'
    if skipped:
        return f"no usable provider for {shown}: " + "; ".join(skipped)
    return (
        f"no provider serves model {shown}: no [[models]] entry has that name and no "
        "provider lists it in `models`"
    )


def _error_decision(model: str, message: str) -> Decision:
    return Decision(model, "error", "", (), (), model, model, error=message)


def _literal_names(target: ast.Target) -> list[str]:
    if isinstance(target, ast.ListTarget):
        return [n for t in target.items for n in _literal_names(t)]
    if isinstance(target, ast.NameTarget) and not _CAPTURE_IN_TEXT.search(target.text):
        return [target.text]
    return []


def compile_rules(rules: ast.RulesFile, resolver: Resolver) -> Router:
    """Check then compile. Raises DiagnosticError if any check fails (warnings ride along)."""
    diagnostics = check_rules(rules, resolver.knows, resolver.suggest)
    if any(d.severity == "error" for d in diagnostics):
        raise DiagnosticError(diagnostics)
    return Router(rules, resolver, diagnostics)


__all__ = ["CompiledRule", "Decision", "Router", "compile_rules"]
