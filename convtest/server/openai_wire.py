"""The reference agent's answers as OpenAI chat completions: a chunk stream, or one JSON answer.

One model call answers one :class:`Turn`: the tool calls of one step of the scripted reply
(finish reason ``tool_calls``), or its text. Like :mod:`convtest.server.wire` everything is
rendered up front into frames (bytes to send, or seconds to sleep); faults strike at the first
text delta, where a model fails, so a tool round before it goes out whole.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from convtest.server.agent import ToolCall
from convtest.server.faults import Faults
from convtest.server.wire import Frame, split_input, split_text

__all__ = ["ERROR_MESSAGE", "Answer", "count_tokens", "render_completion", "render_completion_stream"]

#: the ``created`` of every answer: the reference agent's answers do not depend on the clock
CREATED = 1_767_225_600
ERROR_MESSAGE = "Simulated model failure"
_DONE = b"data: [DONE]\n\n"
_KEEP_ALIVE = b": keep-alive\n\n"
#: words per content delta, cycled, so every answer streams as several uneven chunks
_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class Answer:
    """One model call's answer: tool calls (with their ids) or text, and what it cost."""

    id: str
    model: str
    text: str | None = None
    #: sent as ``reasoning_content``, as DeepSeek, vLLM and others stream a model's thinking
    reasoning: str | None = None
    calls: tuple[tuple[str, ToolCall], ...] = ()
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    include_usage: bool = True

    @property
    def usage(self) -> dict[str, int]:
        completion = count_tokens((self.reasoning or "") + " " + (self.text or "")) + sum(
            count_tokens(_json(c.input)) for _, c in self.calls
        )
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: words and punctuation marks. Deterministic, so usage can be checked."""
    return len(_TOKEN.findall(text))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + _json(payload).encode() + b"\n\n"


# --- a chunk stream ------------------------------------------------------------------------------


def render_completion_stream(
    answer: Answer, *, faults: Faults, first_delay: float, token_delay: float
) -> list[Frame]:
    """The whole stream as frames, then cut, broken or extended by the faults at its first text."""
    head = {"id": answer.id, "object": "chat.completion.chunk", "created": CREATED, "model": answer.model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _event({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    frames: list[Frame] = [chunk({"role": "assistant", "content": ""})]
    if answer.reasoning:
        frames += [chunk({"reasoning_content": piece}) for piece in split_text(answer.reasoning)]
    for index, (call_id, call) in enumerate(answer.calls):
        opening = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        frames.append(chunk({"tool_calls": [opening]}))
        frames += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in split_input(_json(call.input))
        ]
    ending: list[Frame] = [chunk({}, answer.finish_reason)]
    if answer.include_usage:
        ending.append(_event({**head, "choices": [], "usage": answer.usage}))
    if answer.text is None:
        return _coalesce([*frames, *ending, _DONE])
    deltas = [chunk({"content": piece}) for piece in split_text(answer.text)]
    delay = first_delay + faults.first_token_delay
    if delay:
        frames.append(delay)
    frames.append(deltas[0])
    if faults.cut:
        return _coalesce(frames)
    if faults.malformed:
        frames.append(b'data: {"id":"' + answer.id.encode() + b'","choices":[{"delta":{"content":"oops\n\n')
    if faults.stall:
        frames.append(faults.stall)
    if faults.error_chunk:
        frames.append(_event({"error": {"message": ERROR_MESSAGE, "type": "server_error", "code": None}}))
    else:
        for delta in deltas[1:]:
            if token_delay:
                frames.append(token_delay)
            frames.append(delta)
        frames += ending
    if faults.done and not faults.hold_open:
        frames.append(_DONE)
    if faults.keep_alive:
        frames = [part for frame in frames for part in (_KEEP_ALIVE, frame)][1:]
    return _coalesce(frames)


def _coalesce(frames: list[Frame]) -> list[Frame]:
    """Events with no sleep between them go out in one write."""
    out: list[Frame] = []
    for frame in frames:
        if isinstance(frame, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += frame
        else:
            out.append(frame)
    return out


# --- one JSON answer -----------------------------------------------------------------------------


def render_completion(answer: Answer, *, faults: Faults) -> list[Frame]:
    """The ``chat.completion`` document as one write; ``cut``, ``malformed`` and ``hold-open``
    end it halfway, ``stall`` pauses there (an error answer is the caller's: it has a status)."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    if answer.calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": _json(call.input)},
            }
            for call_id, call in answer.calls
        ]
    document = {
        "id": answer.id,
        "object": "chat.completion",
        "created": CREATED,
        "model": answer.model,
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
        "usage": answer.usage,
    }
    body = _json(document).encode()
    if answer.text is None:
        return [body]
    head, tail = body[: len(body) // 2], body[len(body) // 2 :]
    if faults.cut or faults.malformed or faults.hold_open:
        return [head]
    if faults.stall:
        return [head, faults.stall, tail]
    return [body]
