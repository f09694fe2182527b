"""Admin writes as edits of the config document (tomlkit, so comments and order survive), and
the save that validates, writes atomically and applies them. An edit raises NotFound, Conflict
or AdminError; the save turns a config that would not load into Invalid, writing nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec
import tomlkit
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

from ccm.config.load import LoadedConfig
from ccm.config.schema import ProviderConfig, RouterConfig
from ccm.config.secrets import REDACTED, url_password
from ccm.config.store import (
    ConfigStore,
    append_table,
    find,
    remove_table,
    replace_mappings,
    set_key,
    update_table,
    write_rules,
)
from ccm.diagnostics import DiagnosticError
from ccm.dialects.registry import PRESETS
from ccm.rules.load import build_router
from ccm.runtime import State
from ccm.server.admin.bodies import ModelBody, ProviderBody, plain
from ccm.server.admin.errors import AdminError, Conflict, Invalid, NotFound, SaveFailed

Change = Callable[[TOMLDocument], None]
ROUTER_KEYS = tuple(f.name for f in msgspec.structs.fields(RouterConfig))


def _default(f: msgspec.structs.FieldInfo) -> Any:
    if f.default is not msgspec.NODEFAULT:
        return f.default
    if f.default_factory is not msgspec.NODEFAULT:
        return f.default_factory()
    return msgspec.NODEFAULT


PROVIDER_DEFAULTS = {f.name: _default(f) for f in msgspec.structs.fields(ProviderConfig)}


class Saver:
    """Validate, write, apply: one admin write at a time, file and reload together."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.store = ConfigStore(state.config_path)

    async def save(self, change: Change) -> LoadedConfig:
        async with self.state.write_lock:
            try:
                loaded = self.store.edit(change, validate=strict)
            except DiagnosticError as e:
                raise Invalid(e) from None
            await self.applied()
            return loaded

    async def applied(self) -> None:
        if not await self.state.reload():
            raise SaveFailed(
                f"saved, but the running config could not take it: {self.state.last_error}"
            )

    async def save_rules(self, path: Path, text: str, set_path: bool) -> None:
        """Write a rules file (and point [router] rules at it when `set_path`); if the config
        edit fails, the rules file is put back as it was (no stray file is left)."""
        async with self.state.write_lock:
            before = path.read_text(encoding="utf-8") if path.exists() else None
            write_rules(path, text)
            try:
                if set_path:
                    try:
                        self.store.edit(
                            lambda doc: set_router(doc, {"rules": path.name}), validate=strict
                        )
                    except DiagnosticError as e:
                        raise Invalid(e) from None
                await self.applied()
            except BaseException:
                if before is None:
                    path.unlink(missing_ok=True)
                else:
                    write_rules(path, before)
                raise


def strict(loaded: LoadedConfig) -> None:
    """What the admin may save: the config compiles, and no mapping names a missing provider
    (a hand-written file only gets a warning for that; a page should not create one)."""
    dangling = [w for w in loaded.warnings if w.code == "unknown-provider"]
    if dangling:
        raise DiagnosticError([dataclasses.replace(d, severity="error") for d in dangling])
    build_router(loaded)


# ---- providers -----------------------------------------------------------------------------


def _destination(data: dict[str, Any]) -> tuple[str, str]:
    """Where a provider's key goes: the effective base URL, and the proxy it goes through."""
    preset = PRESETS.get(str(data.get("provider_type") or ""))
    base = data.get("base_url") or (preset.base_url if preset else "")
    proxy = str(data.get("proxy") or "")
    if url_password(proxy):
        proxy = proxy.split("@", 1)[1]  # the password may be masked; the host is what counts
    return str(base).rstrip("/"), proxy


def _masked(data: dict[str, Any]) -> list[str]:
    out = ["api_key"] if data.get("api_key") == REDACTED else []
    out += [f"api_keys[{i}]" for i, k in enumerate(data.get("api_keys") or []) if k == REDACTED]
    out += [f"headers.{k}" for k, v in (data.get("headers") or {}).items() if v == REDACTED]
    if url_password(data.get("proxy")) == REDACTED:
        out.append("proxy password")
    return out


