"""A fast fake upstream for benchmarks: raw asyncio HTTP/1.1 (keep-alive), canned answers in
the Anthropic and OpenAI dialects, stream and non-stream. It must cost far less than the proxy
it measures, so it parses only what it needs.

    python benchmarks/fast_upstream.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

TEXT = "Hello! This is a benchmark answer of a few words."

ANTHROPIC_MSG = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "bench-model",
        "content": [{"type": "text", "text": TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 12},
    }
).encode()

OPENAI_MSG = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": TEXT}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22},
    }
).encode()


def _anthropic_stream() -> bytes:
    def ev(name: str, data: dict) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    out = ev(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "model": "bench-model",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 1},
            },
        },
    )
    out += ev(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    for word in TEXT.split(" "):
        out += ev(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": word + " "},
            },
        )
    out += ev("content_block_stop", {"type": "content_block_stop", "index": 0})
    out += ev(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 12},
        },
    )
    out += ev("message_stop", {"type": "message_stop"})
    return out


def _openai_stream() -> bytes:
    out = b""
    for i, word in enumerate(TEXT.split(" ")):
        delta = {"role": "assistant", "content": word + " "} if i == 0 else {"content": word + " "}
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "bench-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
        out += b"data: " + json.dumps(chunk).encode() + b"\n\n"
    end = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "bench-model",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    usage = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "bench-model",
        "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22},
    }
    out += (
        b"data: "
        + json.dumps(end).encode()
        + b"\n\ndata: "
        + json.dumps(usage).encode()
        + b"\n\ndata: [DONE]\n\n"
    )
    return out


def _response(body: bytes, ctype: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: "
        + ctype
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


ANSWERS = {
    (b"/v1/messages", False): _response(ANTHROPIC_MSG, b"application/json"),
    (b"/v1/messages", True): _response(_anthropic_stream(), b"text/event-stream"),
    (b"/v1/chat/completions", False): _response(OPENAI_MSG, b"application/json"),
    (b"/v1/chat/completions", True): _response(_openai_stream(), b"text/event-stream"),
}
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            line_end = head.index(b"\r\n")
            _method, path, _ = head[:line_end].split(b" ", 2)
            length = 0
            lower = head.lower()
            i = lower.find(b"content-length:")
            if i >= 0:
                length = int(lower[i + 15 : lower.index(b"\r\n", i)].strip())
            body = await reader.readexactly(length) if length else b""
            stream = b'"stream":true' in body or b'"stream": true' in body
            writer.write(ANSWERS.get((path.split(b"?")[0], stream), NOT_FOUND))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1])))
