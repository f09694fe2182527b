"""/api/providers: list, add, edit (rename follows through to mappings), delete."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ccm.runtime import State
from ccm.server.admin.bodies import ProviderBody
from ccm.server.admin.edits import Saver, provider_added, provider_deleted, provider_edited
from ccm.server.admin.views import provider_view


class ProviderController(Controller):
    path = "/providers"

    @get("/")
    async def providers(self, ccm_state: NamedDependency[State]) -> list[dict[str, Any]]:
        return [provider_view(p) for p in ccm_state.runtime.config.providers]

    @post("/", status_code=201)
    async def add(
        self,
        data: JSONBody[ProviderBody],
        saver: NamedDependency[Saver],
        ccm_state: NamedDependency[State],
    ) -> dict[str, Any]:
        await saver.save(provider_added(data))
        return _view(ccm_state, data.name)

    @put("/{name:str}")
    async def edit(
        self,
        name: FromPath[str],
        data: JSONBody[ProviderBody],
        saver: NamedDependency[Saver],
        ccm_state: NamedDependency[State],
    ) -> dict[str, Any]:
        await saver.save(provider_edited(name, data))
        return _view(ccm_state, data.name)

    @delete("/{name:str}", status_code=200)
    async def remove(self, name: FromPath[str], saver: NamedDependency[Saver]) -> dict[str, Any]:
        await saver.save(provider_deleted(name))
        return {"deleted": name}


def _view(state: State, name: str) -> dict[str, Any]:
    p = state.runtime.config.provider(name)
    assert p is not None, "a saved provider is in the reloaded config"
    return provider_view(p)
