"""GET /api/catalog: what the admin page offers in its forms, from the server's own tables
(provider types and their defaults from ccm.dialects.registry, OAuth flows from ccm.oauth,
the [router] slots from the config schema), so the page keeps no copy of its own.
Read-only; guarded like the rest of /api."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Router, get

from ccm.config.schema import RouterConfig
from ccm.dialects import registry
from ccm.oauth.flows import FLOW_NAMES, get_flow
from ccm.runtime import State
from ccm.server.admin.guards import admin_guard

# what each [router] key means, for the page's hints (docs/config.md is the reference)
SLOT_HINTS = {
    "default": "model for everything else",
    "background": "background work (haiku requests)",
    "think": "extended thinking (thinking.type enabled)",
    "websearch": "requests with the web_search tool",
    "long_context": "large contexts",
    "long_context_threshold": "tokens; default 60000",
    "image": "latest user turn has an image",
    "vision": 'images for a text-only model: "route" (default: to image) or "placeholder"',
    "auto_map_regex": "default ^claude-",
    "background_regex": "default (?i)claude.*haiku",
}


def catalog() -> dict[str, Any]:
    fields = [f.name for f in msgspec.structs.fields(RouterConfig) if f.name != "rules"]
    return {
        **registry.catalog(),
        "oauth_flows": [{"name": n, "title": get_flow(n).title} for n in FLOW_NAMES],
        "router_slots": [{"key": k, "hint": SLOT_HINTS.get(k, "")} for k in fields],
    }


class CatalogController(Controller):
    path = "/catalog"

    @get("/")
    async def read(self) -> dict[str, Any]:
        return catalog()


def catalog_routes(state: State) -> Router:
    return Router(path="/api", route_handlers=[CatalogController], guards=[admin_guard(state)])
