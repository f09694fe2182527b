"""The admin API under /api and the admin page at /. See docs/admin-api.md.

Loopback-only unless [server] admin_token is set (then the token is required); writes are
JSON-only and refuse a foreign Origin; keys are redacted in every answer. Every write goes
through ConfigStore (validated, atomic, comment-keeping) and then State.reload(), the same
path as hot reload.
"""

from __future__ import annotations

import dataclasses
import hmac
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response, Router, delete, get, post, put
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.static_files import create_static_files_router
from tomlkit.toml_document import TOMLDocument

from ccm import __version__
from ccm.config.load import env_reference
from ccm.config.schema import ModelConfig, ProviderConfig
from ccm.config.secrets import MissingSecret, redact, resolve
from ccm.config.store import (
    REDACTED,
    ConfigStore,
    append_table,
    find,
    problems,
    replace_mappings,
    set_key,
    update_table,
    write_rules,
)
from ccm.diagnostics import DiagnosticError
from ccm.dialects.registry import preset as provider_preset
from ccm.dispatch import dispatch
from ccm.rules.chain import Resolver
from ccm.rules.compile import compile_rules
from ccm.rules.explain import explain
from ccm.rules.from_toml import rules_from_router
from ccm.rules.load import build_router
from ccm.rules.parse import parse_rules
from ccm.rules.tokens import estimate_tokens
from ccm.runtime import State
from ccm.server.proxy import error_response

STATIC = Path(__file__).resolve().parent / "static"
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
_decode = msgspec.json.decode
_encode = msgspec.json.encode
WRITE_METHODS = {"POST", "PUT", "DELETE", "PATCH"}


def _json(data: Any, status: int = 200) -> Response:
    return Response(content=_encode(data), status_code=status, media_type="application/json")


def _invalid(e: DiagnosticError, what: str = "config") -> Response:
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": f"{what} is not valid:\n{e}"},
        "diagnostics": problems(e),
    }
    return _json(body, 422)


def _host_is_loopback(host: str) -> bool:
    if host.startswith("127."):
        return True
    return host in ("::1", "localhost")


def admin_guard(state: State) -> Callable[[ASGIConnection, BaseRouteHandler], None]:
    def guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
        server = state.runtime.config.server
        token = None
        if server.admin_token:
            try:
                token = resolve(server.admin_token, "server.admin_token")
            except MissingSecret:
                raise PermissionDeniedException(
                    "server.admin_token refers to an unset variable"
                ) from None
        headers = connection.headers
        if token:
            given = headers.get("x-ccm-admin-token") or ""
            auth = headers.get("authorization") or ""
            if not given and auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise NotAuthorizedException(
                    "admin token required (Authorization: Bearer ... or x-ccm-admin-token)"
                )
        else:
            client = connection.client.host if connection.client else ""
            if not _host_is_loopback(client):
                raise PermissionDeniedException(
                    "the admin API answers loopback clients only; set [server] admin_token"
                )
            host = (urlsplit("//" + (headers.get("host") or "")).hostname or "").lower()
            if host not in LOOPBACK_NAMES and host != server.host and not host.startswith("127."):
                raise PermissionDeniedException(
                    f"Host {host!r} is not this server (DNS rebinding guard)"
                )
        if connection.scope.get("method") in WRITE_METHODS:
            ctype = (headers.get("content-type") or "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise HTTPException(
                    status_code=415, detail="admin writes take Content-Type: application/json"
                )
            origin = headers.get("origin")
            if origin:
                o = urlsplit(origin)
                if o.netloc.lower() != (headers.get("host") or "").lower():
                    raise PermissionDeniedException(f"cross-origin write refused (Origin {origin})")

    return guard


# ---- views of the config (never a secret) --------------------------------------------------


def provider_view(p: ProviderConfig) -> dict[str, Any]:
    data = msgspec.to_builtins(p)
    data["api_key"] = redact(p.api_key)
    data.setdefault("enabled", True)
    if data["enabled"] is None:
        data["enabled"] = True
    return {k: v for k, v in data.items() if v not in (None, {}, [])} | {"models": p.models}


def model_view(m: ModelConfig) -> dict[str, Any]:
    return {
        "name": m.name,
        "mappings": [
            {k: v for k, v in msgspec.to_builtins(x).items() if v is not None}
            for x in sorted(m.mappings, key=lambda x: x.priority)
        ],
    }


