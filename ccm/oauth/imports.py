"""`ccm login --import`: take existing sign-ins from the official CLIs' credential files into
ccm's token store, so a user already signed in there need not sign in again.

* Codex CLI: `$CODEX_HOME/auth.json` (default `~/.codex/auth.json`):
  `{"OPENAI_API_KEY": ..., "tokens": {"id_token", "access_token", "refresh_token",
  "account_id"}, "last_refresh": "<RFC 3339>"}`. The access token is a JWT; its `exp` claim is
  the expiry. Flow `chatgpt`. OpenAI rotates refresh tokens: once ccm refreshes this sign-in,
  the Codex CLI's copy is spent and `codex login` is needed there (and the other way round).
* Gemini CLI: `~/.gemini/oauth_creds.json`: `{"access_token", "refresh_token", "expiry_date"
  (milliseconds since the epoch), "token_type", "scope", "id_token"}`. Flow `google`. The Code
  Assist project is not in the file: it is looked up (loadCodeAssist) as `ccm login` does.

Refreshing an imported token needs the client that issued it (`CCM_OAUTH_<FLOW>_CLIENT_ID`,
and `_CLIENT_SECRET` for google; `ccm oauth flows`), since ccm ships no third-party client ids.
Nothing here prints or logs a token.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec

from ccm.oauth.flows import OAuthError, get_flow
from ccm.oauth.store import TokenRecord, TokenStore, format_time, now_utc


@dataclass(frozen=True, slots=True)
class Source:
    """One CLI's credential file and how to read it."""

    name: str
    flow: str
    path: Path
    read: Callable[[Path], dict[str, Any]]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Imported:
    source: Source
    record: TokenRecord
    replaced: bool


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise OAuthError(f"cannot read {path}: {e}") from None


def jwt_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified (only to learn the expiry); {} if it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def read_codex(path: Path) -> dict[str, Any]:
    data = _load(path)
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(tokens, dict) or not tokens.get("access_token"):
        if isinstance(data, dict) and data.get("OPENAI_API_KEY"):
            raise OAuthError(
                f"{path} holds an API key, not a ChatGPT sign-in: give it to a provider as "
                'api_key = "$OPENAI_API_KEY" instead'
            )
        raise OAuthError(f"{path} has no ChatGPT sign-in (no tokens.access_token)")
    access, refresh = tokens.get("access_token"), tokens.get("refresh_token")
    if not isinstance(access, str) or not isinstance(refresh, str) or not refresh:
        raise OAuthError(f"{path}: tokens.access_token and tokens.refresh_token must be strings")
    exp = jwt_claims(access).get("exp")
    expires = (
        datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else now_utc()
    )  # unknown: refresh on first use
    return {"access_token": access, "refresh_token": refresh, "expires_at": format_time(expires)}


def read_gemini(path: Path) -> dict[str, Any]:
    data = _load(path)
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise OAuthError(f"{path} has no Google sign-in (no access_token)")
    refresh = data.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise OAuthError(f"{path} has no refresh_token; sign in to the Gemini CLI again")
    ms = data.get("expiry_date")
    expires = datetime.fromtimestamp(ms / 1000, UTC) if isinstance(ms, int | float) else now_utc()
    return {
        "access_token": data["access_token"],
        "refresh_token": refresh,
        "expires_at": format_time(expires),
    }


def sources(home: Path | None = None) -> list[Source]:
    home = home or Path.home()
    codex_home = Path(os.environ["CODEX_HOME"]) if os.environ.get("CODEX_HOME") else home / ".codex"
    return [
        Source(
            "Codex CLI",
            "chatgpt",
            codex_home / "auth.json",
            read_codex,
            "OpenAI rotates refresh tokens: after ccm refreshes this sign-in the Codex CLI needs "
            "`codex login` again (and the other way round)",
        ),
        Source("Gemini CLI", "google", home / ".gemini" / "oauth_creds.json", read_gemini),
    ]


async def _project(flow_name: str, access: str) -> str | None:
    from ccm.oauth.login import code_assist_project

    flow = get_flow(flow_name)
    async with httpx.AsyncClient(timeout=15, trust_env=False) as http:
        return await code_assist_project(flow, http, access)


async def import_sign_ins(
    store: TokenStore,
    ids: Callable[[str], str],
    *,
    flows: set[str] | None = None,
    home: Path | None = None,
) -> tuple[list[Imported], list[str]]:
    """Import every CLI sign-in found (only `flows` when given) under the token id `ids(flow)`.
    Returns what was imported and why other sources were not."""
    done: list[Imported] = []
    skipped: list[str] = []
    for src in sources(home):
        if flows is not None and src.flow not in flows:
            continue
        if not src.path.exists():
            skipped.append(f"no {src.name} sign-in at {src.path}")
            continue
        try:
            fields = src.read(src.path)
        except OAuthError as e:
            skipped.append(str(e))
            continue
        token_id = ids(src.flow)
        record = TokenRecord(provider_id=token_id, flow=src.flow, **fields)
        if src.flow == "google" and not record.is_expired():
            project = await _project(src.flow, record.access_token)
            record = msgspec.structs.replace(record, project_id=project)
        replaced = store.get(token_id) is not None
        store.save(record)
        done.append(Imported(src, record, replaced))
    return done, skipped
