"""The reference agent's answers on the wire: a UI message stream, or one JSON answer.

Each response is rendered up front into a list of frames (bytes to send, or seconds to sleep), so
the streaming loop itself only waits and writes: hundreds of concurrent streams stay cheap. Events
with no sleep between them go out in one write; every artificial delay is a real pause between
writes. Faults cut, pause or extend the rendering at the first text delta, where a model fails.
"""

from __future__ import annotations

import itertools
import json
import re
from functools import lru_cache
from typing import Any

from convtest.server.agent import Citation, Reply, ToolCall
from convtest.server.faults import Faults

__all__ = [
    "NON_SSE_PAGE",
    "SSE_HEADERS",
    "Frame",
    "render_answer",
    "render_stream",
    "split_input",
    "split_text",
]

#: what the Vercel AI SDK sends with a UI message stream (content type is set by the response)
SSE_HEADERS = {"cache-control": "no-cache", "x-vercel-ai-ui-message-stream": "v1", "x-accel-buffering": "no"}
#: words per text-delta, cycled, so every reply streams as several uneven chunks
_DELTA_WORDS = (2, 3, 4)

Frame = bytes | float


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + _json(payload).encode() + b"\n\n"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_DONE = b"data: [DONE]\n\n"
_KEEP_ALIVE = b": keep-alive\n\n"
_START_STEP = _event({"type": "start-step"})
_FINISH_STEP = _event({"type": "finish-step"})
_TEXT_START = _event({"type": "text-start", "id": "0"})
_TEXT_END = _event({"type": "text-end", "id": "0"})
_REASONING_START = _event({"type": "reasoning-start", "id": "0"})
_REASONING_END = _event({"type": "reasoning-end", "id": "0"})
_ABORT = _event({"type": "abort", "reason": "Simulated abort"})
_MALFORMED = b'data: {"type":"text-delta","id":"0","delta":"oops\n\n'
_ERROR_CHUNK = _event({"type": "error", "errorText": "Simulated model failure"})
_UNKNOWN_EVENTS = [
    _event({"type": "data-custom-thing", "data": {"x": 1}}),
    _event({"type": "brand-new-chunk", "foo": "bar"}),
]
NON_SSE_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    "<body><h1>Please sign in to continue</h1></body></html>\n"
)


@lru_cache(maxsize=512)
def _deltas(kind: str, text: str) -> tuple[bytes, ...]:
    """The text-delta (or reasoning-delta) events of a text, cached: the agent repeats itself."""
    return tuple(_event({"type": kind, "id": "0", "delta": piece}) for piece in split_text(text))


def split_text(text: str) -> list[str]:
    """Cut a text into chunks of 2-4 words (leading spaces kept) that join back to it exactly."""
    words = re.findall(r"\s*\S+", text)
    if len(words) < 2:
        half = len(text) // 2
        return [text[:half], text[half:]] if half else [text]
    words[-1] += text[len("".join(words)) :]
    chunks: list[str] = []
    start = 0
    for size in itertools.cycle(_DELTA_WORDS):
        if start >= len(words):
            return chunks
        chunks.append("".join(words[start : start + size]))
        start += size
    raise AssertionError("unreachable")  # pragma: no cover