def key_status(p: ProviderConfig) -> str:
    if p.auth_type == "oauth":
        return f"oauth: {p.oauth_provider or p.name}"
    if p.api_key is None:
        return (
            "none"
            if not getattr(provider_preset(p.provider_type), "needs_key", True)
            else "missing"
        )
    var = env_reference(p.api_key)
    if var is None:
        return "set"
    try:
        resolve(p.api_key, p.name)
    except MissingSecret:
        return f"${var} is not set"
    return f"from ${var}"


def _body_dict(raw: bytes) -> dict[str, Any]:
    try:
        data = _decode(raw) if raw else {}
    except msgspec.DecodeError as e:
        raise HTTPException(status_code=400, detail=f"body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise HTTPException(status_code=400, detail="body must be a JSON object")
    return data


PROVIDER_KEYS = {f.name for f in msgspec.structs.fields(ProviderConfig)}
PROVIDER_DEFAULTS: dict[str, Any] = {
    "auth_type": "apikey",
    "models": [],
    "headers": {},
    "enabled": True,
}


def _clean_provider(data: dict[str, Any]) -> dict[str, Any]:
    unknown = set(data) - PROVIDER_KEYS
    if unknown:
        raise HTTPException(
            status_code=400, detail=f"unknown provider keys: {', '.join(sorted(unknown))}"
        )
    for k in ("name", "provider_type"):
        if not isinstance(data.get(k), str) or not data[k]:
            raise HTTPException(status_code=400, detail=f"provider {k} is required")
    if data.get("api_key") == "":
        data["api_key"] = None
    if data.get("base_url") == "":
        data["base_url"] = None
    return data


def _clean_model(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise HTTPException(status_code=400, detail="model name is required")
    mappings = data.get("mappings") or []
    if not isinstance(mappings, list) or not all(isinstance(m, dict) for m in mappings):
        raise HTTPException(status_code=400, detail="mappings must be a list of objects")
    out = []
    for i, m in enumerate(mappings, 1):
        if not m.get("provider") or not m.get("actual_model"):
            raise HTTPException(
                status_code=400, detail=f"mapping {i}: provider and actual_model are required"
            )
        mapping = {
            "provider": m["provider"],
            "actual_model": m["actual_model"],
            "priority": int(m.get("priority") or i),
        }
        if isinstance(m.get("max_tokens"), int) and not isinstance(m["max_tokens"], bool):
            mapping["max_tokens"] = m["max_tokens"]  # kept through page edits that echo it back
        out.append(mapping)
    return {"name": data["name"], "mappings": out}


def admin_routes(state: State) -> list[Any]:
    store = ConfigStore(state.config_path)

    async def save(change: Callable[[TOMLDocument], None]) -> Response | None:
        """Validate, write, reload. None on success, else the error answer."""
        async with state.write_lock:
            try:
                store.edit(change, validate=_strict)
            except DiagnosticError as e:
                return _invalid(e)
            except KeyError as e:
                return error_response(
                    404, str(e.args[0]) if e.args else "not found", "not_found_error"
                )
            except ValueError as e:
                return error_response(409, str(e))
            if not await state.reload():
                return error_response(500, f"saved, but reload failed: {state.last_error}")
        return None

    @get("/status")
    async def status() -> Response:
        rt = state.runtime
        failures: dict[str, list[dict[str, Any]]] = {}
        for rec in state.recent:
            for a in rec["attempts"]:
                if a["status"] != 200:
                    failures.setdefault(a["provider"], []).append({"time": rec["time"], **a})
        providers = []
        for p in rt.config.providers:
            preset = provider_preset(p.provider_type, p.auth_type)
            fails = failures.get(p.name, [])
            providers.append(
                {
                    "name": p.name,
                    "provider_type": p.provider_type,
                    "dialect": preset.dialect.name if preset else None,
                    "enabled": p.is_enabled,
                    "auth_type": p.auth_type,
                    "base_url": p.base_url or (preset.base_url if preset else None),
                    "key_status": key_status(p),
                    "recent_failures": len(fails),
                    "last_error": fails[-1]["reason"] if fails else None,
                    "health": state.health.snapshot(p.name),
                }
            )
        return _json(
            {
                "version": __version__,
                "uptime_s": round(time.time() - state.started_at, 1),
                "config_path": str(state.config_path),
                "rules_path": rt.router.rules_file.path,
                "rules_version": rt.version,
                "last_reload_error": state.last_error,
                "providers": providers,
                "models": len(rt.config.models),
                "requests": len(state.recent),
            }
        )

    def config_view() -> dict[str, Any]:
        cfg = state.runtime.config
        server = msgspec.to_builtins(cfg.server)
        server["api_key"] = redact(cfg.server.api_key)
        server["admin_token"] = redact(cfg.server.admin_token)
        return {
            "server": {k: v for k, v in server.items() if v is not None},
            "router": {k: v for k, v in msgspec.to_builtins(cfg.router).items() if v is not None},
            "providers": [provider_view(p) for p in cfg.providers],
            "models": [model_view(m) for m in cfg.models],
        }

    @get("/config")
    async def config() -> Response:
        return _json(config_view())

    @get("/config/json")
    async def config_json() -> Response:
        view = config_view()
        view["server"] = {"host": view["server"]["host"], "port": view["server"]["port"]}
        return _json(view)

    @post("/config/json", status_code=200)
    async def config_json_write(request: Request) -> Response:
        data = _body_dict(await request.body())
        providers = data.get("providers")
        models = data.get("models")
        router = data.get("router")
        if providers is not None:
            providers = [_clean_provider(dict(p)) for p in providers]
        if models is not None:
            models = [_clean_model(dict(m)) for m in models]

        def change(doc: TOMLDocument) -> None:
            if providers is not None:
                old = {t.get("name"): t for t in doc.get("providers", [])}
                aot = doc.get("providers")
                keep = {p["name"] for p in providers}
                if aot is not None:
                    for i in reversed(range(len(aot))):
                        if aot[i].get("name") not in keep:
                            del aot[i]
                for p in providers:
                    if p["name"] in old:
                        update_table(old[p["name"]], p)
                    else:
                        append_table(
                            doc, "providers", {k: v for k, v in p.items() if v != REDACTED}
                        )
            if models is not None:
                aot = doc.get("models")
                keep = {m["name"] for m in models}
                if aot is not None:
                    for i in reversed(range(len(aot))):
                        if aot[i].get("name") not in keep:
                            del aot[i]
                for m in models:
                    i = find(doc.get("models"), m["name"])
                    if i is None:
                        append_table(doc, "models", m)
                    else:
                        replace_mappings(doc["models"][i], m["mappings"])
            if isinstance(router, dict):
                _set_router(doc, router)

        failed = await save(change)
        return failed or _json({"status": "success", "message": "Configuration saved and applied"})

    @get("/providers")
    async def providers() -> Response:
        return _json([provider_view(p) for p in state.runtime.config.providers])

    @post("/providers", status_code=201)
    async def provider_add(request: Request) -> Response:
        data = _clean_provider(_body_dict(await request.body()))
        if data.get("api_key") == REDACTED:
            raise HTTPException(
                status_code=400, detail="give the new provider's api_key (or a $ENV reference)"
            )

        def change(doc: TOMLDocument) -> None:
            if find(doc.get("providers"), data["name"]) is not None:
                raise ValueError(f"provider {data['name']!r} already exists")
            append_table(doc, "providers", data)

        failed = await save(change)
        if failed:
            return failed
        p = state.runtime.config.provider(data["name"])
        return _json(provider_view(p) if p else data, 201)

    @put("/providers/{name:str}")
    async def provider_edit(name: FromPath[str], request: Request) -> Response:
        data = _clean_provider(_body_dict(await request.body()))

        def change(doc: TOMLDocument) -> None:
            i = find(doc.get("providers"), name)
            if i is None:
                raise KeyError(f"no provider named {name!r}")
            table = doc["providers"][i]
            keys = [
                k for k in PROVIDER_KEYS if k in data or k in ("base_url", "api_key", "enabled")
            ]
            # a view echoed back carries defaults the file never had: don't write those
            full = {
                k: data.get(k)
                for k in keys
                if k in table or data.get(k) != PROVIDER_DEFAULTS.get(k, object())
            }
            update_table(table, full)
            if data["name"] != name:  # a rename follows through to the mappings
                for m in doc.get("models", []):
                    for mp in m.get("mappings", []):
                        if mp.get("provider") == name:
                            mp["provider"] = data["name"]

        failed = await save(change)
        if failed:
            return failed
        p = state.runtime.config.provider(data["name"])
        return _json(provider_view(p) if p else data)

    @delete("/providers/{name:str}", status_code=200)
    async def provider_delete(name: FromPath[str]) -> Response:
        def change(doc: TOMLDocument) -> None:
            i = find(doc.get("providers"), name)
            if i is None:
                raise KeyError(f"no provider named {name!r}")
            users = [
                m.get("name")
                for m in doc.get("models", [])
                if any(mp.get("provider") == name for mp in m.get("mappings", []))
            ]
            if users:
                raise ValueError(f"provider {name!r} is still used by model(s) {', '.join(users)}")
            del doc["providers"][i]

        failed = await save(change)
        return failed or _json({"deleted": name})

    @get("/models-config")
    async def models_config() -> Response:
        return _json([model_view(m) for m in state.runtime.config.models])

    @post("/models", status_code=201)
    async def model_add(request: Request) -> Response:
        data = _clean_model(_body_dict(await request.body()))

        def change(doc: TOMLDocument) -> None:
            if find(doc.get("models"), data["name"]) is not None:
                raise ValueError(f"model {data['name']!r} already exists")
            append_table(doc, "models", data)

        failed = await save(change)
        return failed or _json(data, 201)

    @put("/models/{name:str}")
    async def model_edit(name: FromPath[str], request: Request) -> Response:
        data = _clean_model(_body_dict(await request.body()))

        def change(doc: TOMLDocument) -> None:
            i = find(doc.get("models"), name)
            if i is None:
                raise KeyError(f"no model named {name!r}")
            set_key(doc["models"][i], "name", data["name"])
            replace_mappings(doc["models"][i], data["mappings"])

        failed = await save(change)
        return failed or _json(data)

    @delete("/models/{name:str}", status_code=200)
    async def model_delete(name: FromPath[str]) -> Response:
        def change(doc: TOMLDocument) -> None:
            i = find(doc.get("models"), name)
            if i is None:
                raise KeyError(f"no model named {name!r}")
            del doc["models"][i]

        failed = await save(change)
        return failed or _json({"deleted": name})

    @get("/router")
    async def router_get() -> Response:
        return _json(config_view()["router"])

    @put("/router")
    async def router_put(request: Request) -> Response:
        data = _body_dict(await request.body())
        failed = await save(lambda doc: _set_router(doc, data))
        return failed or _json(config_view()["router"])

    @get("/rules")
    async def rules_get() -> Response:
        loaded = state.runtime.loaded
        path = loaded.rules_path()
        if path is None:
            text, _ = rules_from_router(loaded)
            return _json({"path": None, "text": text, "from_toml": True})
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            return error_response(500, f"cannot read {path}: {e}")
        return _json({"path": str(path), "text": text, "from_toml": False})

    def check_text(text: str, path: str) -> DiagnosticError | None:
        try:
            compile_rules(parse_rules(text, path), Resolver(state.runtime.config))
        except DiagnosticError as e:
            return e
        return None

    @post("/rules/check", status_code=200)
    async def rules_check(request: Request) -> Response:
        data = _body_dict(await request.body())
        text = data.get("text")
        if not isinstance(text, str):
            raise HTTPException(status_code=400, detail="text (the rules) is required")
        path = state.runtime.loaded.rules_path()
        err = check_text(text, str(path) if path else "ccm.rules")
        return _json({"ok": err is None, "diagnostics": problems(err) if err else []})

    @put("/rules")
    async def rules_put(request: Request) -> Response:
        data = _body_dict(await request.body())
        text = data.get("text")
        if not isinstance(text, str):
            raise HTTPException(status_code=400, detail="text (the rules) is required")
        current = state.runtime.loaded.rules_path()
        path = current or state.config_path.parent / "ccm.rules"
        err = check_text(text, str(path))
        if err is not None:
            return _invalid(err, "rules")
        async with state.write_lock:
            write_rules(path, text)
            if current is None:
                try:
                    store.edit(lambda doc: _set_router(doc, {"rules": path.name}))
                except DiagnosticError as e:
                    return _invalid(e)
            if not await state.reload():
                return error_response(500, f"saved, but reload failed: {state.last_error}")
        return _json(
            {
                "path": str(path),
                "text": text,
                "from_toml": False,
                "rules_version": state.runtime.version,
            }
        )

    @post("/explain", status_code=200)
    async def explain_route(request: Request) -> Response:
        data = _body_dict(await request.body())
        req = data.get("request")
        headers = data.get("headers") or {}
        if not isinstance(headers, dict):
            raise HTTPException(status_code=400, detail="headers must be an object")
        router = state.runtime.router
        draft = data.get("text")
        if isinstance(draft, str):  # explain by unsaved rules, e.g. the page's editor
            try:
                router = compile_rules(
                    parse_rules(draft, "draft.rules"), Resolver(state.runtime.config)
                )
            except DiagnosticError as e:
                return _invalid(e, "rules")
        return _json(explain(router, req, {str(k).lower(): str(v) for k, v in headers.items()}))

    @post("/test", status_code=200)
    async def test_message(request: Request) -> Response:
        data = _body_dict(await request.body())
        model, message = data.get("model"), data.get("message")
        if not isinstance(model, str) or not model or not isinstance(message, str) or not message:
            raise HTTPException(status_code=400, detail="model and message are required")
        max_tokens = data.get("max_tokens") or 1024
        body = {
            "model": model,
            "max_tokens": int(max_tokens),
            "messages": [{"role": "user", "content": message}],
        }
        rt = state.runtime
        t0 = time.perf_counter()
        decision = rt.router.route(body)
        route = {"rule": decision.rule, "model": decision.model, "provider": None}
        if decision.error:
            return _json({"status": 404, "error": decision.error, "route": route, "attempts": []})
        chain = decision.chain
        forced = data.get("provider")
        if forced:
            chain = tuple(e for e in chain if e.provider == forced)
        reply = await dispatch(
            rt.clients,
            chain,
            body,
            {},
            stream=False,
            requested_model=model,
            input_tokens=lambda: estimate_tokens(body),
            health=state.health,
            policy=rt.retry,
        )
        state.record(decision, reply.provider, reply.status, t0, reply.attempts)
        answer = _decode(reply.body) if reply.body else None
        text = ""
        if isinstance(answer, dict) and answer.get("type") == "message":
            text = "".join(
                b.get("text", "") for b in answer.get("content", []) if isinstance(b, dict)
            )
        route["provider"] = reply.provider
        return _json(
            {
                "status": reply.status,
                "text": text,
                "route": route,
                "attempts": [a.to_json() for a in reply.attempts],
                "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
                "message": answer,
                "error": None
                if reply.status == 200
                else (answer or {}).get("error", {}).get("message"),
            }
        )

    @get("/logs")
    async def logs(limit: FromQuery[int] = 200) -> Response:
        items = list(state.recent)[-max(1, min(limit, 500)) :]
        return _json(items[::-1])

    @post("/reload", status_code=200)
    async def reload_now() -> Response:
        ok = await state.reload()
        return _json({"ok": ok, "rules_version": state.runtime.version, "error": state.last_error})

    api = Router(
        path="/api",
        route_handlers=[
            status,
            config,
            config_json,
            config_json_write,
            providers,
            provider_add,
            provider_edit,
            provider_delete,
            models_config,
            model_add,
            model_edit,
            model_delete,
            router_get,
            router_put,
            rules_get,
            rules_check,
            rules_put,
            explain_route,
            test_message,
            logs,
            reload_now,
        ],
        guards=[admin_guard(state)],
    )

    @get("/", media_type="text/html")
    async def index() -> Response:
        return Response(content=(STATIC / "index.html").read_bytes(), media_type="text/html")

    routes: list[Any] = [api]
    if STATIC.is_dir():
        routes += [index, create_static_files_router(path="/static", directories=[STATIC])]
    return routes


def _strict(loaded: Any) -> None:
    """What the admin may save: the config compiles, and no mapping names a missing provider
    (a hand-written file only gets a warning for that; a page should not create one)."""
    dangling = [w for w in loaded.warnings if "names unknown provider" in w.message]
    if dangling:
        raise DiagnosticError([dataclasses.replace(d, severity="error") for d in dangling])
    build_router(loaded)


ROUTER_KEYS = (
    "default",
    "background",
    "think",
    "websearch",
    "auto_map_regex",
    "background_regex",
    "long_context",
    "long_context_threshold",
    "image",
    "rules",
)


def _set_router(doc: TOMLDocument, data: dict[str, Any]) -> None:
    unknown = set(data) - set(ROUTER_KEYS)
    if unknown:
        raise ValueError(f"unknown [router] keys: {', '.join(sorted(unknown))}")
    if "router" not in doc:
        import tomlkit

        doc["router"] = tomlkit.table()
    for k, v in data.items():
        set_key(doc["router"], k, None if v == "" else v)
