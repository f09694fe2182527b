"""Valid access tokens on demand: refresh within 5 minutes of expiry, once per token.

`access_token` is called before every upstream request of an OAuth provider. Concurrent
callers of one token id share one refresh: an asyncio.Lock per (token file, token id) in each
event loop; whoever holds it refreshes, the others wait and then find the fresh token in the
store. When that refresh fails, the callers that were already waiting get the same error
instead of each trying again (a refresh token that the server rotates must be used once).

Other processes too: inside the asyncio lock the refresher also holds a lock every worker and
instance sees: the shared state's (`lock`, Redis with [state] url) or else a file lock beside
the token file (`oauth_tokens.json.refresh.lock`, for `--workers N` on one machine). Whoever
waited re-reads the token file, finds the fresh token and makes no refresh call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from ccm.oauth.flows import Flow, OAuthError, get_flow
from ccm.oauth.store import REFRESH_MARGIN, TokenRecord, TokenStore, format_time, now_utc

log = logging.getLogger("ccm.oauth")

DEFAULT_EXPIRES_IN = 3600
TOKEN_TIMEOUT = 30.0

_Key = tuple[str, str]
# a lock shared by every worker and instance: name, ttl -> async context yielding True when it
# really is shared (ccm.state.SharedState.lock)
SharedLock = Callable[[str, float], contextlib.AbstractAsyncContextManager[bool]]
REFRESH_LOCK_S = 2 * TOKEN_TIMEOUT + 5


class _Slot:
    __slots__ = ("failed_at", "failure", "lock")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.failure: OAuthError | None = None
        self.failed_at = 0.0


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_Key, _Slot]] = (
    weakref.WeakKeyDictionary()
)


def _slot(store: TokenStore, provider_id: str) -> _Slot:
    per_loop = _slots.setdefault(asyncio.get_running_loop(), {})
    key = (str(store.path), provider_id)
    slot = per_loop.get(key)
    if slot is None:
        slot = per_loop[key] = _Slot()
    return slot


def new_http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TOKEN_TIMEOUT, follow_redirects=False, trust_env=False)


def _error_detail(resp: httpx.Response) -> str:
    """The server's reason, from an OAuth error body ({error, error_description}) or text."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):  # Anthropic: {"error": {"type", "message"}}
            parts = [str(err.get("type") or ""), str(err.get("message") or "")]
        else:
            parts = [str(err or ""), str(data.get("error_description") or "")]
        text = ": ".join(p for p in parts if p)
        if text:
            return text[:300]
    text = resp.text.strip().replace("\n", " ")
    return text[:200] or resp.reason_phrase


async def token_request(
    flow: Flow, http: httpx.AsyncClient, fields: Mapping[str, str], what: str
) -> dict[str, Any]:
    """POST to the flow's token endpoint (JSON or form as the flow wants); the JSON answer."""
    host = urlsplit(flow.token_url).netloc
    try:
        if flow.token_format == "json":
            resp = await http.post(
                flow.token_url, json=dict(fields), headers={"accept": "application/json"}
            )
        else:
            resp = await http.post(
                flow.token_url, data=dict(fields), headers={"accept": "application/json"}
            )
    except httpx.HTTPError as e:
        raise OAuthError(f"{what} failed: cannot reach {host}: {type(e).__name__}: {e}") from None
    if resp.status_code != 200:
        raise OAuthError(
            f"{what} failed: {host} answered {resp.status_code}: {_error_detail(resp)}"
        )
    try:
        data = resp.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise OAuthError(f"{what} failed: {host} answered without an access_token")
    return data


def expiry(data: Mapping[str, Any], now: datetime | None = None) -> str:
    try:
        seconds = int(data.get("expires_in") or DEFAULT_EXPIRES_IN)
    except (TypeError, ValueError):
        seconds = DEFAULT_EXPIRES_IN
    return format_time((now or now_utc()) + timedelta(seconds=seconds))


def _resolve_flow(record: TokenRecord, flow: Flow | str | None, default_flow: str | None) -> Flow:
    chosen = flow if flow is not None else (record.flow or default_flow)
    if chosen is None:
        raise OAuthError(
            f"OAuth token {record.provider_id!r}: unknown flow; run `ccm oauth refresh "
            f"{record.provider_id} --flow ...` or `ccm login {record.provider_id} --flow ...`"
        )
    return get_flow(chosen).require_client()


def _login_hint(provider_id: str, flow_name: str | None = None) -> str:
    flow_part = f" --flow {flow_name}" if flow_name else ""
    return f"run `ccm login {provider_id}{flow_part}`"


async def _refresh(
    store: TokenStore, record: TokenRecord, flow: Flow, http: httpx.AsyncClient | None
) -> TokenRecord:
    pid = record.provider_id
    if not record.refresh_token:
        raise OAuthError(
            f"OAuth token {pid!r} has expired and has no refresh token; {_login_hint(pid, flow.name)}"
        )
    fields = {
        "grant_type": "refresh_token",
        "refresh_token": record.refresh_token,
        "client_id": flow.client_id,
    }
    if flow.client_secret:
        fields["client_secret"] = flow.client_secret
    own = http is None
    client = http or new_http_client()
    try:
        data = await token_request(flow, client, fields, f"refreshing the OAuth token {pid!r}")
    except OAuthError as e:
        raise OAuthError(f"{e}; {_login_hint(pid, flow.name)} to sign in again") from None
    finally:
        if own:
            await client.aclose()
    new_refresh = data.get("refresh_token")
    fresh = TokenRecord(
        provider_id=pid,
        access_token=data["access_token"],
        refresh_token=new_refresh
        if isinstance(new_refresh, str) and new_refresh
        else record.refresh_token,
        expires_at=expiry(data),
        project_id=record.project_id,
        enterprise_url=record.enterprise_url,
        flow=record.flow or flow.name,
    )
    store.save(fresh)
    log.info("refreshed OAuth token %s (expires %s)", pid, fresh.expires_at)
    return fresh


