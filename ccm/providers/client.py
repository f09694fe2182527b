"""Upstream HTTP: one pooled transport per provider, its timeouts, and its credentials.

What to send and how to read the answer is the dialect's business (ccm.dialects); the
client knows where the provider is (its preset and config), how long to wait, which
credential the next attempt uses (`credential()`: its key pool chooses, ccm.providers.keys)
and which failures go on to the next provider (`failover_on`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from ccm.config.schema import ProviderConfig, ServerConfig, Timeouts
from ccm.config.secrets import MissingSecret, resolve
from ccm.dialects import registry
from ccm.dialects.base import NO_CREDENTIAL, Credential, Dialect, Target
from ccm.providers.keys import KeyPool, NoKey
from ccm.providers.transport import LeanTransport
from ccm.state import LocalState, SharedState

DEFAULT_CONNECT_MS = 10_000
DEFAULT_API_MS = 600_000
DEFAULT_FIRST_BYTE_MS = 120_000  # headers of a streamed answer; non-stream answers get api_timeout
DEFAULT_IDLE_MS = 300_000  # silence inside a stream (long reasoning can be quiet for minutes)


@dataclass(frozen=True, slots=True)
class Limits:
    connect: float
    total: float
    first_byte: float
    idle: float


def limits(server: ServerConfig, provider: ProviderConfig) -> Limits:
    """Seconds, from [server.timeouts] with the provider's own [providers.timeouts] on top."""
    base = server.timeouts
    own = provider.timeouts or Timeouts()

    def pick(name: str, default_ms: int) -> float:
        value = getattr(own, name)
        if value is None:
            value = getattr(base, name)
        return (value if value is not None else default_ms) / 1000

    return Limits(
        connect=pick("connect_timeout_ms", DEFAULT_CONNECT_MS),
        total=pick("api_timeout_ms", DEFAULT_API_MS),
        first_byte=pick("first_byte_timeout_ms", DEFAULT_FIRST_BYTE_MS),
        idle=pick("idle_timeout_ms", DEFAULT_IDLE_MS),
    )


class FailoverOn:
    """Which failures of a provider go on to the next key or provider (`failover_on`); the
    rest go back to the client as they came. Without the setting the dialect's verdict holds
    (connect errors, timeouts, 401, 402, 403, 408, 429, 5xx)."""

    def __init__(self, values: Iterable[int | str] | None) -> None:
        self.configured = values is not None
        vals = set(values or ())
        self.statuses = frozenset(v for v in vals if isinstance(v, int))
        self.classes = frozenset(int(v[0]) for v in vals if v in ("4xx", "5xx"))
        self.connect = values is None or "connect" in vals
        self.timeout = values is None or "timeout" in vals

    def status(self, status: int, dialect_says: bool) -> bool:
        if not self.configured:
            return dialect_says
        return status in self.statuses or status // 100 in self.classes


def upstream_proxy(config: ProviderConfig, server: ServerConfig) -> str | None:
    """The provider's proxy, else the server's; "" turns it off; "$VAR" reads the environment
    (an unset variable means no proxy)."""
    value = config.proxy if config.proxy is not None else server.proxy
    if not value:
        return None
    try:
        return resolve(value, f"provider {config.name!r} proxy")
    except MissingSecret:
        return None


