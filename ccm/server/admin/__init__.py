"""The admin API under /api and the admin page at /. See docs/admin-api.md and docs/security.md.

One Litestar Controller per resource (status, config, providers, models, router, rules, tools,
oauth, usage); `State` and the `Saver` come by `Provide`; bodies are msgspec Structs checked by the
framework; failures are exceptions answered by one handler. Guards: loopback clients naming this
machine by address, or the admin token (guards.admin_guard); writes JSON-only and same-origin
(guards.json_writes). Every write goes through Saver (validated, atomic, comment-keeping) and
then State.reload(), the same path as hot reload. Keys are never shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Response, Router, get
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from ccm.runtime import State
from ccm.server.admin.config import ConfigController
from ccm.server.admin.edits import Saver
from ccm.server.admin.errors import HANDLERS
from ccm.server.admin.guards import admin_guard, json_writes
from ccm.server.admin.models import ModelController
from ccm.server.admin.oauth import OAuthController, oauth_callback
from ccm.server.admin.providers import ProviderController
from ccm.server.admin.rules import RouterController, RulesController
from ccm.server.admin.status import StatusController
from ccm.server.admin.tools import ToolsController
from ccm.server.admin.usage import UsageController

STATIC = Path(__file__).resolve().parent.parent / "static"
CONTROLLERS = (
    StatusController,
    ConfigController,
    ProviderController,
    ModelController,
    RouterController,
    RulesController,
    ToolsController,
    OAuthController,
    UsageController,
)


def admin_routes(state: State) -> list[Any]:
    saver = Saver(state)
    api = Router(
        path="/api",
        route_handlers=list(CONTROLLERS),
        guards=[admin_guard(state), json_writes],
        dependencies={
            "ccm_state": Provide(lambda: state, sync_to_thread=False),
            "saver": Provide(lambda: saver, sync_to_thread=False),
        },
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
    )

    @get("/", media_type="text/html")
    async def index() -> Response[bytes]:
        return Response(content=(STATIC / "index.html").read_bytes(), media_type="text/html")

    routes: list[Any] = [api, oauth_callback]
    if STATIC.is_dir():
        routes += [index, create_static_files_router(path="/static", directories=[STATIC])]
    return routes


__all__ = ["admin_guard", "admin_routes"]
