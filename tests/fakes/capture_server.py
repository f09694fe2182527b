"""A tiny fake Anthropic API that records every request it receives.

Used to capture what a real client (e.g. the Claude Code CLI) sends on the
wire, and as a scripted upstream in tests.  Standard library only; binds to
127.0.0.1 only.

Behaviour:

* Every request (any method) is logged as one JSON file in ``log_dir``:
  ``0001-POST-v1_messages.json`` with method, path (incl. query), headers,
  parsed JSON body (or raw text) and body size in bytes.
* ``POST /v1/messages`` answers like the Anthropic API: SSE when the body has
  ``"stream": true``, a plain JSON message otherwise.
* ``POST /v1/messages/count_tokens`` answers ``{"input_tokens": 100}``.
* ``GET /v1/models`` answers a small model list.
* Anything else answers 404 with an Anthropic-style error body.

Scenarios (``scenario=``):

* ``"text"`` (default): every message request gets a short text reply.
  In every scenario a request asking for structured output
  (``output_config.format`` of type ``json_schema``) gets a JSON text that
  fits the schema, e.g. ``{"title": "Capture server reply"}``.
* ``"tool"``: a request that offers a ``Bash`` tool and carries no
  ``tool_result`` yet gets a ``tool_use`` block calling ``Bash`` with
  ``{"command": "echo hello-from-tool", "description": "echo"}``
  (stop_reason ``tool_use``); a request whose messages contain a
  ``tool_result`` gets the text ``"done"``.  Requests without a Bash tool
  (background/title calls) get the plain text reply.
* ``"agent"``: the main turn (a request offering the ``Agent`` tool, no
  ``tool_result`` yet, not itself a subagent's) gets an ``Agent`` tool call
  that starts a general-purpose subagent; the subagent's own requests
  (they carry ``x-claude-code-agent-id``) get a text reply; the main turn
  with the agent's result gets ``"done"``.  Used to capture subagent traffic.

Programmatic use::

    port, stop = start_capture_server("/tmp/captures", scenario="tool")
    ...
    stop()

Command line::

    python tests/fakes/capture_server.py --log-dir /tmp/captures --scenario tool
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import re
import sys
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TOOL_COMMAND = {"command": "echo hello-from-tool", "description": "echo"}
DEFAULT_TEXT = "Hello from the capture server."
TOOL_RESULT_TEXT = "done"

MODELS = [
    {"id": "claude-opus-4-1-20250805", "display_name": "Claude Opus 4.1"},
    {"id": "claude-sonnet-4-5-20250929", "display_name": "Claude Sonnet 4.5"},
    {"id": "claude-haiku-4-5-20251001", "display_name": "Claude Haiku 4.5"},
]


# --------------------------------------------------------------------------
# Response planning (pure functions, easy to test)
# --------------------------------------------------------------------------


def _has_tool_result(body: dict[str, Any]) -> bool:
    for msg in body.get("messages") or []:
        content = msg.get("content")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    return True
    return False


def _offers_tool(body: dict[str, Any], name: str) -> bool:
    return any(isinstance(t, dict) and t.get("name") == name for t in body.get("tools") or [])


def example_for_schema(schema: Any) -> Any:
    """A small value that satisfies a (simple) JSON schema."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return example_for_schema(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0] if kind else None
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {k: example_for_schema(props.get(k, {})) for k in required}
    if kind == "array":
        return []
    if kind == "string":
        return "Capture server reply"
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return None


AGENT_CALL = {
    "description": "Say hello",
    "prompt": "Reply with the single word hello. Do not use any tools.",
    "subagent_type": "general-purpose",
}


def plan_reply(
    body: dict[str, Any], scenario: str, text: str = DEFAULT_TEXT, *, subagent: bool = False
) -> dict[str, Any]:
    """Decide what a /v1/messages request gets: content blocks + stop_reason."""
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        # structured-output requests (e.g. Claude Code's session-title call)
        value = example_for_schema(fmt.get("schema"))
        return {"content": [{"type": "text", "text": json.dumps(value)}], "stop_reason": "end_turn"}
    # the tool loop of the scenario: the main agent calls Agent (a subagent answers in text),
    # or Bash; a tool's result ends the loop
    loop = {"agent": ("Agent", AGENT_CALL), "tool": ("Bash", TOOL_COMMAND)}.get(scenario)
    if loop is not None and not (scenario == "agent" and subagent):
        name, call = loop
        if _has_tool_result(body):
            return {
                "content": [{"type": "text", "text": TOOL_RESULT_TEXT}],
                "stop_reason": "end_turn",
            }
        if _offers_tool(body, name):
            block = {"type": "tool_use", "id": "toolu_" + _rand_id(), "name": name}
            return {"content": [{**block, "input": dict(call)}], "stop_reason": "tool_use"}
    return {"content": [{"type": "text", "text": text}], "stop_reason": "end_turn"}


_id_counter = itertools.count(1)


def _rand_id() -> str:
    return f"{int(time.time() * 1000):x}{next(_id_counter):06x}"


