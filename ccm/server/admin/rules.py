"""/api/router (the claude-code-mux slots) and /api/rules (the rules file: read, check, save)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody

from ccm.diagnostics import DiagnosticError
from ccm.rules.chain import Resolver
from ccm.rules.compile import Router, compile_rules
from ccm.rules.from_toml import rules_from_router
from ccm.rules.parse import parse_rules
from ccm.runtime import State
from ccm.server.admin.bodies import RouterBody, RulesBody, plain
from ccm.server.admin.edits import Saver, router_set, rules_target
from ccm.server.admin.errors import Invalid, SaveFailed
from ccm.server.admin.views import router_view


def compiled(state: State, text: str, path: str) -> Router:
    """Rules text compiled against the running config; DiagnosticError if it does not."""
    return compile_rules(parse_rules(text, path), Resolver(state.runtime.config))


class RouterController(Controller):
    path = "/router"

    @get("/")
    async def get_router(self, ccm_state: NamedDependency[State]) -> dict[str, Any]:
        return router_view(ccm_state.runtime.config)

    @put("/")
    async def put_router(
        self,
        data: JSONBody[RouterBody],  # type: ignore[valid-type]
        saver: NamedDependency[Saver],
        ccm_state: NamedDependency[State],
    ) -> dict[str, Any]:
        await saver.save(router_set(plain(data)))
        return router_view(ccm_state.runtime.config)


class RulesController(Controller):
    path = "/rules"

    @get("/")
    async def get_rules(self, ccm_state: NamedDependency[State]) -> dict[str, Any]:
        loaded = ccm_state.runtime.loaded
        path = loaded.rules_path()
        if path is None:
            text, _ = rules_from_router(loaded)
            return {"path": None, "text": text, "from_toml": True}
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SaveFailed(f"cannot read the rules file {path}: {type(e).__name__}") from None
        return {"path": str(path), "text": text, "from_toml": False}

    @post("/check", status_code=200)
    async def check(
        self, data: JSONBody[RulesBody], ccm_state: NamedDependency[State]
    ) -> dict[str, Any]:
        path = ccm_state.runtime.loaded.rules_path()
        try:
            compiled(ccm_state, data.text, str(path) if path else "ccm.rules")
        except DiagnosticError as e:
            return {"ok": False, "diagnostics": [d.to_json() for d in e.diagnostics]}
        return {"ok": True, "diagnostics": []}

    @put("/")
    async def put_rules(
        self,
        data: JSONBody[RulesBody],
        saver: NamedDependency[Saver],
        ccm_state: NamedDependency[State],
    ) -> dict[str, Any]:
        path, set_path = rules_target(ccm_state)
        try:
            compiled(ccm_state, data.text, str(path))
        except DiagnosticError as e:
            raise Invalid(e, "rules") from None
        await saver.save_rules(path, data.text, set_path)
        return {
            "path": str(path),
            "text": data.text,
            "from_toml": False,
            "rules_version": ccm_state.runtime.version,
        }
