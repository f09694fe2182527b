"""Admin edits as properties: for random valid configs (sections in any order, comments
anywhere, with or without a final newline) and random sequences of the admin API's edits, the
file always loads, holds exactly the intended change, and keeps every comment that was not
inside a table the edit removed. The edits are the ones the API's handlers apply
(ccm/server/admin/edits.py), saved through the same ConfigStore."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccm.config.load import load_config
from ccm.config.store import ConfigStore
from ccm.diagnostics import DiagnosticError
from ccm.server.admin import edits
from ccm.server.admin.bodies import MappingBody, ModelBody, ProviderBody
from ccm.server.admin.errors import AdminError

PROVIDER_NAMES = ["alpha", "beta", "gamma", "delta", "eps", "zeta"]
MODEL_NAMES = ["m-one", "m-two", "m-three", "m-four"]
ROUTER_KEYS = ["default", "background", "think", "websearch"]
TYPES = ["openai", "groq", "anthropic", "z.ai"]


@dataclass
class Model:
    """What the config should hold, to compare the file against."""

    providers: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> fields
    models: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    router: dict[str, str] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)  # comment token -> owner ("" = none)


@st.composite
def configs(draw: st.DrawFn) -> tuple[str, Model]:
    model = Model()
    counter = iter(range(10_000))

    def comment(owner: str) -> str:
        token = f"c{next(counter)}"
        model.comments[token] = owner
        return f"# {token}"

    def maybe_inline(owner: str) -> str:
        return f"  {comment(owner)}" if draw(st.booleans()) else ""

    def gap() -> str:
        return "\n" * draw(st.integers(0, 2))

    providers = draw(st.lists(st.sampled_from(PROVIDER_NAMES), min_size=1, max_size=4, unique=True))
    blocks: list[list[str]] = []
    for name in providers:
        ptype = draw(st.sampled_from(TYPES))
        enabled = draw(st.sampled_from([None, True, False]))
        owner = f"provider:{name}"
        lines = [f"[[providers]]{maybe_inline(owner)}", f'name = "{name}"{maybe_inline(owner)}']
        if draw(st.booleans()):
            lines.append(comment(owner))
        lines += [f'provider_type = "{ptype}"', f'api_key = "$KEY_{name.upper()}"']
        lines.append(f'base_url = "https://{name}.example/v1"{maybe_inline(owner)}')
        if enabled is not None:
            lines.append(f"enabled = {str(enabled).lower()}")
        model.providers[name] = {
            "provider_type": ptype,
            "base_url": f"https://{name}.example/v1",
            "enabled": enabled is not False,
        }
        blocks.append(lines)
    for name in draw(st.lists(st.sampled_from(MODEL_NAMES), max_size=3, unique=True)):
        owner = f"model:{name}"
        lines = [f"[[models]]{maybe_inline(owner)}", f'name = "{name}"']
        maps = draw(st.lists(st.sampled_from(providers), min_size=1, max_size=2, unique=True))
        for i, p in enumerate(maps, 1):
            lines += [
                "[[models.mappings]]",
                f'provider = "{p}"{maybe_inline(f"mapping:{name}:{p}")}',
            ]
            lines += [f'actual_model = "{name}-{p}"', f"priority = {i}"]
        model.models[name] = [(p, f"{name}-{p}", i) for i, p in enumerate(maps, 1)]
        blocks.append(lines)
    router_keys = draw(st.lists(st.sampled_from(ROUTER_KEYS), max_size=3, unique=True))
    if model.models and (router_keys or draw(st.booleans())):
        lines = [f"[router]{maybe_inline('')}"]
        for k in router_keys:
            v = draw(st.sampled_from(sorted(model.models)))
            lines.append(f'{k} = "{v}"{maybe_inline(f"router:{k}")}')
            model.router[k] = v
        blocks.insert(draw(st.integers(0, len(blocks))), lines)  # anywhere, last included
    server = ["[server]", f"port = 13456{maybe_inline('')}"]
    blocks.insert(0, server)
    text = comment("") + "\n" + gap()
    for lines in blocks:
        if draw(st.booleans()):
            text += comment("") + "\n"  # a comment introducing the block
        text += "\n".join(lines) + "\n" + gap()
    if not draw(st.booleans()):
        text = text.rstrip("\n")  # no final newline
    return text, model


names = st.sampled_from(PROVIDER_NAMES)
mnames = st.sampled_from(MODEL_NAMES)
EDITS = st.one_of(
    st.tuples(st.just("add_provider"), names, st.sampled_from(TYPES)),
    st.tuples(st.just("toggle"), names),
    st.tuples(st.just("move"), names),  # new base URL, key given again
    st.tuples(st.just("rename"), names, names),
    st.tuples(st.just("delete_provider"), names),
    st.tuples(st.just("add_model"), mnames, st.lists(names, min_size=1, max_size=2, unique=True)),
    st.tuples(st.just("edit_model"), mnames, st.lists(names, min_size=1, max_size=2, unique=True)),
    st.tuples(st.just("delete_model"), mnames),
    st.tuples(st.just("router"), st.sampled_from(ROUTER_KEYS), st.none() | mnames),
)


def _provider_body(name: str, fields: dict[str, Any], **over: Any) -> ProviderBody:
    data = {
        "name": name,
        "provider_type": fields["provider_type"],
        "api_key": "********",  # the page echoes the masked key
        "base_url": fields["base_url"],
        "enabled": fields["enabled"],
        **over,
    }
    return ProviderBody(**data)


def _model_body(name: str, providers: list[str]) -> ModelBody:
    mappings = [MappingBody(p, f"{name}-{p}", i) for i, p in enumerate(providers, 1)]
    return ModelBody(name=name, mappings=mappings)


def _plan(op: tuple[Any, ...], m: Model) -> tuple[Any, Model] | None:
    """The edit function for `op` and the model it should lead to; None when the API must
    refuse it (unknown names, duplicates, a provider still in use, a dangling mapping)."""
    kind = op[0]
    new = Model(
        {k: dict(v) for k, v in m.providers.items()},
        {k: list(v) for k, v in m.models.items()},
        dict(m.router),
        m.comments,
    )
    used = {p for maps in m.models.values() for p, _, _ in maps}
    if kind == "add_provider":
        _, name, ptype = op
        if name in m.providers:
            return None
        body = ProviderBody(name=name, provider_type=ptype, api_key=f"$KEY_{name.upper()}")
        new.providers[name] = {"provider_type": ptype, "base_url": None, "enabled": True}
        return edits.provider_added(body), new
    if kind in ("toggle", "move", "rename", "delete_provider") and op[1] not in m.providers:
        return None
    if kind == "toggle":
        name = op[1]
        new.providers[name]["enabled"] = not m.providers[name]["enabled"]
        body = _provider_body(name, m.providers[name], enabled=new.providers[name]["enabled"])
        return edits.provider_edited(name, body), new
    if kind == "move":
        name = op[1]
        url = f"https://moved-{name}.example/v1"
        new.providers[name]["base_url"] = url
        body = _provider_body(name, m.providers[name], base_url=url, api_key="$MOVED_KEY")
        return edits.provider_edited(name, body), new
    if kind == "rename":
        _, old, to = op
        if to in m.providers and to != old:
            return None
        new.providers = {(to if k == old else k): v for k, v in m.providers.items()}
        new.models = {
            k: [(to if p == old else p, a, i) for p, a, i in v] for k, v in m.models.items()
        }
        return edits.provider_edited(old, _provider_body(to, m.providers[old])), new
    if kind == "delete_provider":
        if op[1] in used:
            return None
        del new.providers[op[1]]
        return edits.provider_deleted(op[1]), new
    if kind in ("add_model", "edit_model"):
        _, name, providers = op
        if (name in m.models) == (kind == "add_model") or not set(providers) <= set(m.providers):
            return None
        new.models[name] = [(p, f"{name}-{p}", i) for i, p in enumerate(providers, 1)]
        change = edits.model_added if kind == "add_model" else None
        body = _model_body(name, providers)
        return (change(body) if change else edits.model_edited(name, body)), new
    if kind == "delete_model":
        name = op[1]
        if name not in m.models or name in m.router.values():
            return None
        del new.models[name]
        return edits.model_deleted(name), new
    if kind == "router":
        _, key, value = op
        if value is not None and value not in m.models:
            return None
        if value is None:
            new.router.pop(key, None)
        else:
            new.router[key] = value
        return edits.router_set({key: value}), new
    raise AssertionError(kind)


def _check(path: Path, expected: Model, removed_owners: set[str]) -> None:
    loaded = load_config(path)
    cfg = loaded.config
    got_providers = {
        p.name: {"provider_type": p.provider_type, "base_url": p.base_url, "enabled": p.is_enabled}
        for p in cfg.providers
    }
    assert got_providers == expected.providers
    got_models = {  # mappings in the order routing uses: by priority, ties by file order
        m.name: sorted(
            [(x.provider, x.actual_model, x.priority) for x in m.mappings], key=lambda x: x[2]
        )
        for m in cfg.models
    }
    assert got_models == expected.models
    router = {k: getattr(cfg.router, k) for k in ROUTER_KEYS if getattr(cfg.router, k)}
    assert router == expected.router
    text = path.read_text()
    present = set(re.findall(r"# (c\d+)\b", text))
    for token, owner in expected.comments.items():
        if owner not in removed_owners:
            assert token in present, f"comment {token} (of {owner or 'the file'}) was lost"
    assert "********" not in text


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(configs(), st.lists(EDITS, max_size=6))
def test_admin_edits_keep_the_file_whole(config: tuple[str, Model], ops: list[tuple]) -> None:
    text, model = config
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "config.toml"
        path.write_text(text)
        _check(path, model, set())
        store = ConfigStore(path)
        removed: set[str] = set()
        for op in ops:
            plan = _plan(op, model)
            before = path.read_text()
            if plan is None:
                try:
                    change = _refused_change(op, model)
                    if change is not None:
                        store.edit(change, validate=edits.strict)
                except (AdminError, DiagnosticError):
                    pass
                else:
                    if change is not None:
                        raise AssertionError(f"{op} should have been refused")
                assert path.read_text() == before
                continue
            change, expected = plan
            store.edit(change, validate=edits.strict)
            removed |= _gone(op, model)
            if op[0] == "rename" and op[1] != op[2]:
                expected.comments = {
                    t: _renamed(o, op[1], op[2]) for t, o in model.comments.items()
                }
                removed = {_renamed(o, op[1], op[2]) for o in removed}
            _check(path, expected, removed)
            model = expected


def _gone(op: tuple[Any, ...], m: Model) -> set[str]:
    """Owners of comments an applied op may remove with the tables it removes."""
    kind = op[0]
    if kind == "delete_provider":
        return {f"provider:{op[1]}"}
    if kind == "delete_model":
        return {f"model:{op[1]}"} | {f"mapping:{op[1]}:{p}" for p, _, _ in m.models[op[1]]}
    if kind == "edit_model":
        return {f"mapping:{op[1]}:{p}" for p, _, _ in m.models[op[1]] if p not in op[2]}
    if kind == "router" and op[2] is None:
        return {f"router:{op[1]}"}  # an inline comment goes with the line it is on
    return set()


def _renamed(owner: str, old: str, to: str) -> str:
    if owner == f"provider:{old}":
        return f"provider:{to}"
    if owner.startswith("mapping:") and owner.endswith(f":{old}"):
        return owner[: -len(old)] + to
    return owner


def _refused_change(op: tuple[Any, ...], m: Model) -> Any:
    """The change the API would try for a refused op (it must raise), or None when the API
    would not even get that far (a 404 before any edit is built is also a refusal)."""
    kind = op[0]
    if kind == "add_provider":
        return edits.provider_added(ProviderBody(name=op[1], provider_type=op[2]))
    if kind in ("toggle", "move"):
        return edits.provider_edited(op[1], ProviderBody(name=op[1], provider_type="openai"))
    if kind == "rename":
        if op[1] not in m.providers:
            return edits.provider_edited(op[1], ProviderBody(name=op[2], provider_type="openai"))
        return edits.provider_edited(op[1], _provider_body(op[2], m.providers[op[1]]))
    if kind == "delete_provider":
        return edits.provider_deleted(op[1])
    if kind == "add_model":
        return edits.model_added(_model_body(op[1], op[2]))
    if kind == "edit_model":
        return edits.model_edited(op[1], _model_body(op[1], op[2]))
    if kind == "delete_model":
        if op[1] in m.router.values() and op[1] in m.models:
            return edits.model_deleted(op[1])  # the router still names it: must not load
        return edits.model_deleted(op[1])
    if kind == "router":
        return edits.router_set({op[1]: op[2]})
    raise AssertionError(kind)
