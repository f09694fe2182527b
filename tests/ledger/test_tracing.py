"""OpenTelemetry spans (the `otel` extra), checked with the SDK's in-memory exporter."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from ccm.ledger import tracing
from tests.fakes.upstream import FakeUpstream, reply_text, status
from tests.proxy_setup import proxied

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_one_span_per_request_and_one_child_per_attempt(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with FakeUpstream("anthropic") as bad, FakeUpstream("openai") as good:
        bad.default = status(503)
        good.default = reply_text("hi", usage={"input_tokens": 12, "output_tokens": 9})
        chain = (("first", bad, "claude-up"), ("second", good, "gpt-up"))
        with proxied(tmp_path, *chain, server="retries = 0") as ccm:
            ccm.state.ledger.tracing = tracing.Tracing(provider)
            body = {
                "model": "claude-client",
                "max_tokens": 10,
                "stream": True,
                "metadata": {"user_id": json.dumps({"session_id": "sess-1"})},
                "messages": [{"role": "user", "content": "hi"}],
            }
            r = httpx.post(
                f"{ccm.base_url}/v1/messages",
                json=body,
                headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
                timeout=10,
            )
            assert r.status_code == 200
            assert ccm.state.ledger.flush()
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind == SpanKind.SERVER]
    clients = sorted((s for s in spans if s.kind == SpanKind.CLIENT), key=lambda s: s.start_time)
    assert len(server) == 1 and len(clients) == 2
    root = server[0]
    assert root.name == "chat claude-client"
    assert format(root.context.trace_id, "032x") == TRACE_ID  # the client's traceparent
    a = root.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "claude-client"
    assert a["gen_ai.response.model"] == "gpt-up"
    assert a["gen_ai.system"] == "openai"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (12, 9)
    assert a["gen_ai.conversation.id"] == "sess-1"
    assert root.start_time <= clients[0].start_time and clients[-1].end_time <= root.end_time
    first, second = clients
    assert first.parent.span_id == root.context.span_id
    assert first.attributes["gen_ai.system"] == "anthropic"
    assert first.attributes["http.response.status_code"] == 503
    assert first.status.status_code == StatusCode.ERROR
    assert second.attributes["gen_ai.request.model"] == "gpt-up"
    assert second.status.status_code != StatusCode.ERROR


def test_from_env_is_off_unless_the_otel_variables_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(var, raising=False)
    assert tracing.from_env() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    made = tracing.from_env()
    assert made is not None
    made.shutdown()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.from_env() is None
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.from_env() is None


def test_nothing_of_opentelemetry_is_imported_without_export_settings(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "config.toml"
    cfg.write_text("")
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from ccm.config.load import load_config\nfrom ccm.runtime import State, build_runtime\n"
        "p = Path(sys.argv[1]); State(p, build_runtime(load_config(p)))\n"
        "print('OTEL', [m for m in sys.modules if m.startswith('opentelemetry')])"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code, str(cfg)], capture_output=True, text=True, env=env, timeout=60
    )
    assert "OTEL []" in done.stdout, done.stdout + done.stderr
