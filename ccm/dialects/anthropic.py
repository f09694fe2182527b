"""Anthropic-compatible upstreams: the client's JSON goes through as it came, with only the
model (and any `strip`) changed; answers come back with the model name the client asked for.

What is not passed through as it came:
- thinking blocks ccm made from another dialect's reasoning (signature `ccm1.*`) mean nothing
  here and are left out of every turn; for Anthropic's own API (quirk
  `signed_thinking_only`) unsigned thinking in earlier turns goes too, and when the last
  assistant turn of a tool loop is left without its leading thinking block the request's
  `thinking` is left out (the API refuses a thinking request whose last assistant turn does
  not start with thinking);
- tool_use ids in answers are mapped into Anthropic's charset (an Anthropic-compatible vendor
  may mint others), so the conversation can move to Anthropic's API.

Streams: nothing reaches the client before a valid `message_start` (garbage or an `error`
event before it fails over to the next provider); after it a malformed event becomes an
Anthropic `error` event. `data:`-only streams take the event name from the JSON `type`. The
translator is `done` at message_stop: the client's stream ends there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ccm.dialects import roundtrip
from ccm.dialects.base import (
    Call,
    Credential,
    Decoded,
    Job,
    Target,
    TranslationError,
    Usage,
    Verdict,
    classify,
    error_message,
    join_url,
    key_headers,
)
from ccm.dialects.sse import SSEDecoder, encode_event
from ccm.oauth.flows import ANTHROPIC_OAUTH_BETA, merge_anthropic_beta
from ccm.wire.anthropic import error_event

_decode = msgspec.json.decode
_encode = msgspec.json.encode
NAME = "anthropic"

# client headers that pass to an Anthropic-compatible upstream (the rest are ccm's business)
FORWARDED_HEADERS = (
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "x-app",
)
DEFAULT_VERSION = "2023-06-01"
COUNT_FIELDS = ("messages", "system", "tools", "tool_choice", "thinking")


# --------------------------------------------------------------------------- request


def request_bytes(
    body: dict[str, Any], actual_model: str, *, signed_thinking_only: bool = False
) -> bytes:
    """The body to send: everything the client sent, model replaced, foreign thinking out."""
    payload = dict(body)
    payload["model"] = actual_model
    messages = _clean_history(body.get("messages"), signed_thinking_only)
    if messages is not None:
        payload["messages"] = messages
        if signed_thinking_only and _thinking_on(body) and _last_turn_unthought(messages):
            payload.pop("thinking", None)
    return _encode(payload)


def _thinking_on(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _last_turn_unthought(messages: list[Any]) -> bool:
    """Whether the conversation ends in a tool loop whose assistant turn has no leading
    thinking block (after foreign ones were left out)."""
    if len(messages) < 2:
        return False
    m = messages[-2]
    if not isinstance(m, dict) or m.get("role") != "assistant":
        return False
    content = m.get("content")
    if not isinstance(content, list) or not content:
        return False
    first = content[0]
    uses_tools = any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)
    kind = first.get("type") if isinstance(first, dict) else None
    return uses_tools and kind not in ("thinking", "redacted_thinking")


def _clean_history(messages: Any, signed_thinking_only: bool) -> list[Any] | None:
    """The messages without thinking blocks ccm made (any turn) and, with
    `signed_thinking_only`, without unsigned thinking in turns before the last assistant
    turn (earlier turns' thinking may be left out; the last one is left as it is). None when
    nothing changes."""
    if not isinstance(messages, list):
        return None
    last = max(
        (i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"),
        default=-1,
    )
    out: list[Any] | None = None
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") != "assistant":
            continue
        content = m.get("content")
        if not isinstance(content, list):
            continue
        unsigned_go = signed_thinking_only and i < last
        keep = [b for b in content if not _foreign(b, unsigned_go)]
        if len(keep) != len(content):
            if out is None:
                out = list(messages)
            out[i] = {**m, "content": keep or [{"type": "text", "text": "(thinking only)"}]}
    return out


def _foreign(block: Any, unsigned_go: bool) -> bool:
    if not isinstance(block, dict) or block.get("type") != "thinking":
        return False
    signature = block.get("signature")
    return roundtrip.is_ccm(signature) or (unsigned_go and not signature)


def request_headers(client_headers: Mapping[str, str]) -> dict[str, str]:
    out = {"content-type": "application/json", "anthropic-version": DEFAULT_VERSION}
    for name in FORWARDED_HEADERS:
        value = client_headers.get(name)
        if value:
            out[name] = value
    return out


# --------------------------------------------------------------------------- response


def response_bytes(raw: bytes, requested_model: str) -> bytes:
    """A non-stream answer with the client's model name; TranslationError if it is not one."""
    return _answer(raw, requested_model)[0]


def _answer(raw: bytes, requested_model: str) -> tuple[bytes, Usage]:
    try:
        data = _decode(raw)
    except msgspec.DecodeError as e:
        raise TranslationError(f"upstream answered non-JSON ({len(raw)} bytes): {e}") from None
    if (
        not isinstance(data, dict)
        or data.get("type") != "message"
        or not isinstance(data.get("content"), list)
    ):
        raise TranslationError("upstream answer is not an Anthropic message")
    data["model"] = requested_model
    for block in data["content"]:
        if isinstance(block, dict) and block.get("type") == "tool_use":
            block["id"] = roundtrip.to_anthropic_id(block.get("id"))
    return _encode(data), Usage.of(data.get("usage"))


def is_anthropic_error(raw: bytes) -> bool:
    try:
        data = _decode(raw)
    except msgspec.DecodeError:
        return False
    return (
        isinstance(data, dict)
        and data.get("type") == "error"
        and isinstance(data.get("error"), dict)
    )


class _Event(msgspec.Struct):
    type: str = ""


_event_decoder = msgspec.json.Decoder(_Event)


class StreamRelay:
    """Re-frames an upstream Anthropic SSE stream event by event: message_start's model is
    the client's; nothing goes out before a valid message_start; a malformed event after it
    ends the stream with an error event; `done` at message_stop."""

    __slots__ = ("_sse", "done", "model", "started", "usage")

    def __init__(self, requested_model: str) -> None:
        self.model = requested_model
        self.started = False
        self.done = False
        self.usage = Usage()
        self._sse = SSEDecoder()

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for ev in self._sse.feed(data):
            if not self.done:
                self._event(ev.event, ev.data, out)
        return out

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        for ev in self._sse.flush():
            if not self.done:
                self._event(ev.event, ev.data, out)
        if not self.done:
            raise TranslationError("upstream stream ended before message_stop")
        return out

    def _event(self, name: str, text: str, out: list[bytes]) -> None:
        if not text.strip():
            return
        data = text.encode()
        try:
            kind = _event_decoder.decode(data).type
        except msgspec.DecodeError:
            self._malformed(f"upstream sent an invalid event: {text[:200]!r}", out)
            return
        name = name or kind  # data:-only streams name the event inside the JSON
        if not self.started:
            if name == "ping":
                return  # nothing to relay before message_start
            if name == "error":  # nothing reached the client yet: fail over instead
                raise TranslationError(f"upstream stream error: {error_message(data)}")
            if name != "message_start":
                raise TranslationError(f"upstream stream began with {name or 'an unnamed event'!r}")
            try:
                obj = _decode(data)
                obj["message"]["model"] = self.model
                self.usage = Usage.of(obj["message"].get("usage"))
            except (KeyError, TypeError):
                raise TranslationError("upstream message_start is not a message") from None
            self.started = True
            out.append(encode_event(name, _encode(obj)))
            return
        if name == "content_block_start" and b'"tool_use"' in data:
            data = _tool_ids(data)
        elif name == "message_delta":
            self._count(data)
        elif name in ("message_stop", "error"):
            self.done = True  # the client gets the upstream's own error event as it is
        out.append(encode_event(name, data))

    def _malformed(self, message: str, out: list[bytes]) -> None:
        if not self.started:
            raise TranslationError(message)
        self.done = True
        out.append(error_event(502, message))

    def _count(self, data: bytes) -> None:
        try:
            usage = _decode(data).get("usage")
        except (msgspec.DecodeError, AttributeError):
            return
        if isinstance(usage, dict):
            merged = {**msgspec.structs.asdict(self.usage), **usage}
            self.usage = Usage.of(merged)


def _tool_ids(data: bytes) -> bytes:
    obj = _decode(data)
    block = obj.get("content_block") if isinstance(obj, dict) else None
    if isinstance(block, dict) and block.get("type") == "tool_use":
        mapped = roundtrip.to_anthropic_id(block.get("id"))
        if mapped != block.get("id"):
            block["id"] = mapped
            return _encode(obj)
    return data


# --------------------------------------------------------------------------- the dialect


def auth_headers(
    target: Target, credential: Credential, client_headers: Mapping[str, str]
) -> dict[str, str]:
    """Key or token; an OAuth token adds Anthropic's oauth beta flag after the client's and
    the config's flags."""
    headers = key_headers(target, credential)
    if credential.kind == "token":
        own = {k.lower(): v for k, v in target.headers.items()}
        headers["anthropic-beta"] = merge_anthropic_beta(
            client_headers.get("anthropic-beta"), own.get("anthropic-beta"), ANTHROPIC_OAUTH_BETA
        )
    return headers


class AnthropicDialect:
    """The Messages API: `POST {base_url}/v1/messages`, the client's body as it came."""

    name = NAME

    def _headers(self, job: Job, target: Target, credential: Credential) -> dict[str, str]:
        return {
            **request_headers(job.client_headers),
            **target.headers,
            **auth_headers(target, credential, job.client_headers),
        }

    def build(self, job: Job, target: Target, credential: Credential) -> Call:
        content = request_bytes(
            job.body, target.model, signed_thinking_only=target.quirks.signed_thinking_only
        )
        url = join_url(target.base_url, "/v1/messages")
        return Call(url, self._headers(job, target, credential), content, passthrough=True)

    def count_call(
        self, body: dict[str, Any], job: Job, target: Target, credential: Credential
    ) -> Call:
        payload = {k: body[k] for k in COUNT_FIELDS if k in body}
        content = request_bytes(
            payload, target.model, signed_thinking_only=target.quirks.signed_thinking_only
        )
        url = join_url(target.base_url, "/v1/messages/count_tokens")
        return Call(url, self._headers(job, target, credential), content, passthrough=True)

    def decode(self, raw: bytes, job: Job) -> Decoded:
        return Decoded(*_answer(raw, job.requested_model))

    def translator(self, job: Job) -> StreamRelay:
        return StreamRelay(job.requested_model)

    def classify(self, status: int, raw: bytes) -> Verdict:
        verdict = classify(status, raw)
        if is_anthropic_error(raw):
            return Verdict(verdict.status, verdict.retryable, verdict.message, raw)
        return verdict


ANTHROPIC = AnthropicDialect()
