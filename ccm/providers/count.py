"""count_tokens through a provider that has the endpoint (Anthropic's own API)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from ccm.config.secrets import MissingSecret
from ccm.providers.client import ProviderClient
from ccm.rules.chain import ChainEntry
from ccm.translate import anthropic as anth

log = logging.getLogger("ccm.count")
HAS_COUNT_ENDPOINT = frozenset({"anthropic", "anthropic-compatible"})
COUNT_TIMEOUT = 15.0
COUNT_FIELDS = ("messages", "system", "tools", "tool_choice", "thinking")


async def upstream_count(
    clients: Mapping[str, ProviderClient],
    chain: tuple[ChainEntry, ...],
    body: dict[str, Any],
    client_headers: Mapping[str, str],
) -> bytes | None:
    """The first provider's own count, or None (the caller then estimates)."""
    for entry in chain:
        client = clients.get(entry.provider)
        if client is None or client.config.provider_type not in HAS_COUNT_ENDPOINT:
            continue
        payload = {k: body[k] for k in COUNT_FIELDS if k in body}
        try:
            headers = {
                **anth.request_headers(client_headers),
                **client.extra_headers(),
                **(await client.request_auth(client_headers)),
            }
            async with asyncio.timeout(COUNT_TIMEOUT):
                resp = await client.http.post(
                    client.url("count_tokens"),
                    content=anth.request_bytes(payload, entry.actual_model),
                    headers=headers,
                )
        except (MissingSecret, TimeoutError, httpx.HTTPError) as e:
            log.info("count_tokens via %s failed: %s", entry.provider, e)
            continue
        if resp.status_code == 200:
            return resp.content
        log.info("count_tokens via %s: status %d", entry.provider, resp.status_code)
    return None