def with_stored_secrets(stored: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """`data` with masked secrets replaced by the stored ones, which are only ever sent where
    they were sent before: a masked secret echoed with a new base URL, type or proxy is refused."""
    masked = _masked(data)
    if not masked:
        return data
    if _destination(stored) != _destination(data):
        raise AdminError(
            f"provider {data.get('name')!r} would send its stored {', '.join(masked)} to a new "
            f"address ({_destination(data)[0] or 'none'}); give the key again (or a $ENV "
            "reference): a stored secret never follows a changed base URL, type or proxy"
        )
    out = dict(data)
    if data.get("api_key") == REDACTED:
        out["api_key"] = stored.get("api_key")
    keys = data.get("api_keys") or []
    if REDACTED in keys:  # a key pool echoed back: each masked key is the stored one at its place
        old_keys = list(stored.get("api_keys") or [])
        if len(old_keys) != len(keys):
            raise AdminError(
                f"provider {data.get('name')!r}: api_keys has masked keys but not the stored "
                "number of keys; give the keys again (or $ENV references)"
            )
        out["api_keys"] = [o if k == REDACTED else k for k, o in zip(keys, old_keys, strict=True)]
    headers = data.get("headers") or {}
    if headers:
        old = stored.get("headers") or {}
        out["headers"] = {k: old.get(k) if v == REDACTED else v for k, v in headers.items()}
    if url_password(data.get("proxy")) == REDACTED:
        out["proxy"] = stored.get("proxy")
    return out


def _written(table: Table | None, data: dict[str, Any]) -> dict[str, Any]:
    """The keys to write. A view echoed back carries defaults the file never had: a default is
    written only over a key the file already has with that value; a key going back to its
    default is removed (`enabled = true` is the default too)."""
    if data.get("enabled") is True:
        data = {**data, "enabled": None}
    out: dict[str, Any] = {}
    for k, v in data.items():
        default = PROVIDER_DEFAULTS.get(k, msgspec.NODEFAULT)
        if table is not None and k in table:
            current = table[k]
            out[k] = None if v == default and current != default else v
        elif v != default:
            out[k] = v
    return out


def _existing(doc: TOMLDocument, array: str, name: str) -> int:
    """The index of the [[array]] table named `name`; NotFound when there is none."""
    i = find(doc.get(array), name)
    if i is None:
        raise NotFound(f"no {array.removesuffix('s')} named {name!r}")
    return i


def provider_added(body: ProviderBody) -> Change:
    data = plain(body)
    if _masked(data):
        raise AdminError(
            f"give the new provider's {', '.join(_masked(data))} (the value, or a $ENV reference)"
        )

    def change(doc: TOMLDocument) -> None:
        if find(doc.get("providers"), body.name) is not None:
            raise Conflict(f"a provider named {body.name!r} already exists; pick another name")
        append_table(doc, "providers", _written(None, data))

    return change


def provider_edited(name: str, body: ProviderBody) -> Change:
    def change(doc: TOMLDocument) -> None:
        i = _existing(doc, "providers", name)
        _update_provider(doc, doc["providers"][i], plain(body))
        if body.name != name:  # a rename follows through to the mappings
            if find(doc.get("providers"), body.name) not in (None, i):
                raise Conflict(f"a provider named {body.name!r} already exists")
            for m in doc.get("models", []):
                for mp in m.get("mappings", []):
                    if mp.get("provider") == name:
                        mp["provider"] = body.name

    return change


def _update_provider(doc: TOMLDocument, table: Table, data: dict[str, Any]) -> None:
    data = with_stored_secrets(table.unwrap(), data)
    update_table(table, _written(table, data))


def provider_deleted(name: str) -> Change:
    def change(doc: TOMLDocument) -> None:
        i = _existing(doc, "providers", name)
        users = [
            m.get("name")
            for m in doc.get("models", [])
            if any(mp.get("provider") == name for mp in m.get("mappings", []))
        ]
        if users:
            raise Conflict(
                f"provider {name!r} is still used by model(s) {', '.join(users)}; "
                "remove those mappings first"
            )
        remove_table(doc, "providers", i)

    return change


def providers_replaced(bodies: list[ProviderBody]) -> Change:
    """The whole list: providers not in it go, the others are edited or added in place."""
    return _replaced(
        "providers",
        bodies,
        provider_added,
        lambda doc, table, b: _update_provider(doc, table, plain(b)),
    )


def _replaced(
    array: str,
    bodies: list[Any],
    added: Callable[[Any], Change],
    update: Callable[[TOMLDocument, Table, Any], None],
) -> Change:
    """A whole [[array]] list replaced by `bodies`, by name: the missing go (with
    remove_table, keeping comments), the present are updated in place, the new are added."""

    def change(doc: TOMLDocument) -> None:
        keep = {b.name for b in bodies}
        aot = doc.get(array)
        if aot is not None:
            for i in reversed(range(len(aot))):
                if aot[i].get("name") not in keep:
                    remove_table(doc, array, i)
        for b in bodies:
            i = find(doc.get(array), b.name)
            if i is None:
                added(b)(doc)
            else:
                update(doc, doc[array][i], b)

    return change


# ---- models --------------------------------------------------------------------------------


def _mappings(body: ModelBody) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in msgspec.to_builtins(m).items() if v is not None} for m in body.mappings
    ]


