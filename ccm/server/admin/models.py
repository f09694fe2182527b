"""/api/models-config (list), /api/models: add, edit, delete."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ccm.runtime import State
from ccm.server.admin.bodies import ModelBody
from ccm.server.admin.edits import Saver, model_added, model_deleted, model_edited
from ccm.server.admin.views import model_view


class ModelController(Controller):
    path = "/"

    @get(["/models-config", "/models"])
    async def models(self, ccm_state: NamedDependency[State]) -> list[dict[str, Any]]:
        return [model_view(m) for m in ccm_state.runtime.config.models]

    @post("/models", status_code=201)
    async def add(
        self,
        data: JSONBody[ModelBody],
        saver: NamedDependency[Saver],
        ccm_state: NamedDependency[State],
    ) -> dict[str, Any]:
        await saver.save(model_added(data))
        return _view(ccm_state, data.name)

    @put("/models/{name:str}")
    async def edit(
        self,
        name: FromPath[str],
        data: JSONBody[ModelBody],
        saver: NamedDependency[Saver],
        ccm_state: NamedDependency[State],
    ) -> dict[str, Any]:
        await saver.save(model_edited(name, data))
        return _view(ccm_state, data.name)

    @delete("/models/{name:str}", status_code=200)
    async def remove(self, name: FromPath[str], saver: NamedDependency[Saver]) -> dict[str, Any]:
        await saver.save(model_deleted(name))
        return {"deleted": name}


def _view(state: State, name: str) -> dict[str, Any]:
    m = state.runtime.config.model(name)
    assert m is not None, "a saved model is in the reloaded config"
    return model_view(m)