def _missing(provider_id: str, flow: Flow | str | None, default_flow: str | None) -> OAuthError:
    name = flow.name if isinstance(flow, Flow) else (flow or default_flow)
    return OAuthError(f"no OAuth token {provider_id!r}; {_login_hint(provider_id, name)}")


async def access_token(
    store: TokenStore,
    provider_id: str,
    flow: Flow | str | None = None,
    http: httpx.AsyncClient | None = None,
    *,
    default_flow: str | None = None,
    margin: timedelta = REFRESH_MARGIN,
    lock: SharedLock | None = None,
) -> str:
    """A valid access token for `provider_id`, refreshed first when it expires within `margin`.

    `flow` (else the flow recorded with the token, else `default_flow`) says where to refresh.
    OAuthError when there is no token or the refresh fails.
    """
    record = store.get(provider_id)
    if record is None:
        raise _missing(provider_id, flow, default_flow)
    if not record.needs_refresh(margin=margin):
        return record.access_token
    fresh = await _refresh_once(store, provider_id, flow, http, default_flow, margin, lock)
    return fresh.access_token


async def refresh_token(
    store: TokenStore,
    provider_id: str,
    flow: Flow | str | None = None,
    http: httpx.AsyncClient | None = None,
    *,
    default_flow: str | None = None,
    lock: SharedLock | None = None,
) -> TokenRecord:
    """Refresh now, whatever the expiry (`ccm oauth refresh`, the admin's Refresh button)."""
    return await _refresh_once(store, provider_id, flow, http, default_flow, None, lock)


@contextlib.asynccontextmanager
async def _across_processes(
    store: TokenStore, provider_id: str, lock: SharedLock | None
) -> AsyncIterator[None]:
    """The shared state's lock when it is shared (Redis), else a file lock beside the tokens."""
    from ccm.state.files import file_lock

    async with contextlib.AsyncExitStack() as stack:
        shared = False
        if lock is not None:
            shared = await stack.enter_async_context(
                lock(f"oauth-refresh:{provider_id}", REFRESH_LOCK_S)
            )
        if not shared:
            path = store.path.with_name(store.path.name + ".refresh.lock")
            await stack.enter_async_context(file_lock(path, REFRESH_LOCK_S))
        yield


async def _refresh_once(
    store: TokenStore,
    provider_id: str,
    flow: Flow | str | None,
    http: httpx.AsyncClient | None,
    default_flow: str | None,
    margin: timedelta | None,
    lock: SharedLock | None = None,
) -> TokenRecord:
    slot = _slot(store, provider_id)
    arrived = time.monotonic()
    async with slot.lock, _across_processes(store, provider_id, lock):
        record = store.get(provider_id)
        if record is None:
            raise _missing(provider_id, flow, default_flow)
        if margin is not None and not record.needs_refresh(margin=margin):
            return record  # refreshed by the task we waited for
        if slot.failure is not None and slot.failed_at >= arrived:
            raise slot.failure  # the refresh we waited for failed: don't hammer the server
        try:
            fresh = await _refresh(store, record, _resolve_flow(record, flow, default_flow), http)
        except OAuthError as e:
            slot.failure, slot.failed_at = e, time.monotonic()
            raise
        slot.failure = None
        return fresh


async def oauth_headers(
    store: TokenStore,
    token_id: str,
    provider_type: str,
    http: httpx.AsyncClient | None = None,
    *,
    anthropic_beta: str | None = None,
) -> dict[str, str]:
    """Upstream auth headers for an OAuth provider of `provider_type`, as its dialect writes
    them (the Bearer token; the dialect adds what it needs, e.g. Anthropic's oauth beta flag
    after the client's own `anthropic-beta` flags, the Codex backend's chatgpt-account-id)."""
    from ccm.config.schema import ProviderConfig
    from ccm.dialects import registry
    from ccm.dialects.base import Credential, Job, Target

    token = await access_token(
        store, token_id, None, http, default_flow=registry.oauth_flow(provider_type)
    )
    pre = registry.preset(provider_type, "oauth")
    if pre is None:
        return {"authorization": f"Bearer {token}"}
    config = ProviderConfig(name=token_id, provider_type=provider_type, auth_type="oauth")
    target = Target("", pre.base_url, pre.auth, pre.quirks, config, pre.headers)
    client_headers = {"anthropic-beta": anthropic_beta} if anthropic_beta else {}
    job = Job({"model": "", "messages": []}, client_headers, False, "")
    call = pre.dialect.build(job, target, Credential(token, "token"))
    return {k: v for k, v in call.headers.items() if k in ("authorization", *_AUTH_EXTRAS)}


# headers a dialect adds to an OAuth token's Bearer
_AUTH_EXTRAS = ("anthropic-beta", "chatgpt-account-id")


def chatgpt_account_id(access: str) -> str | None:
    """The ChatGPT account id in a ChatGPT OAuth access token (ccm.dialects.openai_responses)."""
    from ccm.dialects.openai_responses import chatgpt_account_id as read

    return read(access)


__all__ = [
    "access_token",
    "chatgpt_account_id",
    "expiry",
    "new_http_client",
    "oauth_headers",
    "refresh_token",
    "token_request",
]
