"""The HTTP face of the reference agent: the Robofy chat API as a Starlette app.

What to answer is the agent's business (:mod:`convtest.server.agent`), how it looks on the wire
is :mod:`convtest.server.wire`'s, what to break is :mod:`convtest.server.faults`' and who may ask
is :mod:`convtest.server.auth`'s; this module checks requests, keeps sessions and serves the
endpoints: the stream, the non-streaming answer and the client-token handshake.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from convtest.adapters.robofy_settings import CHAT_PATH, STREAM_PATH
from convtest.server.agent import Agent, SessionState
from convtest.server.auth import CLIENT_TOKEN_SECONDS, HANDSHAKE_PATH, Gatekeeper
from convtest.server.bodies import BodyTooLarge, json_object, read_body
from convtest.server.faults import FAULT_HEADER, FAULT_NAMES, HOLD_SECONDS, BadRequest, read_faults
from convtest.server.openai_api import OpenAIChat
from convtest.server.wire import NON_SSE_PAGE, SSE_HEADERS, Frame, render_answer, render_stream

__all__ = [
    "CHAT_PATH",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_TOKEN",
    "FAULT_HEADER",
    "FAULT_NAMES",
    "HANDSHAKE_PATH",
    "STREAM_PATH",
    "create_app",
    "release_held_streams",
]

DEFAULT_TOKEN = "convtest-reference-token"
#: the largest request body served unless configured otherwise; a chat request is a few hundred bytes
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


# --- requests and sessions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ChatRequest:
    query: str
    session_id: str | None


def _parse_chat_request(raw: bytes) -> _ChatRequest:
    body = json_object(raw)
    query = _required_string(body, "query")
    _required_string(body, "pid")
    _required_string(body, "chatbot_id")
    context = body.get("user_context")
    if context is None:
        raise BadRequest("Field 'user_context' is required.")
    if not isinstance(context, dict):
        raise BadRequest("Field 'user_context' must be an object.")
    _required_string(context, "platform", "user_context.")
    session_id = context.get("session_id")
    if session_id is not None and not isinstance(session_id, str):
        raise BadRequest("Field 'user_context.session_id' must be a string.")
    return _ChatRequest(query, session_id or None)


def _required_string(container: dict[str, Any], key: str, prefix: str = "") -> str:
    value = container.get(key)
    if value is None:
        raise BadRequest(f"Field '{prefix}{key}' is required.")
    if not isinstance(value, str):
        raise BadRequest(f"Field '{prefix}{key}' must be a string.")
    if not value.strip():
        raise BadRequest(f"Field '{prefix}{key}' must not be empty.")
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


def _refusal(exc: BadRequest) -> Response:
    if isinstance(exc, BodyTooLarge):
        return _error(413, "Payload Too Large", "PAYLOAD_TOO_LARGE", exc.detail, {"connection": "close"})
    return _error(400, "Bad Request", "BAD_REQUEST", exc.detail)


def _unauthorized(detail: str) -> Response:
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
    """The chat endpoints and the state they share between requests."""

    def __init__(
        self,
        agent: Agent,
        gate: Gatekeeper,
        first_delay: float,
        token_delay: float,
        sessions: int,
        max_body_bytes: int,
    ) -> None:
        if first_delay < 0 or token_delay < 0:
            raise ValueError("latencies must not be negative")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1")
        self._max_body_bytes = max_body_bytes
        self._agent = agent
        self._gate = gate
        self._first_delay = first_delay
        self._token_delay = token_delay
        self._sessions = _Sessions(sessions)
        self._message_ids = itertools.count(1)
        self.held = _HeldStreams()

    async def stream(self, request: Request) -> Response:
        """``POST /v1/ai-agent/chat/stream``: the answer as a UI message stream."""
        return await self._chat(request, streaming=True)

    async def answer(self, request: Request) -> Response:
        """``POST /v1/ai-agent/chat``: the whole answer as one JSON document."""
        return await self._chat(request, streaming=False)

    async def handshake(self, request: Request) -> Response:
        """``POST /v1/ai-agent/chat/handshake``: a client token for the API token's holder."""
        refusal = self._gate.refusal(request.headers.get("authorization", ""), client_tokens=False)
        if refusal is not None:
            return _unauthorized(refusal)
        try:
            body = json_object(await read_body(request, self._max_body_bytes))
            _required_string(body, "pid")
            _required_string(body, "chatbot_id")
        except BadRequest as exc:
            return _refusal(exc)
        return JSONResponse({"token": self._gate.issue(), "expires_in": CLIENT_TOKEN_SECONDS})

    async def _chat(self, request: Request, *, streaming: bool) -> Response:
        refusal = self._gate.refusal(request.headers.get("authorization", ""))
        if refusal is not None:
            return _unauthorized(refusal)
        try:
            chat = _parse_chat_request(await read_body(request, self._max_body_bytes))
            faults, query = read_faults(request.headers.get(FAULT_HEADER), chat.query)
        except BadRequest as exc:
            return _refusal(exc)
        if faults.silent:
            await self.held.hold(faults.silent)
        if faults.status is not None:
            return _status_fault(faults.status)
        if faults.non_sse:
            return HTMLResponse(NON_SSE_PAGE)
        session_id, state = self._sessions.get(chat.session_id)
        reply = self._agent.respond(state, query)
        message_id = f"msg{next(self._message_ids):013d}"
        if streaming:
            frames = render_stream(
                reply,
                message_id=message_id,
                session_id=session_id,
                faults=faults,
                first_delay=self._first_delay,
                token_delay=self._token_delay,
            )
            body = self._play(frames, faults.hold_open)
            return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)
        # a non-streaming server answers when the model is done: the delay comes before the headers
        delay = self._first_delay + faults.first_token_delay
        if delay:
            await asyncio.sleep(delay)
        frames = render_answer(reply, message_id=message_id, session_id=session_id, faults=faults)
        return StreamingResponse(self._play(frames, faults.hold_open), media_type="application/json")

    async def _play(self, frames: list[Frame], hold_open: bool) -> AsyncIterator[bytes]:
        for frame in frames:
            if isinstance(frame, bytes):
                yield frame
            else:
                await asyncio.sleep(frame)
        if hold_open:
            await self.held.hold(HOLD_SECONDS)


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(
    *,
    token: str | None = DEFAULT_TOKEN,
    latency_ms: float = 0,
    token_latency_ms: float = 0,
    agent: Agent | None = None,
    max_sessions: int = 10_000,
    client_token_uses: int | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """The reference agent as an ASGI app; ``token=None`` turns authentication off.

    ``latency_ms`` is slept before the first text-delta and ``token_latency_ms`` between text
    deltas, to model a real model's timing in benchmarks; at 0 nothing sleeps at all.
    ``client_token_uses`` is how many requests a handshake's client token is good for;
    a request body over ``max_body_bytes`` is a 413.
    """
    agent, gate = agent or Agent.from_file(), Gatekeeper(token, client_token_uses)
    service = _ChatService(
        agent, gate, latency_ms / 1000, token_latency_ms / 1000, max_sessions, max_body_bytes
    )
    # the same brain, tokens, body limit and held streams behind OpenAI's chat completions
    openai = OpenAIChat(
        agent,
        gate,
        service.held.hold,
        first_delay=latency_ms / 1000,
        token_delay=token_latency_ms / 1000,
        max_body_bytes=max_body_bytes,
    )
    app = Starlette(
        routes=[
            Route(STREAM_PATH, service.stream, methods=["POST"]),
            Route(CHAT_PATH, service.answer, methods=["POST"]),
            Route(HANDSHAKE_PATH, service.handshake, methods=["POST"]),
            openai.route(),
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
