"""The one interface every upstream dialect implements, and the records it works with.

A dialect is to dispatch what an httpx transport is to httpx's client: dispatch decides which
provider, when, how long and what to do on failure; the dialect knows one wire format.

    class Dialect(Protocol):
        name      the wire family ("anthropic", "chat", "responses", "gemini"); it prefixes
                  the thinking signatures ccm makes, so a turn knows where its reasoning came from
        build     (job, target, credential) -> Call: URL, headers (auth included) and body
        decode    (raw answer, job) -> Decoded: an Anthropic message and its usage
        translator(job) -> Translator: raw stream bytes in, Anthropic SSE bytes out
        classify  (status, raw error body) -> Verdict: retryable or not, the status to report

Optional capabilities are protocols of their own (`CountsTokens`), checked with isinstance,
rather than methods every dialect must stub.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import msgspec

if TYPE_CHECKING:
    from ccm.config.schema import ProviderConfig
    from ccm.dialects.quirks import Quirks

_decode = msgspec.json.decode
_encode = msgspec.json.encode

# a request that names the problem itself: sent back as it came, never failed over
NOT_RETRYABLE = frozenset({400, 404, 413, 422})


def retryable(status: int) -> bool:
    """Whether another key or provider might succeed where this status came back."""
    return status not in NOT_RETRYABLE and (status >= 500 or status in (401, 402, 403, 408, 429))


class TranslationError(ValueError):
    """The upstream said something that has no Anthropic form (a garbage answer)."""


class Usage(msgspec.Struct, omit_defaults=False):
    """Anthropic `usage` of one answer (input excludes cached tokens, as Anthropic's does)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @classmethod
    def of(cls, value: Any) -> Usage:
        """From an Anthropic usage object (a dict); zeros for what it lacks."""
        if not isinstance(value, dict):
            return cls()
        return cls(*(_int(value.get(k)) for k in cls.__struct_fields__))


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass(frozen=True, slots=True)
class Job:
    """One client request, the same for every provider tried."""

    body: dict[str, Any]
    client_headers: Mapping[str, str]
    stream: bool
    requested_model: str
    input_tokens: Callable[[], int] = lambda: 0


@dataclass(frozen=True, slots=True)
class Credential:
    """What authenticates one attempt. `kind`: "key" (an API key, sent the preset's way),
    "token" (an OAuth or Google ADC access token: always a Bearer), "client" (the client's own
    credential, `auth_type = "client"`: it goes upstream in the header it came in, `header`,
    and nothing is added to it), "none". The caller picks it per attempt (a key pool slots in
    there); the dialect only writes it into headers."""

    secret: str | None
    kind: Literal["key", "token", "client", "none"] = "key"
    project: str | None = None  # Google sign-in: the Code Assist project found at login
    header: Literal["x-api-key", "authorization"] = "x-api-key"  # kind "client": where it came


NO_CREDENTIAL = Credential(None, "none")


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes: the provider's settings (preset, config, quirks) and the model."""

    model: str
    base_url: str
    auth: str  # the preset's key style: "x-api-key" | "bearer" | "x-goog-api-key" | "none"
    quirks: Quirks
    config: ProviderConfig
    headers: Mapping[str, str] = field(default_factory=dict)  # preset's, then the config's


@dataclass(frozen=True, slots=True)
class Call:
    """One upstream request, ready to send."""

    url: str
    headers: dict[str, str]
    content: bytes
    passthrough: bool = False  # Anthropic upstream: its rate-limit/request-id headers go back


@dataclass(frozen=True, slots=True)
class Decoded:
    """A whole answer as an Anthropic message (JSON bytes) and its usage."""

    content: bytes
    usage: Usage


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an upstream error answer means."""

    status: int  # the status to report (a dialect may correct a misreported one)
    retryable: bool  # another key or provider might do better
    message: str  # the human part of the upstream's error
    body: bytes | None = None  # an Anthropic error body to hand the client as it came


class Translator(Protocol):
    """An upstream stream, raw bytes in (the translator frames SSE itself), Anthropic SSE
    bytes out. `started`: message_start has been produced (after that a failure must be an
    SSE error event, failover is over). `done`: message_stop has been produced (the answer is
    complete; the upstream may be let go). `usage`: what the stream said so far."""

    started: bool
    done: bool
    usage: Usage

    def feed(self, data: bytes) -> list[bytes]: ...
    def finish(self) -> list[bytes]: ...


class Dialect(Protocol):
    name: str

    def build(self, job: Job, target: Target, credential: Credential) -> Call: ...
    def decode(self, raw: bytes, job: Job) -> Decoded: ...
    def translator(self, job: Job) -> Translator: ...
    def classify(self, status: int, raw: bytes) -> Verdict: ...


@runtime_checkable
class CountsTokens(Protocol):
    """A dialect whose upstream counts tokens itself (Anthropic's count_tokens endpoint)."""

    def count_call(
        self, body: dict[str, Any], job: Job, target: Target, credential: Credential
    ) -> Call: ...


# --------------------------------------------------------------------------- shared helpers


def error_message(raw: bytes) -> str:
    """The human part of an upstream error body, whatever its shape."""
    try:
        data = _decode(raw)
    except msgspec.DecodeError:
        text = raw[:300].decode("utf-8", "replace").strip()
        return text or "(empty body)"
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
        if isinstance(data.get("message"), str):
            return data["message"]
    return _encode(data)[:300].decode("utf-8", "replace")


def classify(status: int, raw: bytes) -> Verdict:
    """The common reading of an error answer: the status as sent, retryable by its class."""
    return Verdict(status, retryable(status), error_message(raw))


def key_headers(target: Target, credential: Credential) -> dict[str, str]:
    """The auth headers of a credential: tokens as Bearer, keys the preset's way."""
    secret = credential.secret
    if secret is None or credential.kind == "none":
        return {}
    if credential.kind == "client":  # as the client sent it
        if credential.header == "authorization":
            return {"authorization": f"Bearer {secret}"}
        return {"x-api-key": secret}
    if credential.kind == "token" or target.auth == "bearer":
        return {"authorization": f"Bearer {secret}"}
    if target.auth == "x-goog-api-key":
        return {"x-goog-api-key": secret}
    if target.auth == "none":
        return {}
    return {"x-api-key": secret}


def json_call(url: str, target: Target, credential: Credential, payload: Any) -> Call:
    """A translated dialect's call: a JSON body, the provider's headers, then auth."""
    headers = {
        "content-type": "application/json",
        **target.headers,
        **key_headers(target, credential),
    }
    return Call(url, headers, _encode(payload))


# upstream answer headers worth returning to the client (rate limits, request ids, retry-after)
RETURNED_HEADERS = ("request-id", "retry-after", "anthropic-organization-id")
RETURNED_PREFIXES = ("anthropic-ratelimit-",)


def returned_headers(upstream: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in upstream.items():
        lk = k.lower()
        if lk in RETURNED_HEADERS or lk.startswith(RETURNED_PREFIXES):
            out[lk] = v
    return out


def join_url(base: str, suffix: str) -> str:
    """base + suffix without doubling `/v1` or slashes (mux turned `coding/` into `coding//v1`)."""
    base = base.rstrip("/")
    if base.endswith("/v1") and suffix.startswith("/v1/"):
        suffix = suffix[3:]
    return base + suffix


class Translated:
    """A dialect that translates: a JSON request built from the Anthropic one, an answer and a
    stream translated back. Subclasses give `name`, `stream_class` (a Translator taking the
    requested model and an input estimate), `url`, and either the module's two translations
    (`to_upstream(body, model, stream=, quirks=, **payload_options())` and
    `from_upstream(raw, requested_model)`, as staticmethods) or their own `payload` and
    `message`; a dialect whose upstream misreports errors overrides `classify`."""

    name: str
    stream_class: Callable[[str, int], Translator]
    to_upstream: Callable[..., dict[str, Any]]
    from_upstream: Callable[[bytes, str], dict[str, Any]]

    def payload_options(self) -> dict[str, Any]:
        """More keyword arguments for `to_upstream` (a variant's flags)."""
        return {}

    def payload(self, job: Job, target: Target) -> dict[str, Any]:
        body = self.request_body(job, target)
        return self.to_upstream(
            body, target.model, stream=job.stream, quirks=target.quirks, **self.payload_options()
        )

    def url(self, job: Job, target: Target) -> str:
        raise NotImplementedError

    def message(self, raw: bytes, requested_model: str) -> dict[str, Any]:
        return self.from_upstream(raw, requested_model)

    def request_body(self, job: Job, target: Target) -> dict[str, Any]:
        """The Anthropic request to translate: the client's, except that Anthropic's
        web_search server tool becomes a function when this provider cannot search (its
        calls are answered with an error: ccm.dialects.websearch)."""
        from ccm.dialects import websearch
        from ccm.dialects.quirks import searches

        tool = websearch.server_tool(job.body)
        if tool is None or searches(target.quirks, target.model):
            return job.body
        return websearch.stub_request(job.body, tool)

    def build(self, job: Job, target: Target, credential: Credential) -> Call:
        return json_call(self.url(job, target), target, credential, self.payload(job, target))

    def decode(self, raw: bytes, job: Job) -> Decoded:
        msg = self.message(raw, job.requested_model)
        stub = _stubbed_name(job)
        if stub is not None:
            from ccm.dialects.websearch import fix_message

            msg = fix_message(msg, stub)
        return Decoded(_encode(msg), Usage.of(msg.get("usage")))

    def translator(self, job: Job) -> Translator:
        translator = self.stream_class(job.requested_model, job.input_tokens())
        stub = _stubbed_name(job)
        if stub is not None:
            from ccm.dialects.websearch import StubStream

            return StubStream(translator, stub)
        return translator

    def classify(self, status: int, raw: bytes) -> Verdict:
        return classify(status, raw)


def _stubbed_name(job: Job) -> str | None:
    """For a request with Anthropic's web_search tool: the function name its stubbed calls
    would come back under (a provider that searched itself answers with no such call)."""
    tools = job.body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    from ccm.dialects.websearch import stubbed_name

    return stubbed_name(job.body)
