"""The HTTP face of the reference agent: the Robofy chat stream API as a Starlette app.

What to answer is the agent's business (:mod:`convtest.server.agent`); this module checks the
request, keeps sessions, applies fault switches and puts the answer on the wire. Each response is
rendered up front into a list of frames (bytes to send, or seconds to sleep), so the streaming
loop itself only waits and writes: hundreds of concurrent streams stay cheap. Events with no sleep
between them go out in one write; every artificial delay is a real pause between writes.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from convtest.server.agent import Agent, Reply, SessionState, ToolCall

__all__ = [
    "DEFAULT_TOKEN",
    "FAULT_HEADER",
    "FAULT_NAMES",
    "STREAM_PATH",
    "create_app",
    "release_held_streams",
]

DEFAULT_TOKEN = "convtest-reference-token"
STREAM_PATH = "/v1/ai-agent/chat/stream"
FAULT_HEADER = "X-Convtest-Fault"

#: what the Vercel AI SDK sends with a UI message stream (content type is set by the response)
_SSE_HEADERS = {"cache-control": "no-cache", "x-vercel-ai-ui-message-stream": "v1", "x-accel-buffering": "no"}
_FAULT_PHRASE = re.compile(r"\[\[fault:([^\]]*)\]\]", re.IGNORECASE)
#: longest a ``hold-open`` stream stays open when nobody ends it
_HOLD_SECONDS = 60.0
_MAX_FAULT_MS = 600_000.0
#: words per text-delta, cycled, so every reply streams as several uneven chunks
_DELTA_WORDS = (2, 3, 4)

Frame = bytes | float


# --- wire format -------------------------------------------------------------------------------


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
_MALFORMED = b'data: {"type":"text-delta","id":"0","delta":"oops\n\n'
_ERROR_CHUNK = _event({"type": "error", "errorText": "Simulated model failure"})
_UNKNOWN_EVENTS = [
    _event({"type": "data-custom-thing", "data": {"x": 1}}),
    _event({"type": "brand-new-chunk", "foo": "bar"}),
]
_NON_SSE_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    "<body><h1>Please sign in to continue</h1></body></html>\n"
)


@lru_cache(maxsize=512)
def _text_deltas(text: str) -> tuple[bytes, ...]:
    """The text-delta events of a text, cached because the agent repeats its replies."""
    return tuple(_event({"type": "text-delta", "id": "0", "delta": piece}) for piece in _split_text(text))


def _split_text(text: str) -> list[str]:
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


def _split_input(text: str) -> list[str]:
    """Cut a tool input's JSON text into three pieces, as a model streams its arguments."""
    cuts = [0, len(text) // 3, 2 * len(text) // 3, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def _tool_frames(call: ToolCall, call_id: str) -> list[Frame]:
    frames: list[Frame] = [_event({"type": "tool-input-start", "toolCallId": call_id, "toolName": call.name})]
    frames += [
        _event({"type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": piece})
        for piece in _split_input(_json(call.input))
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
    frames.append(_event({"type": "tool-output-available", "toolCallId": call_id, "output": call.output}))
    return frames


def _text_frames(text: str, token_delay: float) -> list[Frame]:
    frames: list[Frame] = [_TEXT_START]
    for index, delta in enumerate(_text_deltas(text)):
        if index and token_delay:
            frames.append(token_delay)
        frames.append(delta)
    frames.append(_TEXT_END)
    return frames


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


# --- fault switches ----------------------------------------------------------------------------


class _BadRequest(Exception):
    """The request cannot be served; ``detail`` says which field or fault is wrong."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(slots=True)
class _Faults:
    """What to break in one response; the default breaks nothing."""

    first_token_delay: float = 0.0
    stall: float = 0.0
    status: int | None = None
    cut: bool = False
    malformed: bool = False
    error_chunk: bool = False
    done: bool = True
    hold_open: bool = False
    keep_alive: bool = False
    unknown_events: bool = False
    non_sse: bool = False


_FaultSetter = Callable[[_Faults, str, str], None]


def _flag(attribute: str, value: bool = True) -> _FaultSetter:
    def set_flag(faults: _Faults, name: str, argument: str) -> None:
        if argument:
            raise _BadRequest(f"Fault '{name}' takes no argument, got '{argument}'.")
        setattr(faults, attribute, value)

    return set_flag


def _delay(attribute: str, default_ms: float) -> _FaultSetter:
    def set_delay(faults: _Faults, name: str, argument: str) -> None:
        setattr(faults, attribute, _millis(name, argument, default_ms) / 1000)

    return set_delay


def _millis(name: str, argument: str, default: float) -> float:
    if not argument:
        return default
    try:
        value = float(argument)
    except ValueError:
        value = -1.0
    if not 0 <= value <= _MAX_FAULT_MS:
        raise _BadRequest(
            f"Fault '{name}' needs milliseconds between 0 and {_MAX_FAULT_MS:.0f}, got '{argument}'."
        )
    return value


def _status(faults: _Faults, name: str, argument: str) -> None:
    if not (argument.isdigit() and 400 <= int(argument) <= 599):
        raise _BadRequest(f"Fault 'status' needs an HTTP error code from 400 to 599, got '{argument}'.")
    faults.status = int(argument)


def _status_500(faults: _Faults, name: str, argument: str) -> None:
    if argument:
        raise _BadRequest(f"Fault '{name}' takes no argument, got '{argument}'.")
    faults.status = 500


#: name -> (how to write it, what it sets)
_FAULTS: dict[str, tuple[str, _FaultSetter]] = {
    "cut": ("cut", _flag("cut")),
    "error-chunk": ("error-chunk", _flag("error_chunk")),
    "hold-open": ("hold-open", _flag("hold_open")),
    "keep-alive": ("keep-alive", _flag("keep_alive")),
    "malformed": ("malformed", _flag("malformed")),
    "no-done": ("no-done", _flag("done", False)),
    "non-sse": ("non-sse", _flag("non_sse")),
    "slow-first-token": ("slow-first-token[:ms]", _delay("first_token_delay", 1500)),
    "stall": ("stall[:ms]", _delay("stall", 3000)),
    "status": ("status:<code>", _status),
    "status-500": ("status-500", _status_500),
    "unknown-event": ("unknown-event", _flag("unknown_events")),
}
FAULT_NAMES = tuple(_FAULTS)


def _read_faults(header: str | None, query: str) -> tuple[_Faults, str]:
    """Collect faults from the header (comma-separated) and the query; return the cleaned query."""
    specs = [spec for spec in (header or "").split(",") if spec.strip()]
    specs += _FAULT_PHRASE.findall(query)
    faults = _Faults()
    for spec in specs:
        name, _, argument = spec.strip().partition(":")
        name = name.strip().lower()
        if name not in _FAULTS:
            usage = ", ".join(usage for usage, _ in _FAULTS.values())
            raise _BadRequest(f"Unknown fault '{name}'. Valid faults: {usage}.")
        _FAULTS[name][1](faults, name, argument.strip())
    if specs:
        query = " ".join(_FAULT_PHRASE.sub(" ", query).split())
    return faults, query


# --- requests and sessions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ChatRequest:
    query: str
    session_id: str | None


def _parse_chat_request(raw: bytes) -> _ChatRequest:
    try:
        body = json.loads(raw)
    except ValueError:
        raise _BadRequest("Request body must be valid JSON.") from None
    if not isinstance(body, dict):
        raise _BadRequest("Request body must be a JSON object.")
    query = _required_string(body, "query")
    _required_string(body, "pid")
    _required_string(body, "chatbot_id")
    context = body.get("user_context")
    if context is None:
        raise _BadRequest("Field 'user_context' is required.")
    if not isinstance(context, dict):
        raise _BadRequest("Field 'user_context' must be an object.")
    _required_string(context, "platform", "user_context.")
    session_id = context.get("session_id")
    if session_id is not None and not isinstance(session_id, str):
        raise _BadRequest("Field 'user_context.session_id' must be a string.")
    return _ChatRequest(query, session_id or None)


def _required_string(container: dict[str, Any], key: str, prefix: str = "") -> str:
    value = container.get(key)
    if value is None:
        raise _BadRequest(f"Field '{prefix}{key}' is required.")
    if not isinstance(value, str):
        raise _BadRequest(f"Field '{prefix}{key}' must be a string.")
    if not value.strip():
        raise _BadRequest(f"Field '{prefix}{key}' must not be empty.")
    return value


class _Sessions:
    """Conversation memory, least recently used out first, so long benchmarks stay bounded."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("max_sessions must be at least 1")
        self._capacity = capacity
        self._states: OrderedDict[str, SessionState] = OrderedDict()

    def get(self, session_id: str | None) -> tuple[str, SessionState]:
        """The state of ``session_id``, created when unknown; a new uuid4 when no id is given."""
        session_id = session_id or str(uuid.uuid4())
        state = self._states.get(session_id)
        if state is not None:
            self._states.move_to_end(session_id)
            return session_id, state
        state = self._states[session_id] = SessionState()
        if len(self._states) > self._capacity:
            self._states.popitem(last=False)
        return session_id, state


class _HeldStreams:
    """Wakes ``hold-open`` streams when the server stops, so shutdown does not wait for them."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Event] = set()

    async def hold(self, seconds: float) -> None:
        released = asyncio.Event()
        self._waiters.add(released)
        try:
            await asyncio.wait_for(released.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(released)

    def release(self) -> None:
        for waiter in self._waiters:
            waiter.set()


# --- the endpoint ------------------------------------------------------------------------------


def _error(
    status: int, message: str, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"message": message, "error": {"code": code, "detail": detail}}
    return JSONResponse(body, status_code=status, headers=headers)


def _unauthorized() -> Response:
    detail = "Authentication token is missing or invalid."
    return _error(401, "Unauthorized", "UNAUTHORIZED", detail, {"www-authenticate": "Bearer"})


def _status_fault(status: int) -> Response:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    code = re.sub(r"[^A-Z0-9]+", "_", phrase.upper()).strip("_")
    headers = {"retry-after": "1"} if status == 429 else None
    return _error(status, phrase, code, f"Simulated failure (fault status:{status}).", headers)


class _ChatService:
    """The chat stream endpoint and the state it shares between requests."""

    def __init__(
        self, agent: Agent, token: str | None, first_delay: float, token_delay: float, sessions: int
    ) -> None:
        if first_delay < 0 or token_delay < 0:
            raise ValueError("latencies must not be negative")
        self._agent = agent
        self._token = token.encode() if token else None
        self._first_delay = first_delay
        self._token_delay = token_delay
        self._sessions = _Sessions(sessions)
        self._message_ids = itertools.count(1)
        self.held = _HeldStreams()

    async def chat(self, request: Request) -> Response:
        if self._token is not None and not self._authorized(request.headers.get("authorization", "")):
            return _unauthorized()
        try:
            chat = _parse_chat_request(await request.body())
            faults, query = _read_faults(request.headers.get(FAULT_HEADER), chat.query)
        except _BadRequest as exc:
            return _error(400, "Bad Request", "BAD_REQUEST", exc.detail)
        if faults.status is not None:
            return _status_fault(faults.status)
        if faults.non_sse:
            return HTMLResponse(_NON_SSE_PAGE)
        session_id, state = self._sessions.get(chat.session_id)
        reply = self._agent.respond(state, query)
        frames = self._render(reply, session_id, faults)
        stream = self._stream(frames, faults.hold_open)
        return StreamingResponse(stream, media_type="text/event-stream", headers=_SSE_HEADERS)

    def _authorized(self, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        expected = self._token or b""
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), expected)

    def _render(self, reply: Reply, session_id: str, faults: _Faults) -> list[Frame]:
        """The whole response as frames: the normal stream, then cut or extended by the faults."""
        body, first = self._steps(reply)
        frames: list[Frame] = [_event({"type": "start", "messageId": f"msg{next(self._message_ids):013d}"})]
        frames += body[:first]
        delay = self._first_delay + faults.first_token_delay
        if delay:
            frames.append(delay)
        frames.append(body[first])
        if faults.cut:
            return frames
        if faults.malformed:
            frames.append(_MALFORMED)
        if faults.stall:
            frames.append(faults.stall)
        if faults.error_chunk:
            frames += [_ERROR_CHUNK, _FINISH_STEP, *_ending(session_id, "error", "ERROR")]
        else:
            frames += body[first + 1 :]
            if faults.unknown_events:
                frames += _UNKNOWN_EVENTS
            frames += _ending(session_id, reply.finish_reason, reply.raw_finish_reason)
        if faults.done and not faults.hold_open:
            frames.append(_DONE)
        return _coalesce(_with_keep_alives(frames) if faults.keep_alive else frames)

    def _steps(self, reply: Reply) -> tuple[list[Frame], int]:
        """Frames of every step, and the index of the first text-delta (where faults strike)."""
        frames: list[Frame] = []
        first_delta = -1
        call_ids = (f"call_{n}" for n in itertools.count(1))
        for step in reply.steps:
            frames.append(_START_STEP)
            for call in step.tool_calls:
                frames += _tool_frames(call, next(call_ids))
            if step.text is not None:
                if first_delta < 0:
                    first_delta = len(frames) + 1
                frames += _text_frames(step.text, self._token_delay)
            frames.append(_FINISH_STEP)
        if first_delta < 0:
            raise RuntimeError(f"reply of intent {reply.intent!r} has no text")
        return frames, first_delta

    async def _stream(self, frames: list[Frame], hold_open: bool) -> AsyncIterator[bytes]:
        for frame in frames:
            if isinstance(frame, bytes):
                yield frame
            else:
                await asyncio.sleep(frame)
        if hold_open:
            await self.held.hold(_HOLD_SECONDS)


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


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(
    *,
    token: str | None = DEFAULT_TOKEN,
    latency_ms: float = 0,
    token_latency_ms: float = 0,
    agent: Agent | None = None,
    max_sessions: int = 10_000,
) -> Starlette:
    """The reference agent as an ASGI app; ``token=None`` turns authentication off.

    ``latency_ms`` is slept before the first text-delta and ``token_latency_ms`` between text
    deltas, to model a real model's timing in benchmarks; at 0 nothing sleeps at all.
    """
    service = _ChatService(
        agent or Agent.from_file(), token, latency_ms / 1000, token_latency_ms / 1000, max_sessions
    )
    app = Starlette(
        routes=[
            Route(STREAM_PATH, service.chat, methods=["POST"]),
            Route("/health", _health, methods=["GET"]),
        ]
    )
    app.state.held_streams = service.held
    return app


def release_held_streams(app: Starlette) -> None:
    """End every ``hold-open`` stream now; call from the app's event loop when the server stops."""
    held = getattr(app.state, "held_streams", None)
    if isinstance(held, _HeldStreams):
        held.release()