def split_input(text: str) -> list[str]:
    """Cut a tool input's JSON text into three pieces, as a model streams its arguments."""
    cuts = [0, len(text) // 3, 2 * len(text) // 3, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def _tool_frames(call: ToolCall, call_id: str) -> list[Frame]:
    frames: list[Frame] = [_event({"type": "tool-input-start", "toolCallId": call_id, "toolName": call.name})]
    frames += [
        _event({"type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": piece})
        for piece in split_input(_json(call.input))
    ]
    frames.append(
        _event(
            {
                "type": "tool-input-available",
                "toolCallId": call_id,
                "toolName": call.name,
                "input": call.input,
            }
        )
    )
    # The real SDK sends no toolName with the output: clients must find it by toolCallId.
    if call.error is not None:
        frames.append(_event({"type": "tool-output-error", "toolCallId": call_id, "errorText": call.error}))
    else:
        frames.append(_event({"type": "tool-output-available", "toolCallId": call_id, "output": call.output}))
    return frames


def _text_frames(text: str, token_delay: float) -> list[Frame]:
    frames: list[Frame] = [_TEXT_START]
    for index, delta in enumerate(_deltas("text-delta", text)):
        if index and token_delay:
            frames.append(token_delay)
        frames.append(delta)
    frames.append(_TEXT_END)
    return frames


def _reasoning_frames(text: str) -> list[Frame]:
    return [_REASONING_START, *_deltas("reasoning-delta", text), _REASONING_END]


def _source_frame(source: Citation) -> bytes:
    return _event({"type": "source-url", "sourceId": source.id, "url": source.url, "title": source.title})


def _ending(session_id: str, finish_reason: str, raw_finish_reason: str) -> list[Frame]:
    return [
        _event({"type": "finish", "finishReason": finish_reason}),
        _event({"type": "data-session", "data": session_id}),
        _event(
            {
                "type": "data-finish-reason",
                "data": {"finishReason": finish_reason, "rawFinishReason": raw_finish_reason},
            }
        ),
    ]


# --- a UI message stream -------------------------------------------------------------------------


def render_stream(
    reply: Reply, *, message_id: str, session_id: str, faults: Faults, first_delay: float, token_delay: float
) -> list[Frame]:
    """The whole stream as frames: the normal one, then cut or extended by the faults."""
    body, first = _steps(reply, token_delay)
    frames: list[Frame] = [_event({"type": "start", "messageId": message_id})]
    frames += body[:first]
    delay = first_delay + faults.first_token_delay
    if delay:
        frames.append(delay)
    frames.append(body[first])
    if faults.cut:
        return frames
    if faults.malformed:
        frames.append(_MALFORMED)
    if faults.stall:
        frames.append(faults.stall)
    if faults.abort:
        frames.append(_ABORT)
    elif faults.error_chunk:
        frames += [_ERROR_CHUNK, _FINISH_STEP, *_ending(session_id, "error", "ERROR")]
    else:
        frames += body[first + 1 :]
        if faults.unknown_events:
            frames += _UNKNOWN_EVENTS
        frames += _ending(session_id, reply.finish_reason, reply.raw_finish_reason)
    if faults.done and not faults.hold_open:
        frames.append(_DONE)
    return _coalesce(_with_keep_alives(frames) if faults.keep_alive else frames)


def _steps(reply: Reply, token_delay: float) -> tuple[list[Frame], int]:
    """Frames of every step, and the index of the first text-delta (where faults strike)."""
    frames: list[Frame] = []
    first_delta = -1
    call_ids = (f"call_{n}" for n in itertools.count(1))
    for step in reply.steps:
        frames.append(_START_STEP)
        if step.reasoning is not None:
            frames += _reasoning_frames(step.reasoning)
        for call in step.tool_calls:
            frames += _tool_frames(call, next(call_ids))
        frames += [_source_frame(source) for source in step.sources]
        if step.text is not None:
            if first_delta < 0:
                first_delta = len(frames) + 1
            frames += _text_frames(step.text, token_delay)
        frames.append(_FINISH_STEP)
    if first_delta < 0:
        raise RuntimeError(f"reply of intent {reply.intent!r} has no text")
    return frames, first_delta


def _coalesce(frames: list[Frame]) -> list[Frame]:
    """Join events with no sleep between them into one write, as a server does when the model is
    faster than the network; every sleep still splits the stream where the model would pause."""
    out: list[Frame] = []
    run: list[bytes] = []
    for frame in frames:
        if isinstance(frame, bytes):
            run.append(frame)
            continue
        if run:
            out.append(b"".join(run))
            run = []
        out.append(frame)
    if run:
        out.append(b"".join(run))
    return out


def _with_keep_alives(frames: list[Frame]) -> list[Frame]:
    out: list[Frame] = []
    for frame in frames:
        if isinstance(frame, bytes) and out:
            out.append(_KEEP_ALIVE)
        out.append(frame)
    return out


# --- one JSON answer (the non-streaming endpoint) ------------------------------------------------


def render_answer(reply: Reply, *, message_id: str, session_id: str, faults: Faults) -> list[Frame]:
    """The answer in convtest's default ``response_fields`` shape, as one or two writes.

    ``stall`` pauses halfway through the body, ``hold-open`` stops there and waits, ``cut`` and
    ``malformed`` end the body halfway (invalid JSON); ``error-chunk`` answers with an error.
    """
    body = _json(_answer(reply, message_id, session_id, faults.error_chunk)).encode()
    head, tail = body[: len(body) // 2], body[len(body) // 2 :]
    if faults.cut or faults.malformed or faults.hold_open:
        return [head]
    if faults.stall:
        return [head, faults.stall, tail]
    return [body]


def _answer(reply: Reply, message_id: str, session_id: str, failed: bool) -> dict[str, Any]:
    calls = [call for step in reply.steps for call in step.tool_calls]
    answer: dict[str, Any] = {
        "message_id": message_id,
        "session_id": session_id,
        "text": reply.text,
        "finish_reason": reply.finish_reason,
        "steps": len(reply.steps),
        "tool_calls": [_call_json(call, f"call_{n}") for n, call in enumerate(calls, 1)],
    }
    if failed:
        first_text = next(step.text for step in reply.steps if step.text is not None)
        answer.update(text=split_text(first_text)[0], finish_reason="error", error="Simulated model failure")
    return answer


def _call_json(call: ToolCall, call_id: str) -> dict[str, Any]:
    result = {"error": call.error} if call.error is not None else {"output": call.output}
    return {"id": call_id, "name": call.name, "input": call.input, **result}
