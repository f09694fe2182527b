"""The config file's schema, claude-code-mux compatible, as msgspec Structs.

Field names and defaults follow claude-code-mux's config; additions are marked "ccm:".
`api_key` values stay as written (often a "$ENV_VAR" reference); ccm.config.secrets resolves
them at the moment of use so that saving the config never writes a secret back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]

DEFAULT_PORT = 13456


class Timeouts(msgspec.Struct, forbid_unknown_fields=False, omit_defaults=True):
    api_timeout_ms: int | None = None  # whole request (mux default 600000)
    connect_timeout_ms: int | None = None  # TCP/TLS connect (mux default 10000)
    first_byte_timeout_ms: int | None = None  # ccm: until response headers arrive
    idle_timeout_ms: int | None = None  # ccm: longest silence inside a stream


class ServerConfig(msgspec.Struct, forbid_unknown_fields=False):
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    log_level: str = "info"
    api_key: str | None = None  # ccm: enforced; clients must send it (x-api-key or Bearer)
    admin_token: str | None = None  # ccm: required by /api when set; else loopback only
    allowed_hosts: list[str] = msgspec.field(
        default_factory=list
    )  # ccm: Host names besides IP literals and localhost (a local reverse proxy's name)
    max_body_bytes: int = 32 * 1024 * 1024  # ccm: larger request bodies get 413
    proxy: str | None = (
        None  # ccm: HTTP proxy for upstream calls ("http://[user:pass@]host:port" or "$HTTPS_PROXY")
    )
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    retries: int = 1  # ccm: extra passes over the chain when every provider failed retryably
    retry_backoff_ms: int = 500  # ccm: first wait between passes (doubles, with jitter)
    max_retry_wait_ms: int = 10_000  # ccm: longest wait, even if retry-after asks for more
    circuit_failures: int = 5  # ccm: consecutive retryable failures that open a circuit
    circuit_cooldown_ms: int = 30_000  # ccm: how long an open circuit is skipped
    # ---- resilience (ccm): what a client is told to wait when ccm cannot serve now ----
    max_client_retry_after_s: int = 30  # ccm: cap on the retry-after ccm answers with


class RouterConfig(msgspec.Struct, forbid_unknown_fields=False):
    # mux requires `default`; ccm allows leaving it out: then claude-* names pass through
    default: str | None = None
    background: str | None = None
    think: str | None = None
    websearch: str | None = None
    auto_map_regex: str | None = None  # effective "^claude-" when absent or empty
    background_regex: str | None = None  # effective "(?i)claude.*haiku" when absent or empty
    long_context: str | None = None  # ccm: target when the token estimate exceeds the threshold
    long_context_threshold: int = 60_000  # ccm
    image: str | None = None  # ccm: target when the latest user turn carries an image
    # ccm: a conversation holding images (anywhere) whose model cannot see them: "route" to
    # the image route when its model can, else (or with "placeholder") images become a note
    vision: Literal["route", "placeholder"] | None = None  # unset: "route"
    rules: str | None = None  # ccm: path of a rules file (relative to the config); replaces slots


class ProviderConfig(msgspec.Struct, forbid_unknown_fields=False):
    name: NonEmpty
    provider_type: NonEmpty
    api_key: str | None = None
    base_url: str | None = None
    enabled: bool | None = None  # absent means enabled (as the mux server does)
    models: list[str] = msgspec.field(default_factory=list)  # ccm: optional; globs allowed
    auth_type: str = (
        "apikey"  # "apikey" | "oauth" | "client" (ccm: forward the client's own credential)
    )
    oauth_provider: str | None = None
    project_id: str | None = None  # vertex-ai
    location: str | None = None  # vertex-ai
    headers: dict[str, str] = msgspec.field(default_factory=dict)  # ccm: extra upstream headers
    timeouts: Timeouts | None = None  # ccm: per-provider override of [server.timeouts]
    proxy: str | None = None  # ccm: this provider's HTTP proxy ("" = none), over [server] proxy
    quirks: dict[str, Any] | None = (
        None  # ccm: overrides of the type's quirks (ccm.dialects.quirks)
    )
    # ---- key pools (ccm, ccm.providers.keys) ----
    api_keys: list[str] = msgspec.field(default_factory=list)  # ccm: several keys, one pool
    oauth_providers: list[str] = msgspec.field(default_factory=list)  # ccm: several sign-ins
    key_strategy: str | None = None  # ccm: round-robin (absent) | fill-first | least-used | session
    key_rest_ms: int | None = (
        None  # ccm: how long a 429'd key rests when the answer says not (60000)
    )
    failover_on: list[int | str] | None = None  # ccm: statuses/"5xx"/"connect"/"timeout"

    @property
    def is_enabled(self) -> bool:
        return self.enabled is not False


PerMillion = Annotated[float, msgspec.Meta(ge=0)]


class Price(msgspec.Struct, forbid_unknown_fields=False, omit_defaults=True):
    """ccm: USD per million tokens; overrides the shipped price table (ccm/ledger/prices.toml).
    cache_read / cache_write default to the input price when left out."""

    input: PerMillion | None = None
    output: PerMillion | None = None
    cache_read: PerMillion | None = None
    cache_write: PerMillion | None = None


Tokens = Annotated[int, msgspec.Meta(gt=0)]


class Mapping(msgspec.Struct, forbid_unknown_fields=False):
    provider: NonEmpty
    actual_model: NonEmpty
    priority: int = 1  # ascending; ties keep file order
    # ccm: the model's output limit: a request asking more (Claude Code asks 64000) is capped;
    # unset: the model data's limit where known (ccm.dialects.capabilities)
    max_tokens: Tokens | None = None
    price: Price | None = None  # ccm: this mapping's price (cost in the ledger)
    # ---- ccm: capability data; unset: the provider's quirks and the model data decide ----
    vision: bool | None = None  # the model takes images
    context_window: Tokens | None = None  # tokens the model reads (ccm code: compaction)


class ModelConfig(msgspec.Struct, forbid_unknown_fields=False):
    name: NonEmpty
    mappings: list[Mapping] = msgspec.field(default_factory=list)


class LedgerConfig(msgspec.Struct, forbid_unknown_fields=False):
    """ccm: the usage ledger (SQLite), read at start."""

    enabled: bool = True
    path: str | None = None  # default: usage.db beside the config; relative paths from there
    retention_days: Annotated[int, msgspec.Meta(ge=0)] = 90  # 0 keeps every row


class MetricsConfig(msgspec.Struct, forbid_unknown_fields=False):
    """ccm: GET /metrics (Prometheus text)."""

    enabled: bool = True
    token: str | None = None  # a bearer token that may read /metrics (besides the admin guard)


# ---- [claude_code] (ccm): what `ccm code`, `ccm env` and `ccm setup claude` give Claude Code ----
class ClaudeCodeConfig(msgspec.Struct, forbid_unknown_fields=False):
    """Model slots, each a name ccm routes (a [[models]] name, a provider model, an alias):
    ANTHROPIC_DEFAULT_OPUS_MODEL, _SONNET_MODEL, _HAIKU_MODEL and CLAUDE_CODE_SUBAGENT_MODEL."""

    opus: str | None = None
    sonnet: str | None = None
    haiku: str | None = None
    subagent: str | None = None


# ---- end [claude_code] ----


class StateConfig(msgspec.Struct, forbid_unknown_fields=False):
    """ccm: where breakers, key rests and locks live (ccm.state); read at start."""

    url: str | None = None  # "redis://host:port/db" ($VAR allowed); none: in-process


class Config(msgspec.Struct, forbid_unknown_fields=False):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    router: RouterConfig = msgspec.field(default_factory=RouterConfig)
    providers: list[ProviderConfig] = msgspec.field(default_factory=list)
    models: list[ModelConfig] = msgspec.field(default_factory=list)
    ledger: LedgerConfig = msgspec.field(default_factory=LedgerConfig)  # ccm
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)  # ccm
    claude_code: ClaudeCodeConfig = msgspec.field(default_factory=ClaudeCodeConfig)  # ccm
    state: StateConfig = msgspec.field(default_factory=StateConfig)  # ccm

    def provider(self, name: str) -> ProviderConfig | None:
        for p in self.providers:
            if p.name == name:
                return p
        return None

    def model(self, name: str) -> ModelConfig | None:
        for m in self.models:
            if m.name == name:
                return m
        return None
