"""The proxy end to end against an Anthropic-dialect fake upstream, with the official SDK."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.fakes.upstream import (
    FakeUpstream,
    echo,
    hang,
    reply_text,
    reply_tool_call,
    status,
)
from tests.harness import running_ccm
from tests.proxy_setup import model_toml, provider_toml, sdk, upstream_fixture, write_config

up = upstream_fixture("anthropic")
backup = upstream_fixture("anthropic")


@pytest.fixture(params=["fast-path", "litestar"])
def ccm(request, tmp_path: Path, up: FakeUpstream, backup: FakeUpstream):
    """Every test runs through the ASGI fast path and through the Litestar route: one logic."""
    cfg = write_config(
        tmp_path / "config.toml",
        provider_toml("primary", up, key="sk-primary")
        + provider_toml("backup", backup, key="sk-backup")
        + model_toml("main", ("primary", "claude-up-1"), ("backup", "claude-up-2"))
        + model_toml("solo", ("primary", "claude-solo")),
        router='default = "main"\nauto_map_regex = "^(claude-|m$|x-main$)"',
    )
    with running_ccm(cfg, fast_path=request.param == "fast-path") as running:
        yield running


def test_text_non_stream_and_what_reaches_the_upstream(ccm, up: FakeUpstream) -> None:
    up.script(reply_text("hello there"))
    client = sdk(ccm.base_url)
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
            }
        ],
        extra_headers={"anthropic-beta": "context-1m-2025-08-07,interleaved-thinking-2025-05-14"},
        extra_body={"context_management": {"edits": []}, "some_future_field": {"x": 1}},
    )
    msg = raw.parse()
    assert msg.content[0].text == "hello there"
    assert msg.model == "claude-sonnet-4-5"  # the name the client asked for
    assert raw.headers["x-ccm-route"] == "rule=default; model=main; provider=primary"
    (req,) = up.requests
    assert req.path.startswith("/v1/messages")
    assert req.json["model"] == "claude-up-1"
    assert req.headers["x-api-key"] == "sk-primary"  # the provider's key, not the client's
    assert req.headers["anthropic-beta"] == "context-1m-2025-08-07,interleaved-thinking-2025-05-14"
    assert req.headers["anthropic-version"] == client.default_headers["anthropic-version"]
    # lossless: unknown fields and cache_control go through untouched
    assert req.json["some_future_field"] == {"x": 1}
    assert req.json["context_management"] == {"edits": []}
    assert req.json["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert req.json["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_streaming_text(ccm, up: FakeUpstream) -> None:
    up.script(reply_text("one two three four"))
    client = sdk(ccm.base_url)
    with client.messages.stream(
        model="claude-opus-4-8", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "one two three four"
    assert final.model == "claude-opus-4-8"
    assert final.stop_reason == "end_turn"
    assert up.requests[0].json["stream"] is True


def test_tool_use_round_trip(ccm, up: FakeUpstream) -> None:
    up.script(
        reply_tool_call("Bash", {"command": "ls -la"}, tool_id="toolu_1"), reply_text("listed")
    )
    client = sdk(ccm.base_url)
    tools = [
        {
            "name": "Bash",
            "description": "run",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
        }
    ]
    msgs = [{"role": "user", "content": "list files"}]
    with client.messages.stream(
        model="claude-opus-4-8", max_tokens=100, tools=tools, messages=msgs
    ) as s:
        first = s.get_final_message()
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.input == {"command": "ls -la"}
    msgs += [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": call.id,
                    "content": "a b c",
                    "is_error": False,
                }
            ],
        },
    ]
    second = client.messages.create(
        model="claude-opus-4-8", max_tokens=100, tools=tools, messages=msgs
    )
    assert second.content[0].text == "listed"
    sent = up.requests[1].json["messages"][-1]["content"][0]
    assert sent == {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": "a b c",
        "is_error": False,
    }


def test_count_tokens_uses_the_anthropic_endpoint(ccm, up: FakeUpstream) -> None:
    res = sdk(ccm.base_url).messages.count_tokens(
        model="claude-x", messages=[{"role": "user", "content": "hello"}]
    )
    assert res.input_tokens == 100  # the fake's answer, not an estimate
    assert up.requests[0].path.startswith("/v1/messages/count_tokens")
    assert up.requests[0].json["model"] == "claude-up-1"


def test_models_health_head(ccm) -> None:
    with httpx.Client(base_url=ccm.base_url) as c:
        models = c.get("/v1/models").json()
        assert [m["id"] for m in models["data"]] == [
            "main",
            "claude-ccm-main",
            "solo",
            "claude-ccm-solo",
        ]
        health = c.get("/health").json()
        assert health["status"] == "ok" and health["rules_version"] == 1
        assert c.head("/").status_code == 200


# ---- failover ----------------------------------------------------------------


def test_failover_on_500_to_backup(ccm, up: FakeUpstream, backup: FakeUpstream, caplog) -> None:
    up.script(status(500))
    backup.script(reply_text("from backup"))
    raw = sdk(ccm.base_url).messages.with_raw_response.create(
        model="x-main",
        max_tokens=10,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={},
    )
    assert raw.parse().content[0].text == "from backup"
    assert raw.headers["x-ccm-route"].endswith("provider=backup")
    assert raw.headers["x-ccm-attempts"] == "2"
    assert backup.requests[0].json["model"] == "claude-up-2"
    assert backup.requests[0].headers["x-api-key"] == "sk-backup"
    assert any("primary" in r.message and "500" in r.message for r in caplog.records)


def test_failover_on_hang_past_first_byte_timeout(
    ccm, up: FakeUpstream, backup: FakeUpstream, caplog
) -> None:
    up.script(hang(8))
    backup.script(reply_text("backup streams"))
    client = sdk(ccm.base_url)
    with client.messages.stream(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    ) as s:
        assert "".join(s.text_stream) == "backup streams"
    assert any(
        "primary" in r.message and "no response within 3s" in r.message for r in caplog.records
    )


def test_429_everywhere_is_retried_after_retry_after_then_stays_429(
    ccm, up: FakeUpstream, backup: FakeUpstream
) -> None:
    # two passes over the chain (retries = 1): every provider says 429 both times
    up.script(status(429, headers={"retry-after": "1"}), status(429, headers={"retry-after": "1"}))
    backup.script(
        status(429, headers={"retry-after": "1"}), status(429, headers={"retry-after": "1"})
    )
    with httpx.Client(base_url=ccm.base_url, timeout=20) as c:
        t0 = time.monotonic()
        r = c.post(
            "/v1/messages",
            json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        )
        waited = time.monotonic() - t0
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert 1.0 <= waited < 4, "waited the upstream's retry-after once between passes"
    assert len(up.requests) == 2 and len(backup.requests) == 2
    err = r.json()
    assert err["type"] == "error" and err["error"]["type"] == "rate_limit_error"
    assert "primary" in err["error"]["message"] and "backup" in err["error"]["message"]


def test_second_pass_succeeds_after_backoff(ccm, up: FakeUpstream, backup: FakeUpstream) -> None:
    up.script(status(503), reply_text("recovered"))
    backup.script(status(529))
    msg = sdk(ccm.base_url).messages.create(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].text == "recovered"
    assert len(up.requests) == 2 and len(backup.requests) == 1


def test_400_is_not_retried_and_comes_back_as_it_came(
    ccm, up: FakeUpstream, backup: FakeUpstream
) -> None:
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long"},
    }
    up.script(status(400, body=json.dumps(body).encode()))
    with pytest.raises(anthropic.BadRequestError) as e:
        sdk(ccm.base_url).messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert e.value.body == body
    assert backup.requests == []


def test_x_provider_forces_a_provider(ccm, up: FakeUpstream, backup: FakeUpstream) -> None:
    backup.script(echo())
    with httpx.Client(base_url=ccm.base_url) as c:
        r = c.post(
            "/v1/messages",
            headers={"x-provider": "backup"},
            json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 200 and up.requests == []
        r = c.post(
            "/v1/messages",
            headers={"x-provider": "nope"},
            json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 400 and "nope" in r.json()["error"]["message"]


# ---- bad input: Anthropic-shaped errors, the server keeps serving ---------------

BAD = [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b"", 400, "empty"),
    (b'{"messages": []}', 400, "model"),
    (b'{"model": "m", "messages": "hi"}', 400, "messages"),
    (b'{"model": "m", "messages": [], "max_tokens": "10"}', 400, "max_tokens"),
    (b'{"model": "m", "messages": [], "stream": "yes"}', 400, "stream"),
    (b'{"model": "m", "messages": []}', 400, "max_tokens: Field required"),
    (b'{"model": "m", "messages": [], "max_tokens": 0}', 400, "max_tokens"),
    (b'{"model": "unknown-model", "messages": [], "max_tokens": 5}', 404, "unknown-model"),
    (
        b'{"model": "m", "max_tokens": 5, "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        400,
        "nested too deeply",
    ),
    (b"\xff\xfe\x00bad utf8", 400, "JSON"),
]


@pytest.mark.parametrize(("raw", "code", "needle"), BAD)
def test_bad_input_gets_anthropic_error(ccm, raw: bytes, code: int, needle: str) -> None:
    with httpx.Client(base_url=ccm.base_url) as c:
        r = c.post("/v1/messages", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == code
        err = r.json()
        assert err["type"] == "error" and needle in err["error"]["message"]
        assert c.get("/health").status_code == 200


def test_unknown_path_and_method_are_anthropic_shaped(ccm) -> None:
    with httpx.Client(base_url=ccm.base_url) as c:
        r = c.get("/v1/nothing")
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
        r = c.get("/v1/messages")
        assert r.status_code == 405 and r.json()["type"] == "error"


def test_unsigned_thinking_from_other_providers_is_dropped_for_anthropic_only(
    ccm, up: FakeUpstream
) -> None:
    """Thinking ccm made from an OpenAI/Gemini provider's reasoning has no signature; Anthropic's
    API refuses such blocks, so earlier turns lose them (the last assistant turn is kept)."""
    up.default = reply_text("ok")
    history = [
        {"role": "user", "content": "first"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "from gpt", "signature": ""},
                {"type": "text", "text": "a1"},
            ],
        },
        {"role": "user", "content": "second"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "signed", "signature": "sig-1"},
                {"type": "text", "text": "a2"},
            ],
        },
        {"role": "user", "content": "third"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "last", "signature": ""},
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]},
    ]
    with httpx.Client(base_url=ccm.base_url, timeout=20) as c:
        r = c.post("/v1/messages", json={"model": "m", "max_tokens": 5, "messages": history})
        assert r.status_code == 200
    sent = up.requests[-1].json["messages"]
    assert sent[1]["content"] == [{"type": "text", "text": "a1"}]  # unsigned, earlier: dropped
    assert sent[3]["content"][0]["signature"] == "sig-1"  # signed: kept
    assert sent[5]["content"][0] == {
        "type": "thinking",
        "thinking": "last",
        "signature": "",
    }  # last turn: as it was


def test_other_anthropic_compatible_types_get_history_untouched() -> None:
    import json as _json

    from ccm.dialects.anthropic import request_bytes

    body = {
        "model": "x",
        "messages": [
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": ""},
                    {"type": "text", "text": "a"},
                ],
            },
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "last"},
        ],
    }
    kept = _json.loads(request_bytes(body, "glm-4.6"))
    assert kept["messages"] == body["messages"]
    dropped = _json.loads(request_bytes(body, "claude-x", signed_thinking_only=True))
    assert dropped["messages"][0]["content"] == [{"type": "text", "text": "a"}]
    assert (
        body["messages"][0]["content"][0]["type"] == "thinking"
    )  # the client's body is not mutated