def model_added(body: ModelBody) -> Change:
    def change(doc: TOMLDocument) -> None:
        if find(doc.get("models"), body.name) is not None:
            raise Conflict(f"a model named {body.name!r} already exists; pick another name")
        append_table(doc, "models", {"name": body.name, "mappings": _mappings(body)})

    return change


def model_edited(name: str, body: ModelBody) -> Change:
    def change(doc: TOMLDocument) -> None:
        i = _existing(doc, "models", name)
        if body.name != name and find(doc.get("models"), body.name) is not None:
            raise Conflict(f"a model named {body.name!r} already exists")
        set_key(doc["models"][i], "name", body.name)
        replace_mappings(doc["models"][i], _mappings(body))

    return change


def model_deleted(name: str) -> Change:
    def change(doc: TOMLDocument) -> None:
        i = _existing(doc, "models", name)
        remove_table(doc, "models", i)

    return change


def models_replaced(bodies: list[ModelBody]) -> Change:
    return _replaced(
        "models", bodies, model_added, lambda _doc, table, b: replace_mappings(table, _mappings(b))
    )


# ---- router --------------------------------------------------------------------------------


def confined_rules_path(value: str) -> str:
    """A rules path the admin API may set: a `.rules` file inside the config folder, given
    relative to it. Anything else could make ccm read (and the page overwrite) another file."""
    p = PurePosixPath(value.replace("\\", "/"))
    if (
        p.is_absolute()
        or value.startswith("~")
        or ".." in p.parts
        or p.suffix != ".rules"
        or ":" in value
    ):
        raise AdminError(
            f"rules must name a .rules file inside the config folder, relative to it "
            f'(e.g. "ccm.rules"), not {value[:80]!r}'
        )
    return str(p)


def set_router(doc: TOMLDocument, data: dict[str, Any]) -> None:
    unknown = set(data) - set(ROUTER_KEYS)
    if unknown:
        raise AdminError(f"unknown [router] keys: {', '.join(sorted(unknown))}")
    if "router" not in doc:
        doc["router"] = tomlkit.table()
    for k, v in data.items():
        if k == "rules" and v:
            v = confined_rules_path(str(v))
        set_key(doc["router"], k, None if v == "" else v)


def router_set(data: dict[str, Any]) -> Change:
    return lambda doc: set_router(doc, data)


def rules_target(state: State) -> tuple[Path, bool]:
    """Where PUT /api/rules writes, and whether [router] rules must be set to it."""
    folder = state.config_path.parent.resolve()
    current = state.runtime.loaded.rules_path()
    if current is None:
        return folder / "ccm.rules", True
    resolved = current.resolve()
    if resolved.parent != folder and folder not in resolved.parents:
        raise Conflict(
            f"the rules file {current} is outside the config folder, so the page does not write "
            "it; edit it there, or set [router] rules to a file in the config folder"
        )
    return current, False
