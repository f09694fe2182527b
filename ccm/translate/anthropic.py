"""Anthropic-compatible upstreams: the client's JSON goes through as it came, with only the
model (and any `strip`) changed; answers come back with the model name the client asked for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ccm.translate.sse import SSEEvent, encode_event

_decode = msgspec.json.decode
_encode = msgspec.json.encode

# client headers that pass to an Anthropic-compatible upstream (the rest are ccm's business)
FORWARDED_HEADERS = (
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "x-app",
)
# upstream answer headers worth returning to the client
RETURNED_HEADERS = ("request-id", "retry-after", "anthropic-organization-id")
RETURNED_PREFIXES = ("anthropic-ratelimit-",)
DEFAULT_VERSION = "2023-06-01"


class TranslationError(ValueError):
    pass


def request_bytes(
    body: dict[str, Any], actual_model: str, *, signed_thinking_only: bool = False
) -> bytes:
    """The body to send: everything the client sent, model replaced. For Anthropic's own API,
    `signed_thinking_only` drops unsigned thinking blocks from earlier turns (see below)."""
    payload = dict(body)
    payload["model"] = actual_model
    if signed_thinking_only:
        messages = without_unsigned_thinking(body.get("messages"))
        if messages is not None:
            payload["messages"] = messages
    return _encode(payload)


def without_unsigned_thinking(messages: Any) -> list[Any] | None:
    """Earlier assistant turns' thinking blocks that carry no signature (ccm made them from
    another provider's reasoning) would make Anthropic's API refuse the whole request. Earlier
    turns' thinking may be left out, so those blocks go; the last assistant turn is left as it
    is (the API needs its thinking during a tool loop). None when nothing changes."""
    if not isinstance(messages, list):
        return None
    last = max(
        (i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"),
        default=-1,
    )
    out: list[Any] | None = None
    for i, m in enumerate(messages):
        if i >= last or not isinstance(m, dict) or m.get("role") != "assistant":
            continue
        content = m.get("content")
        if not isinstance(content, list):
            continue
        keep = [
            b
            for b in content
            if not (isinstance(b, dict) and b.get("type") == "thinking" and not b.get("signature"))
        ]
        if keep and len(keep) != len(content):
            if out is None:
                out = list(messages)
            out[i] = {**m, "content": keep}
    return out


def request_headers(client_headers: Mapping[str, str]) -> dict[str, str]:
    out = {"content-type": "application/json", "anthropic-version": DEFAULT_VERSION}
    for name in FORWARDED_HEADERS:
        value = client_headers.get(name)
        if value:
            out[name] = value
    return out


def returned_headers(upstream: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in upstream.items():
        lk = k.lower()
        if lk in RETURNED_HEADERS or lk.startswith(RETURNED_PREFIXES):
            out[lk] = v
    return out


def response_bytes(raw: bytes, requested_model: str) -> bytes:
    """A non-stream answer with the client's model name; TranslationError if it is not one."""
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
    return _encode(data)


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


class StreamRelay:
    """Re-frames an upstream Anthropic SSE stream event by event, rewriting message_start's
    model, and knows whether the stream really finished (message_stop)."""

    __slots__ = ("done", "model", "started")

    def __init__(self, requested_model: str) -> None:
        self.model = requested_model
        self.started = False
        self.done = False

    def feed(self, ev: SSEEvent) -> list[bytes]:
        name = ev.event
        data = ev.data.encode()
        if name == "message_start":
            try:
                obj = _decode(data)
                obj["message"]["model"] = self.model
                data = _encode(obj)
            except (msgspec.DecodeError, KeyError, TypeError):
                raise TranslationError("upstream message_start is not valid JSON") from None
            self.started = True
        elif name == "message_stop":
            self.done = True
        elif name == "error":
            if not self.started:  # nothing reached the client yet: fail over instead
                raise TranslationError(f"upstream stream error: {error_message(data)}")
            self.done = True  # the client gets the upstream's own error event
        elif not name:
            if not ev.data.strip():
                return []
            name = "message"  # nameless events are not Anthropic's; keep them visible
        return [encode_event(name, data)]

    def finish(self) -> list[bytes]:
        if not self.done:
            raise TranslationError("upstream stream ended before message_stop")
        return []
