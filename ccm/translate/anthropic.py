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


def request_bytes(body: dict[str, Any], actual_model: str) -> bytes:
    """The body to send: everything the client sent, model replaced."""
    payload = dict(body)
    payload["model"] = actual_model
    return _encode(payload)


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