def _usage(output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": 100,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }


def build_message(body: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_" + _rand_id(),
        "type": "message",
        "role": "assistant",
        "model": body.get("model") or "claude-sonnet-4-5-20250929",
        "content": plan["content"],
        "stop_reason": plan["stop_reason"],
        "stop_sequence": None,
        "usage": _usage(10),
    }


def sse_events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Turn a full message into the Anthropic streaming event sequence."""
    start = dict(message, content=[], stop_reason=None, stop_sequence=None, usage=_usage(1))
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            text = block["text"]
            # two deltas when possible, to exercise accumulation in clients
            parts = [text[: len(text) // 2], text[len(text) // 2 :]] if len(text) > 1 else [text]
            for part in parts:
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": part},
                        },
                    )
                )
        elif block["type"] == "tool_use":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
            )
            raw = json.dumps(block["input"])
            cut = len(raw) // 2
            for part in (raw[:cut], raw[cut:]):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": part},
                        },
                    )
                )
        else:  # pragma: no cover - only text/tool_use are produced
            raise ValueError(block["type"])
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def encode_sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
        for name, data in events
    )


# --------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------


class CaptureHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, log_dir: Path, scenario: str = "text", text: str = DEFAULT_TEXT, port: int = 0
    ) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.scenario = scenario
        self.text = text
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self.records: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", port), CaptureHandler)

    def record(self, rec: dict[str, Any]) -> None:
        with self._lock:
            seq = next(self._seq)
            rec = {"seq": seq, **rec}
            self.records.append(rec)
            slug = re.sub(r"[^A-Za-z0-9]+", "_", urlsplit(rec["path"]).path).strip("_") or "root"
            name = f"{seq:04d}-{rec['method']}-{slug}.json"
            (self.log_dir / name).write_text(json.dumps(rec, indent=2, ensure_ascii=False) + "\n")


class CaptureHandler(BaseHTTPRequestHandler):
    server: CaptureHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write("capture: " + (format % args) + "\n")

    # -- request reading ---------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            raw = b"".join(chunks)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        enc = self.headers.get("Content-Encoding", "").lower()
        if enc == "gzip":
            raw = gzip.decompress(raw)
        elif enc == "deflate":
            raw = zlib.decompress(raw)
        return raw

    def _capture(self) -> Any:
        raw = self._read_body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        self.server.record(
            {
                "time": time.time(),
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_bytes": len(raw),
                "body": body,
            }
        )
        return body

    # -- responses ---------------------------------------------------------

    def _send_json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", "req_" + _rand_id())
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _not_found(self) -> None:
        self._send_json(
            404,
            {
                "type": "error",
                "error": {
                    "type": "not_found_error",
                    "message": f"{self.command} {self.path} not found",
                },
            },
        )

    def _route(self) -> None:
        body = self._capture()
        path = urlsplit(self.path).path.rstrip("/")
        if self.command == "POST" and path == "/v1/messages":
            if not isinstance(body, dict):
                self._send_json(
                    400,
                    {
                        "type": "error",
                        "error": {
                            "type": "invalid_request_error",
                            "message": "body must be a JSON object",
                        },
                    },
                )
                return
            subagent = bool(self.headers.get("x-claude-code-agent-id"))
            message = build_message(
                body, plan_reply(body, self.server.scenario, self.server.text, subagent=subagent)
            )
            if body.get("stream"):
                data = encode_sse(sse_events(message))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", "req_" + _rand_id())
                self.end_headers()
                self.wfile.write(data)
            else:
                self._send_json(200, message)
        elif self.command == "POST" and path == "/v1/messages/count_tokens":
            self._send_json(200, {"input_tokens": 100})
        elif self.command == "GET" and path == "/v1/models":
            data = [{"type": "model", "created_at": "2025-01-01T00:00:00Z", **m} for m in MODELS]
            self._send_json(
                200,
                {
                    "data": data,
                    "has_more": False,
                    "first_id": data[0]["id"],
                    "last_id": data[-1]["id"],
                },
            )
        else:
            self._not_found()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _route


def start_capture_server(
    log_dir: str | Path, scenario: str = "text", text: str = DEFAULT_TEXT, port: int = 0
) -> tuple[int, Callable[[], None]]:
    """Start the server in a daemon thread; return (port, stop)."""
    server = CaptureHTTPServer(Path(log_dir), scenario=scenario, text=text, port=port)
    thread = threading.Thread(target=server.serve_forever, name="capture-server", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    stop.server = server  # type: ignore[attr-defined]  # access to .records in tests
    return server.server_address[1], stop


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--port", type=int, default=0, help="0 = ephemeral (default)")
    ap.add_argument("--scenario", choices=["text", "tool", "agent"], default="text")
    ap.add_argument("--text", default=DEFAULT_TEXT)
    ap.add_argument("--port-file", help="write the bound port here once listening")
    args = ap.parse_args(argv)
    server = CaptureHTTPServer(
        Path(args.log_dir), scenario=args.scenario, text=args.text, port=args.port
    )
    port = server.server_address[1]
    if args.port_file:
        Path(args.port_file).write_text(f"{port}\n")
    print(f"capture server on http://127.0.0.1:{port} logging to {args.log_dir}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
