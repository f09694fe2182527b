"""What the admin API shows of the config: never a secret. A literal key, a header value and a
proxy password are masked; a `$ENV` reference is shown as written (so a typo in its name can be
seen) together with whether the variable is set."""

from __future__ import annotations

from typing import Any

import msgspec

from ccm.config.load import env_reference
from ccm.config.schema import Config, ModelConfig, ProviderConfig
from ccm.config.secrets import MissingSecret, redact, redact_url, resolve
from ccm.dialects.registry import PRESETS


def provider_view(p: ProviderConfig) -> dict[str, Any]:
    data = msgspec.to_builtins(p)
    data["api_key"] = redact(p.api_key)
    data["api_keys"] = [redact(k) for k in p.api_keys]
    data["headers"] = {k: redact(v) for k, v in p.headers.items()}
    data["proxy"] = redact_url(p.proxy)
    data["enabled"] = p.is_enabled
    return {k: v for k, v in data.items() if v not in (None, {}, [])} | {"models": p.models}


def model_view(m: ModelConfig) -> dict[str, Any]:
    return {
        "name": m.name,
        "mappings": [
            {k: v for k, v in msgspec.to_builtins(x).items() if v is not None}
            for x in sorted(m.mappings, key=lambda x: x.priority)
        ],
    }


def config_view(cfg: Config) -> dict[str, Any]:
    server = msgspec.to_builtins(cfg.server)
    server["api_key"] = redact(cfg.server.api_key)
    server["admin_token"] = redact(cfg.server.admin_token)
    server["proxy"] = redact_url(cfg.server.proxy)
    return {
        "server": {k: v for k, v in server.items() if v is not None},
        "router": router_view(cfg),
        "providers": [provider_view(p) for p in cfg.providers],
        "models": [model_view(m) for m in cfg.models],
    }


def router_view(cfg: Config) -> dict[str, Any]:
    return {k: v for k, v in msgspec.to_builtins(cfg.router).items() if v is not None}


def key_status(p: ProviderConfig) -> str:
    if p.auth_type == "oauth":
        return f"oauth: {p.oauth_provider or p.name}"
    if p.auth_type == "client":
        return "the client's own"
    if p.api_key is None:
        preset = PRESETS.get(p.provider_type)
        return "none" if preset is not None and not preset.needs_key else "missing"
    var = env_reference(p.api_key)
    if var is None:
        return "set"
    try:
        resolve(p.api_key, p.name)
    except MissingSecret:
        return f"${var} is not set"
    return f"from ${var}"
