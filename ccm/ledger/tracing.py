"""OpenTelemetry spans, with the optional extra `otel` (pip install 'ccm[otel]').

One SERVER span per request, `chat {requested model}`, following the GenAI semantic conventions
(gen_ai.operation.name, gen_ai.system and gen_ai.provider.name, gen_ai.request.model,
gen_ai.response.model, gen_ai.usage.input_tokens / output_tokens), with one CLIENT child span
per upstream attempt. A `traceparent` header from the client becomes the parent.

Spans are made on the ledger's writer thread when the request has ended, with the request's
real start and end times; attempts are laid end to end from the request's start with their
measured durations (waits between retry passes are not shown). Nothing runs on the request
path, and without the extra or without OTEL_* export settings `from_env()` returns None.

Export: OTLP (http/protobuf) when OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, or OTEL_TRACES_EXPORTER=otlp; "console" prints spans;
OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turns it off. The exporter reads the other
standard variables (headers, timeout, protocol details) itself.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("ccm.ledger")

# ccm provider_type -> gen_ai.system / gen_ai.provider.name well-known values
GEN_AI_SYSTEM = {
    "anthropic": "anthropic",
    "openai": "openai",
    "openai-responses": "openai",
    "gemini": "gcp.gemini",
    "vertex-ai": "gcp.vertex_ai",
    "deepseek": "deepseek",
    "groq": "groq",
    "moonshot": "moonshot",
    "kimi-coding": "moonshot",
    "z.ai": "zhipu",
    "minimax": "minimax",
    "openrouter": "openrouter",
}


def _wanted() -> str | None:
    """The exporter the OTEL_* variables ask for, or None."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen == "none":
        return None
    if chosen in ("otlp", "console"):
        return chosen
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        return "otlp"
    return None


class Tracing:
    def __init__(self, provider: Any) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self.tracer = provider.get_tracer("ccm")
        self._kind = SpanKind
        self._status = Status
        self._code = StatusCode
        self._propagator = TraceContextTextMapPropagator()

    def export(self, row: dict[str, Any], attempts: list[Any], types: dict[str, str]) -> None:
        """Spans for one finished request (called on the writer thread)."""
        from opentelemetry import trace

        start = int(row["ts"] * 1e9)
        end = start + int((row["total_ms"] or 0) * 1e6)
        parent = None
        if row.get("traceparent"):
            parent = self._propagator.extract({"traceparent": row["traceparent"]})
        requested = row["requested_model"] or ""
        provider = row["provider"]
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": requested,
            "ccm.rule": row["rule"] or "",
            "ccm.model": row["model"] or "",
            "ccm.request_id": row["request_id"],
            "http.response.status_code": row["status"],
        }
        if provider:
            system = GEN_AI_SYSTEM.get(types.get(provider, ""), types.get(provider, provider))
            attrs["gen_ai.system"] = system
            attrs["gen_ai.provider.name"] = system
            attrs["ccm.provider"] = provider
        if row["actual_model"]:
            attrs["gen_ai.response.model"] = row["actual_model"]
        for key, column in (
            ("gen_ai.usage.input_tokens", "input_tokens"),
            ("gen_ai.usage.output_tokens", "output_tokens"),
            ("gen_ai.usage.cache_read.input_tokens", "cache_read_input_tokens"),
            ("gen_ai.usage.cache_creation.input_tokens", "cache_creation_input_tokens"),
        ):
            if row[column] is not None:
                attrs[key] = row[column]
        if row["session_id"]:
            attrs["gen_ai.conversation.id"] = row["session_id"]
        if row["cost_usd"] is not None:
            attrs["ccm.cost_usd"] = row["cost_usd"]
        if row["error_type"]:
            attrs["error.type"] = row["error_type"]
        span = self.tracer.start_span(
            f"chat {requested}",
            context=parent,
            kind=self._kind.SERVER,
            attributes=attrs,
            start_time=start,
        )
        if row["status"] >= 400 or row["error_type"]:
            span.set_status(self._status(self._code.ERROR, row["error_type"] or str(row["status"])))
        ctx = trace.set_span_in_context(span)
        cursor = start
        for a in attempts:
            ms = int(a.ms * 1e6)
            system = GEN_AI_SYSTEM.get(types.get(a.provider, ""), types.get(a.provider, a.provider))
            child_attrs: dict[str, Any] = {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": system,
                "gen_ai.provider.name": system,
                "gen_ai.request.model": a.actual_model,
                "ccm.provider": a.provider,
                "ccm.attempt.reason": a.reason,
            }
            if a.status is not None:
                child_attrs["http.response.status_code"] = a.status
            child = self.tracer.start_span(
                f"chat {a.actual_model}",
                context=ctx,
                kind=self._kind.CLIENT,
                attributes=child_attrs,
                start_time=cursor,
            )
            if a.reason != "ok":
                from ccm.ledger.metrics import attempt_result

                child.set_attribute("error.type", attempt_result(a))
                child.set_status(self._status(self._code.ERROR, a.reason[:200]))
            cursor += ms
            child.end(end_time=min(cursor, max(end, cursor)))
        span.end(end_time=max(end, cursor))

    def shutdown(self) -> None:
        try:
            self.provider.shutdown()
        except Exception:  # exporter errors at exit must not stop ccm stopping
            log.debug("tracing shutdown failed", exc_info=True)


def from_env() -> Tracing | None:
    """A Tracing exporting as the OTEL_* variables say; None when they say nothing, or when the
    `otel` extra is not installed (then nothing of OpenTelemetry is imported)."""
    wanted = _wanted()
    if wanted is None:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        log.warning(
            "OTEL_* variables ask for traces but the otel extra is not installed "
            "(pip install 'ccm[otel]'); no traces"
        )
        return None
    resource = Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME") or "ccm"}
    )  # OTEL_RESOURCE_ATTRIBUTES are merged by Resource.create
    provider = TracerProvider(resource=resource)
    if wanted == "console":
        exporter: Any = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("the OTLP exporter is not installed (pip install 'ccm[otel]'); no traces")
            return None
        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider)
