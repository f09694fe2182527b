"""Claude Code-shaped traffic for the usage-ledger tests: two sessions, token counts a fake
upstream reports, and one request as Claude Code sends it (its `metadata.user_id` JSON)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from ccm.ledger.db import COLUMNS, LedgerDB

USAGE = {"input_tokens": 12, "output_tokens": 9}
SESSION_A = "5f0c8a9e-aaaa-4d5e-9c1a-000000000001"
SESSION_B = "5f0c8a9e-bbbb-4d5e-9c1a-000000000002"


def user_id(session: str) -> str:
    """`metadata.user_id` as Claude Code 2.1 sends it: a JSON string holding the session."""
    return json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": session})


def body(model: str, session: str, stream: bool, *, max_tokens: int = 100) -> dict[str, Any]:
    """A Messages request as Claude Code sends it in `session`."""
    return {
        "model": model,
        "max_tokens": max_tokens,
        "stream": stream,
        "metadata": {"user_id": user_id(session)},
        "messages": [{"role": "user", "content": "hi"}],
    }


def send(
    base: str, model: str, session: str, stream: bool, *, max_tokens: int = 100
) -> httpx.Response:
    """One Claude Code request in `session` to the ccm at `base` (client key `sk-client`)."""
    return httpx.post(
        f"{base}/v1/messages",
        json=body(model, session, stream, max_tokens=max_tokens),
        headers={"x-api-key": "sk-client"},
        timeout=10,
    )


def add_row(db: LedgerDB, **fields: object) -> None:
    """Write one ledger row: a 200 on the default rule, 10 tokens in and 5 out, now; `fields`
    override any column."""
    values: dict[str, object] = dict.fromkeys(COLUMNS)
    values.update(
        ts=time.time(),
        status=200,
        rule="default",
        model="m",
        provider="p",
        actual_model="a",
        input_tokens=10,
        output_tokens=5,
        cache_read_input_tokens=0,
        cache_creation_input_tokens=0,
        subscription=0,
        failover=0,
    )
    values.update(fields)
    db.write([tuple(values[c] for c in COLUMNS)])
