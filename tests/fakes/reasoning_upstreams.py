"""Strict fakes of reasoning models in an agentic tool loop: they refuse a conversation that
lost the reasoning they issued, as the real services do.

* :class:`FakeThinkingChat`: an OpenAI-dialect thinking model (DeepSeek thinking mode, Kimi K2
  thinking, GLM with preserved thinking). Its tool calls come with ``reasoning_content``; an
  assistant tool-call message sent back without that field gets DeepSeek's
  ``400 Missing reasoning_content field in the assistant message at message index N``, and
  one whose reasoning is not what was issued for those calls gets a 400 as well.
* :class:`FakeGemini3`: a Gemini 3 model. Each functionCall it makes carries a
  ``thoughtSignature``; a ``functionCall`` part it issued that comes back without that exact
  signature gets Gemini's ``400 INVALID_ARGUMENT`` ("Function call is missing a
  thought_signature ...").

Both behave like a model in a Claude Code tool loop (see ``tool_use_loop_script`` in the other
fakes): a Bash call first, then ``done: <tool output>`` once a tool result comes back; requests
that offer no Bash tool (title calls) get plain text.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakes import gemini_upstream as gem
from tests.fakes.upstream import (
    FakeUpstream,
    Recorded,
    Step,
    _offers_tool,
    _render_reply,
    _Reply,
    dynamic,
    last_tool_result,
    reply_text,
    status,
)

_ids = itertools.count(1)


@dataclass
class _ThinkingToolCall(Step):
    """reasoning_content + one Bash tool call, in the OpenAI dialect."""

    issued: dict[str, str] = field(default_factory=dict)
    command: str = "true"

    def render(self, req: Recorded, dialect: str) -> Any:
        n = next(_ids)
        call_id = f"functions.Bash:{n}"  # Kimi's id form: not Anthropic's charset
        reasoning = f"I should run {self.command} (step {n})."
        self.issued[call_id] = reasoning
        blocks = [
            {"type": "thinking", "thinking": reasoning, "signature": ""},
            {
                "type": "tool_use",
                "id": call_id,
                "name": "Bash",
                "input": {"command": self.command, "description": "run"},
            },
        ]
        return _render_reply(dialect, req, _Reply(blocks, "tool_use"))


class FakeThinkingChat(FakeUpstream):
    """See the module docstring. ``issued``: tool-call id -> the reasoning that came with it;
    ``refusals``: the messages of the 400s it gave."""

    def __init__(self, command: str = "echo hello-from-tool") -> None:
        super().__init__("openai")
        self.issued: dict[str, str] = {}
        self.refusals: list[str] = []

        def choose(req: Recorded) -> Step:
            result = last_tool_result(req.json)
            if result is not None:
                return reply_text("done: " + result)
            if not _offers_tool(req.json, "Bash"):
                return reply_text("ok")
            return _ThinkingToolCall(self.issued, command)

        self.default = dynamic(choose)

    def violation(self, body: Any) -> str | None:
        messages = body.get("messages") if isinstance(body, dict) else None
        for i, m in enumerate(messages or []):
            if not isinstance(m, dict) or m.get("role") != "assistant" or not m.get("tool_calls"):
                continue
            if "reasoning_content" not in m:
                return (
                    f"Missing reasoning_content field in the assistant message at message index {i}"
                )
            for call in m["tool_calls"]:
                issued = self.issued.get(call.get("id"))
                if issued is not None and issued not in (m["reasoning_content"] or ""):
                    return f"The reasoning_content of message index {i} is not the one returned"
        return None

    def _pick_step(self, req: Recorded) -> Step | None:
        if req.method == "POST" and req.url_path == self.generation_path:
            problem = self.violation(req.json)
            if problem is not None:
                self.refusals.append(problem)
                error = {"message": problem, "type": "invalid_request_error", "param": None}
                return status(400, body={"error": {**error, "code": "invalid_request_error"}})
        return super()._pick_step(req)


class FakeGemini3(gem.FakeGemini):
    """See the module docstring. ``issued``: (function name, args JSON) -> thoughtSignature;
    ``refusals``: the messages of the 400s it gave."""

    def __init__(self, command: str = "echo hello-from-tool", **kw: Any) -> None:
        super().__init__(**kw)
        self.issued: dict[tuple[str, str], str] = {}
        self.refusals: list[str] = []

        def choose(req: Recorded) -> Step:
            result = gem.last_function_response(req.json)
            if result is not None:
                return gem.reply_text("done: " + result)
            if not gem._declares(req.json, "Bash"):
                return gem.reply_text("ok")
            n = next(_ids)
            args = {"command": command, "description": f"run {n}"}
            signature = f"c2lnLWdlbWluaS0z{n:04d}"  # opaque base64, unique per call
            self.issued[("Bash", json.dumps(args, sort_keys=True))] = signature
            thought = {"text": f"Running {command}.", "thought": True}
            call = {"functionCall": {"name": "Bash", "args": args}, "thoughtSignature": signature}
            return gem.reply_parts([thought, call])

        self.default = dynamic(choose)

    def violation(self, body: Any) -> str | None:
        contents = body.get("contents") if isinstance(body, dict) else None
        for position, content in enumerate(contents or []):
            if not isinstance(content, dict) or content.get("role") != "model":
                continue
            for part in content.get("parts") or []:
                call = part.get("functionCall") if isinstance(part, dict) else None
                if not isinstance(call, dict):
                    continue
                key = (call.get("name"), json.dumps(call.get("args"), sort_keys=True))
                issued = self.issued.get(key)  # type: ignore[arg-type]
                if issued is not None and part.get("thoughtSignature") != issued:
                    return (
                        "Function call is missing a thought_signature in functionCall parts. "
                        "This is required for tools to work correctly, and missing "
                        "thought_signature may lead to degraded model performance. Additional "
                        f"data, function call `default_api:{key[0]}` , position {position}."
                    )
        return None

    def _pick_step(self, req: Recorded) -> Step | None:
        step = super()._pick_step(req)
        if step is not None and req.method == "POST" and isinstance(req.json, dict):
            problem = self.violation(req.json)
            if problem is not None:
                self.refusals.append(problem)
                return gem.status(400, gem.error_body(400, problem))
        return step
