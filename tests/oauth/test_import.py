"""`ccm login --import`: the Codex CLI's and the Gemini CLI's sign-ins into ccm's token store,
from sample files in a temp HOME; the imported tokens refresh against a fake OAuth server."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ccm.oauth.imports import jwt_claims, read_codex, read_gemini
from ccm.oauth.store import TokenStore, parse_time
from tests.fakes.oauth_server import FakeOAuthServer

EXP = 2_000_000_000  # 2033-05-18


def jwt(claims: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


CODEX_ACCESS = jwt({"exp": EXP, "https://api.openai.com/auth": {"chatgpt_account_id": "acc-1"}})


def write_codex(home: Path, **extra: object) -> Path:
    path = home / ".codex" / "auth.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "OPENAI_API_KEY": None,
                "tokens": {
                    "id_token": jwt({"email": "me@example.com"}),
                    "access_token": CODEX_ACCESS,
                    "refresh_token": "rt-codex-secret",
                    "account_id": "acc-1",
                },
                "last_refresh": "2025-01-01T00:00:00.123456Z",
                **extra,
            }
        )
    )
    return path


def write_gemini(
    home: Path, access: str = "ya29.gemini-access", expiry_ms: float | None = None
) -> Path:
    path = home / ".gemini" / "oauth_creds.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "access_token": access,
                "refresh_token": "1//gemini-refresh-secret",
                "expiry_date": expiry_ms
                if expiry_ms is not None
                else (time.time() + 3000) * 1000.5,
                "token_type": "Bearer",
                "scope": "openid https://www.googleapis.com/auth/cloud-platform",
                "id_token": jwt({"email": "me@example.com"}),
            }
        )
    )
    return path


def ccm(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CCM_OAUTH", "CODEX_HOME", "GOOGLE_CLOUD"))
    }
    base.pop("CCM_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "ccm.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "HOME": str(home), **env},
    )


def test_readers() -> None:
    assert jwt_claims(CODEX_ACCESS)["exp"] == EXP
    assert jwt_claims("not-a-jwt") == {} and jwt_claims("a.%%%.c") == {}


def test_read_codex_and_gemini(tmp_path: Path) -> None:
    codex = read_codex(write_codex(tmp_path))
    assert codex["access_token"] == CODEX_ACCESS and codex["refresh_token"] == "rt-codex-secret"
    assert parse_time(codex["expires_at"]).timestamp() == EXP
    gemini = read_gemini(write_gemini(tmp_path, expiry_ms=1_769_159_945_362.7791))
    assert gemini["expires_at"] == "2026-01-23T09:19:05Z"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ({"OPENAI_API_KEY": "sk-x", "tokens": None}, "holds an API key"),
        ({"tokens": {}}, "no ChatGPT sign-in"),
        ({"tokens": {"access_token": "a"}}, "must be strings"),
    ],
)
def test_codex_files_without_a_sign_in(tmp_path: Path, content: dict, fragment: str) -> None:
    from ccm.oauth.flows import OAuthError

    path = tmp_path / "auth.json"
    path.write_text(json.dumps(content))
    with pytest.raises(OAuthError, match=fragment):
        read_codex(path)


def test_import_both_into_the_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_codex(home)
    with FakeOAuthServer(client_id="gemini-cli-client", client_secret="s") as fake:
        fake.access_tokens.add("ya29.gemini-access")
        write_gemini(home)
        tokens = tmp_path / "tokens.json"
        out = ccm(
            home,
            "login",
            "--import",
            "--tokens",
            str(tokens),
            CCM_OAUTH_GOOGLE_CODE_ASSIST_URL=fake.code_assist_url,
        )
    assert out.returncode == 0, out.stderr
    assert "Imported the Codex CLI sign-in" in out.stdout
    assert "Imported the Gemini CLI sign-in" in out.stdout
    assert "codex login" in out.stdout  # the rotation note
    assert "CCM_OAUTH_CHATGPT_CLIENT_ID" in out.stdout  # how to make refresh possible
    for secret in ("rt-codex-secret", "gemini-refresh-secret", "ya29.gemini-access", CODEX_ACCESS):
        assert secret not in out.stdout + out.stderr
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    store = TokenStore(tokens)
    codex = store.get("chatgpt")
    assert codex is not None and codex.flow == "chatgpt"
    assert codex.refresh_token == "rt-codex-secret" and codex.expires.timestamp() == EXP
    google = store.get("google")
    assert google is not None and google.flow == "google"
    assert google.project_id == "fake-project"  # looked up with the imported access token
    assert google.access_token == "ya29.gemini-access"


def test_import_uses_the_configured_token_id_and_refreshes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_gemini(home, access="ya29.old", expiry_ms=0)  # expired: no project lookup
    cfg = home / ".claude-code-mux" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        '[[providers]]\nname = "gem"\nprovider_type = "gemini"\nauth_type = "oauth"\n'
        'oauth_provider = "google-ai"\n'
    )
    tokens = tmp_path / "tokens.json"
    with FakeOAuthServer(
        client_id="gemini-cli-client", client_secret="s", rotate_refresh=False
    ) as fake:
        fake.refresh_tokens["1//gemini-refresh-secret"] = True
        env = {
            "CCM_OAUTH_GOOGLE_CLIENT_ID": "gemini-cli-client",
            "CCM_OAUTH_GOOGLE_CLIENT_SECRET": "s",
            "CCM_OAUTH_GOOGLE_TOKEN_URL": fake.token_url,
            "CCM_OAUTH_GOOGLE_CODE_ASSIST_URL": fake.code_assist_url,
        }
        out = ccm(home, "login", "--import", "--flow", "google", "--tokens", str(tokens), **env)
        assert out.returncode == 0, out.stderr
        assert "token 'google-ai' saved" in out.stdout
        assert "Codex" not in out.stdout  # only the flow asked for
        record = TokenStore(tokens).get("google-ai")
        assert record is not None and record.is_expired()
        refreshed = ccm(home, "oauth", "refresh", "google-ai", "--tokens", str(tokens), **env)
        assert refreshed.returncode == 0, refreshed.stderr
        assert fake.refresh_calls == 1
        fresh = TokenStore(tokens).get("google-ai")
        assert fresh is not None and not fresh.is_expired()
        assert fresh.refresh_token == "1//gemini-refresh-secret"  # Google keeps it


def test_nothing_to_import_says_where_it_looked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    out = ccm(home, "login", "--import", "--tokens", str(tmp_path / "t.json"))
    assert out.returncode == 1
    assert f"no Codex CLI sign-in at {home / '.codex' / 'auth.json'}" in out.stderr
    assert f"no Gemini CLI sign-in at {home / '.gemini' / 'oauth_creds.json'}" in out.stderr
    assert not (tmp_path / "t.json").exists()


def test_codex_home_is_honoured_and_an_existing_token_is_replaced(tmp_path: Path) -> None:
    home = tmp_path / "home"
    codex_home = tmp_path / "elsewhere"
    write_codex(codex_home.parent / "x")  # not this one
    path = codex_home / "auth.json"
    path.parent.mkdir(parents=True)
    path.write_text((codex_home.parent / "x" / ".codex" / "auth.json").read_text())
    tokens = tmp_path / "t.json"
    login = ("login", "my-chatgpt", "--import", "--flow", "chatgpt", "--tokens", str(tokens))
    first = ccm(home, *login, CODEX_HOME=str(codex_home))
    assert first.returncode == 0, first.stderr
    assert "token 'my-chatgpt' saved" in first.stdout
    again = ccm(home, *login, CODEX_HOME=str(codex_home))
    assert "token 'my-chatgpt' replaced" in again.stdout
    assert TokenStore(tokens).ids() == ["my-chatgpt"]
