"""What must survive the round trip through Claude Code: reasoning and tool-use ids.

Claude Code sends every earlier turn back as it received it. Two things in those turns matter
to the upstream that wrote them:

- Reasoning. An upstream's reasoning becomes an Anthropic `thinking` block whose `signature`
  ccm writes as ``ccm1.<dialect>.<base64url JSON>``: the payload holds what that dialect needs
  back (a Gemini thoughtSignature, a Responses reasoning item's id and encrypted_content,
  OpenRouter's reasoning_details). Each dialect reads back only its own signatures (`read`);
  every other thinking block is dropped where it means nothing, and Anthropic's own API never
  sees a ccm signature (`is_ccm`).
- Tool-use ids. Anthropic's API requires ``^[a-zA-Z0-9_-]+$``; some upstreams mint others
  (Kimi: ``functions.get_weather:0``). `to_anthropic_id` maps such an id into the charset
  (reversibly, valid ids unchanged) and `to_upstream_id` maps it back.
"""

from __future__ import annotations

import base64
import binascii
import random
import re
from typing import Any

import msgspec

PREFIX = "ccm1."
_encode = msgspec.json.encode
_decode = msgspec.json.decode


def sign(dialect: str, payload: Any) -> str:
    """A thinking signature carrying `payload` for `dialect`."""
    data = base64.urlsafe_b64encode(_encode(payload)).rstrip(b"=").decode()
    return f"{PREFIX}{dialect}.{data}"


def is_ccm(signature: Any) -> bool:
    return isinstance(signature, str) and signature.startswith(PREFIX)


def read(signature: Any, dialect: str) -> Any:
    """The payload of a signature ccm made for `dialect`; None for any other signature."""
    head = f"{PREFIX}{dialect}."
    if not isinstance(signature, str) or not signature.startswith(head):
        return None
    data = signature[len(head) :]
    try:
        return _decode(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return None


def own_thinking(block: Any, dialect: str) -> tuple[str, Any] | None:
    """(thinking text, payload) of a thinking block ccm made for `dialect`, else None."""
    if not isinstance(block, dict) or block.get("type") != "thinking":
        return None
    payload = read(block.get("signature"), dialect)
    if payload is None:
        return None
    text = block.get("thinking")
    return (text if isinstance(text, str) else ""), payload


# --------------------------------------------------------------------------- tool-use ids

_random_bits = random.Random().getrandbits  # seeded from os.urandom once, per process
_VALID_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_MAPPED = "toolu_ccm_"


def new_id(prefix: str) -> str:
    """A fresh id (unique, not secret): 96 random bits from the process's generator, which
    unlike uuid4 makes no system call per id (one per request showed in the profile)."""
    return f"{prefix}{_random_bits(96):024x}"


def to_anthropic_id(upstream_id: str | None, prefix: str = "toolu_") -> str:
    """An upstream's tool-call id in Anthropic's charset; a new id when it gave none."""
    if not upstream_id:
        return new_id(prefix)
    if _VALID_ID.match(upstream_id) and not upstream_id.startswith(_MAPPED):
        return upstream_id
    return _MAPPED + base64.urlsafe_b64encode(upstream_id.encode()).rstrip(b"=").decode()


def to_upstream_id(anthropic_id: str) -> str:
    """The id the upstream minted, for an id `to_anthropic_id` mapped; others as they are."""
    if not anthropic_id.startswith(_MAPPED):
        return anthropic_id
    data = anthropic_id[len(_MAPPED) :]
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return anthropic_id
