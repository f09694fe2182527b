"""Upstream HTTP: one pooled httpx client per provider, and the URL and headers per dialect."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from ccm.config.schema import ProviderConfig, ServerConfig, Timeouts
from ccm.config.secrets import MissingSecret, resolve
from ccm.providers.presets import Preset, preset
from ccm.providers.transport import LeanTransport

DEFAULT_CONNECT_MS = 10_000
DEFAULT_API_MS = 600_000
DEFAULT_FIRST_BYTE_MS = 120_000  # headers of a streamed answer; non-stream answers get api_timeout
DEFAULT_IDLE_MS = 300_000  # silence inside a stream (long reasoning can be quiet for minutes)
ANTHROPIC_VERSION = "2023-06-01"
CHATGPT_CODEX_URL = "https://chatgpt.com/backend-api/codex"
CODE_ASSIST_URL = "https://cloudcode-pa.googleapis.com/v1internal"


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


def _join(base: str, suffix: str) -> str:
    """base + suffix without doubling `/v1` or slashes (mux turned `coding/` into `coding//v1`)."""
    base = base.rstrip("/")
    if base.endswith("/v1") and suffix.startswith("/v1/"):
        suffix = suffix[3:]
    return base + suffix


class ProviderClient:
    """What ccm needs to call one provider. Rebuilt on reload only when its config changed."""

    def __init__(self, config: ProviderConfig, server: ServerConfig) -> None:
        pre = preset(config.provider_type)
        assert pre is not None, "config validation rejects unknown provider types"
        self.config = config
        self.name = config.name
        self.preset: Preset = pre
        self.dialect: str = pre.dialect
        self.base_url = (config.base_url or pre.base_url).rstrip("/")
        self.translate_as = config.provider_type  # what the translators tune their output for
        if config.provider_type == "openai" and config.auth_type == "oauth":
            # ChatGPT Plus/Pro sign-in: the Codex backend, which speaks only the Responses API
            self.dialect = "openai-responses"
            self.base_url = (config.base_url or CHATGPT_CODEX_URL).rstrip("/")
            self.translate_as = "openai-codex"
        # Google AI Pro/Ultra sign-in: Gemini through the Code Assist API, whose requests and
        # answers wrap the generateContent ones ({model, project, request} / {response})
        self.code_assist = config.provider_type == "gemini" and config.auth_type == "oauth"
        if self.code_assist:
            self.base_url = (config.base_url or CODE_ASSIST_URL).rstrip("/")
        self.limits = limits(server, config)
        self.fingerprint = self.fingerprint_of(config, server)
        self.token_store: Any = None  # auth_type = "oauth": a ccm.oauth TokenStore (default file)
        self.token_source: Any = None  # Vertex AI: ADC unless a test or the config gives one
        self.transport = LeanTransport(
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

    def url(self, kind: str) -> str:
        """kind: "messages" | "count_tokens" | "chat"."""
        if kind == "messages":
            return _join(self.base_url, "/v1/messages")
        if kind == "count_tokens":
            return _join(self.base_url, "/v1/messages/count_tokens")
        if kind == "responses":
            return self.base_url + "/responses"
        return self.base_url + "/chat/completions"

    def gemini_url(self, model: str, stream: bool) -> str:
        """generateContent / streamGenerateContent, for the Gemini API or Vertex AI."""
        base = self.base_url
        c = self.config
        if c.provider_type == "vertex-ai" and not c.base_url:
            loc = c.location or "us-central1"
            host = (
                "aiplatform.googleapis.com"
                if loc == "global"
                else f"{loc}-aiplatform.googleapis.com"
            )
            base = f"https://{host}/v1/projects/{c.project_id}/locations/{loc}/publishers/google"
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        if self.code_assist:
            return f"{base}:{action}"  # the model goes in the body
        return f"{base}/models/{model}:{action}"

    def code_assist_project(self) -> str | None:
        """The Google Cloud project for Code Assist: the config's, else the one sign-in found."""
        if self.config.project_id:
            return self.config.project_id
        if self.token_store is not None:
            record = self.token_store.get(self.config.oauth_provider or self.name)
            if record is not None:
                return record.project_id
        return None

    def auth_headers(self) -> dict[str, str]:
        """Raises MissingSecret when the key's env var is unset."""
        key = resolve(self.config.api_key, f"provider {self.name!r} api_key")
        if self.preset.auth == "none" or (key is None and not self.preset.needs_key):
            return {}
        if key is None:
            raise MissingSecret(f"provider {self.name!r} has no api_key")
        if self.config.auth_type == "oauth" or self.preset.auth == "bearer":
            return {"authorization": f"Bearer {key}"}
        if self.preset.auth == "x-goog-api-key":
            return {"x-goog-api-key": key}
        return {"x-api-key": key}

    async def request_auth(self, client_headers: Mapping[str, str] | None = None) -> dict[str, str]:
        """Auth headers for one request; may fetch a token (Vertex ADC, OAuth)."""
        if self.config.auth_type == "oauth":
            return await self._oauth_auth(client_headers)
        if self.config.provider_type == "vertex-ai" and not self.config.api_key:
            if self.token_source is None:
                from ccm.providers.gcp import ADCTokenSource

                self.token_source = ADCTokenSource()
            try:
                return {"authorization": f"Bearer {await self.token_source.token()}"}
            except Exception as e:  # no credentials: this provider cannot be used now
                raise MissingSecret(
                    f"provider {self.name!r}: no Google credentials ({e})"
                ) from None
        return self.auth_headers()

    async def _oauth_auth(self, client_headers: Mapping[str, str] | None) -> dict[str, str]:
        """Bearer token from the OAuth token store (refreshed once when due); for Anthropic the
        oauth beta flag is merged after the client's and the config's flags. MissingSecret when
        there is no usable token, so dispatch fails over to the next provider."""
        from ccm.oauth import OAuthError, TokenStore, merge_anthropic_beta, oauth_headers

        if self.token_store is None:
            self.token_store = TokenStore()
        own = {k.lower(): v for k, v in self.config.headers.items()}
        beta = merge_anthropic_beta(
            (client_headers or {}).get("anthropic-beta"), own.get("anthropic-beta")
        )
        try:
            return await oauth_headers(
                self.token_store,
                self.config.oauth_provider or self.name,
                self.config.provider_type,
                self.http,
                anthropic_beta=beta or None,
            )
        except OAuthError as e:
            raise MissingSecret(f"provider {self.name!r}: {e}") from None

    def extra_headers(self) -> dict[str, str]:
        return {**self.preset.headers, **self.config.headers}

    async def aclose(self) -> None:
        await self.http.aclose()


__all__ = ["ANTHROPIC_VERSION", "Limits", "MissingSecret", "ProviderClient", "limits"]