class ProviderClient:
    """What ccm needs to call one provider. Rebuilt on reload only when its config changed.

    `transport`: any httpx transport (tests pass `httpx.MockTransport`); by default a
    LeanTransport pool. `token_store` (OAuth) and `token_source` (Google ADC) are found on
    first use unless a test or caller sets them.
    """

    def __init__(
        self,
        config: ProviderConfig,
        server: ServerConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        state: SharedState | None = None,
    ) -> None:
        pre = registry.preset(config.provider_type, config.auth_type)
        assert pre is not None, "config validation rejects unknown provider types"
        self.config = config
        self.name = config.name
        self.preset: registry.Preset = pre
        self.dialect: Dialect = pre.dialect
        self.base_url = (config.base_url or pre.base_url).rstrip("/")
        self.quirks = registry.quirks_for(config)
        self.headers = {**pre.headers, **config.headers}
        self.limits = limits(server, config)
        self.fingerprint = self.fingerprint_of(config, server)
        self.keys = KeyPool(config, state if state is not None else LocalState())
        self.failover_on = FailoverOn(config.failover_on)
        self.token_store: Any = None  # auth_type = "oauth": a ccm.oauth TokenStore (default file)
        self.token_source: Any = None  # Google ADC: anything with `async token() -> str`
        self.transport: httpx.AsyncBaseTransport = transport or LeanTransport(
            max_idle_per_origin=64, idle_expiry=60, proxy=upstream_proxy(config, server)
        )
        lim = self.limits
        self.timeout_ext = {
            "timeout": {
                "connect": lim.connect,
                "read": lim.total,
                "write": lim.total,
                "pool": lim.total,
            }
        }
        self._urls: dict[str, httpx.URL] = {}
        self._targets: dict[str, Target] = {}
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.limits.total, connect=self.limits.connect),
            transport=self.transport,
            follow_redirects=False,
            trust_env=False,  # a loopback fake or a local model must not go through HTTP(S)_PROXY
        )

    def parsed_url(self, url: str) -> httpx.URL:
        """The URL parsed once (a per-request parse showed in the profile)."""
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if len(self._urls) < 256:  # Gemini URLs carry the model: bounded
                self._urls[url] = parsed
        return parsed

    @staticmethod
    def fingerprint_of(config: ProviderConfig, server: ServerConfig) -> bytes:
        return msgspec.json.encode((config, server.timeouts, server.proxy))

    def target(self, model: str) -> Target:
        """Where an attempt with `model` goes (one record per model, reused)."""
        target = self._targets.get(model)
        if target is None:
            target = Target(
                model, self.base_url, self.preset.auth, self.quirks, self.config, self.headers
            )
            if len(self._targets) < 256:
                self._targets[model] = target
        return target

    async def credential(
        self,
        client_headers: Mapping[str, str] | None = None,
        *,
        session: str | None = None,
        tried: Iterable[str] = (),
    ) -> Credential:
        """The credential for the next attempt: a key of the pool ($ENV resolved now), an
        OAuth access token (refreshed when due), or a Google ADC token. `session`: the
        Claude Code session (the "session" strategy keeps its key); `tried`: fingerprints
        this request already used. NoKey (a MissingSecret) when no key can serve: dispatch
        then goes on to the next provider. `auth_type = "client"`: the client's own credential,
        read from `client_headers` (no pool: ccm holds nothing to rest or remove)."""
        if self.config.auth_type == "client":
            return forwarded_credential(client_headers or {}, self.name)
        if self.preset.google_adc and not self.keys:
            return await self._adc()
        if self.preset.auth == "none":
            return NO_CREDENTIAL
        if not self.keys:
            if not self.preset.needs_key:
                return NO_CREDENTIAL
            raise NoKey(f"provider {self.name!r} has no api_key", "config")
        skip = set(tried)
        while True:
            member = await self.keys.choose(session=session, tried=skip)
            if member.kind == "oauth":
                try:
                    credential = await self._oauth(member.ref)
                except MissingSecret as e:  # no token, or its refresh failed: a config fault
                    self.keys.fault(member, str(e))
                    skip.add(member.fp(self.name))
                    continue
            else:
                credential = Credential(member.secret(self.name), "key")
            self.keys.issued(member, credential.secret or "")
            return credential

    async def _adc(self) -> Credential:
        if self.token_source is None:
            from ccm.providers.gcp import ADCTokenSource

            self.token_source = ADCTokenSource()
        try:
            return Credential(await self.token_source.token(), "token")
        except Exception as e:  # no credentials: this provider cannot be used now
            raise MissingSecret(f"provider {self.name!r}: no Google credentials ({e})") from None

    async def _oauth(self, token_id: str) -> Credential:
        from ccm.oauth import OAuthError, TokenStore, access_token

        if self.token_store is None:
            self.token_store = TokenStore()
        try:
            token = await access_token(
                self.token_store,
                token_id,
                None,
                self.http,
                default_flow=registry.oauth_flow(self.config.provider_type),
                lock=self.keys.state.lock,
            )
        except OAuthError as e:
            raise MissingSecret(f"provider {self.name!r}: {e}") from None
        record = self.token_store.get(token_id)
        return Credential(token, "token", record.project_id if record is not None else None)

    async def aclose(self) -> None:
        await self.http.aclose()


# ---- auth_type = "client": the client's own credential goes upstream; ccm holds none ----


def forwarded_credential(headers: Mapping[str, str], provider: str) -> Credential:
    """The client's `x-api-key`, else its `Authorization: Bearer` token, to be sent upstream in
    the header it came in (Claude Code's own sign-in, or its API key). MissingSecret when the
    request carried neither: dispatch fails over. Config validation refuses this with
    `[server] api_key`, where the client's credential would be ccm's own key."""
    key = (headers.get("x-api-key") or "").strip()
    if key:
        return Credential(key, "client", header="x-api-key")
    auth = headers.get("authorization") or ""
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if token:
        return Credential(token, "client", header="authorization")
    raise NoKey(
        f'provider {provider!r} forwards the client\'s credential (auth_type = "client") '
        "and the request carried none (x-api-key or Authorization: Bearer)",
        "client",
    )


# ---- end auth_type = "client" ----

__all__ = [
    "FailoverOn",
    "Limits",
    "MissingSecret",
    "NoKey",
    "ProviderClient",
    "forwarded_credential",
    "limits",
]
