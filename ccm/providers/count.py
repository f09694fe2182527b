"""count_tokens through a provider whose dialect can ask its upstream (Anthropic's own API
and servers like it: the `CountsTokens` capability, where the type's quirks say it exists)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from ccm.config.secrets import MissingSecret
from ccm.dialects.base import CountsTokens, Job
from ccm.providers.client import ProviderClient
from ccm.rules.chain import ChainEntry

log = logging.getLogger("ccm.count")
COUNT_TIMEOUT = 15.0


async def upstream_count(
    clients: Mapping[str, ProviderClient],
    chain: tuple[ChainEntry, ...],
    body: dict[str, Any],
    client_headers: Mapping[str, str],
) -> bytes | None:
    """The first provider's own count, or None (the caller then estimates)."""
    job = Job(body, client_headers, False, str(body.get("model") or ""))
    for entry in chain:
        client = clients.get(entry.provider)
        if client is None or not client.quirks.count_tokens:
            continue
        dialect = client.dialect
        if not isinstance(dialect, CountsTokens):
            continue
        try:
            credential = await client.credential(client_headers)
            call = dialect.count_call(body, job, client.target(entry.actual_model), credential)
            async with asyncio.timeout(COUNT_TIMEOUT):
                resp = await client.http.post(call.url, content=call.content, headers=call.headers)
        except (MissingSecret, TimeoutError, httpx.HTTPError) as e:
            log.info("count_tokens via %s failed: %s", entry.provider, e)
            continue
        if resp.status_code == 200:
            return resp.content
        log.info("count_tokens via %s: status %d", entry.provider, resp.status_code)
    return None
