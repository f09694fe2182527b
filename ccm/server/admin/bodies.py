"""Request bodies of the admin API as msgspec Structs, validated by Litestar before a handler
runs (unknown fields, wrong types and empty names are a 400). Config resources reuse the config
schema itself, so the API and the file share one validation path; what only a whole file can
tell (unknown provider type, dangling mapping) is checked by loading the edited file."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from ccm.config.schema import Mapping, ModelConfig, NonEmpty, ProviderConfig, RouterConfig


class ProviderBody(ProviderConfig, forbid_unknown_fields=True):
    """A provider as the page sends it: a view echoed back (masked secrets) or a new one.
    null means "the default" for every optional key, as absence does."""

    auth_type: str | None = "apikey"  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.auth_type is None:
            self.auth_type = "apikey"
        if self.api_key == "":
            self.api_key = None
        if self.base_url == "":
            self.base_url = None


class MappingBody(Mapping, forbid_unknown_fields=True):
    pass


class ModelBody(ModelConfig, forbid_unknown_fields=True):
    mappings: list[MappingBody] = msgspec.field(default_factory=list)


def _router_body() -> type[msgspec.Struct]:
    """Every [router] key, each optional: absent leaves it, null (or "") removes it."""
    fields = [
        (f.name, f.type | None | UnsetType, UNSET) for f in msgspec.structs.fields(RouterConfig)
    ]
    return msgspec.defstruct("RouterBody", fields, forbid_unknown_fields=True, kw_only=True)


RouterBody = _router_body()


class ConfigBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /api/config/json (claude-code-mux's admin shape): whole lists replace the file's."""

    providers: list[ProviderBody] | None = None
    models: list[ModelBody] | None = None
    router: RouterBody | None = None  # type: ignore[valid-type]


class RulesBody(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class ExplainBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    request: Any = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    text: str | None = None  # explain by these unsaved rules instead of the running ones


class TestBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    model: NonEmpty
    message: NonEmpty
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] = 1024
    provider: str | None = None  # only this provider of the chain
    stream: bool = False


class AuthorizeBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    provider_id: NonEmpty
    flow: str | None = None
    oauth_type: str | None = None  # claude-code-mux's name for `flow`


class ExchangeBody(msgspec.Struct, forbid_unknown_fields=True):
    state: NonEmpty
    code: NonEmpty


class TokenBody(msgspec.Struct, forbid_unknown_fields=True):
    provider_id: NonEmpty


def plain(body: msgspec.Struct) -> dict[str, Any]:
    """A body as the plain dict a config edit writes (UNSET fields left out)."""
    data: dict[str, Any] = msgspec.to_builtins(body)
    return data
