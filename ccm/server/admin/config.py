"""GET /api/config (redacted), and claude-code-mux's shapes: GET/POST /api/config/json."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from tomlkit.toml_document import TOMLDocument

from ccm.runtime import State
from ccm.server.admin.bodies import ConfigBody, plain
from ccm.server.admin.edits import Saver, models_replaced, providers_replaced, set_router
from ccm.server.admin.views import config_view


class ConfigController(Controller):
    path = "/config"

    @get("/")
    async def config(self, ccm_state: NamedDependency[State]) -> dict[str, Any]:
        return config_view(ccm_state.runtime.config)

    @get("/json")
    async def config_json(self, ccm_state: NamedDependency[State]) -> dict[str, Any]:
        view = config_view(ccm_state.runtime.config)
        view["server"] = {"host": view["server"]["host"], "port": view["server"]["port"]}
        return view

    @post("/json", status_code=200)
    async def config_json_write(
        self, data: JSONBody[ConfigBody], saver: NamedDependency[Saver]
    ) -> dict[str, Any]:
        providers = providers_replaced(data.providers) if data.providers is not None else None
        models = models_replaced(data.models) if data.models is not None else None
        router = plain(data.router) if data.router is not None else None

        def change(doc: TOMLDocument) -> None:
            if providers is not None:
                providers(doc)
            if models is not None:
                models(doc)
            if router is not None:
                set_router(doc, router)

        await saver.save(change)
        return {"status": "success", "message": "Configuration saved and applied"}
