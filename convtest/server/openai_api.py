"""The reference agent's OpenAI face: ``POST /v1/chat/completions``, streamed or not, with tools.

The same scripted brain answers as on the Robofy API. The API keeps no session, so the agent's
memory is rebuilt on every request by replaying the earlier user messages; then the last user
message is answered one model call at a time: a step of the scripted reply that calls tools
becomes an assistant ``tool_calls`` message (finish reason ``tool_calls``), and the next request,
which must carry a ``tool`` message for every call, gets the following step, down to the text.
Tool steps are skipped when the request does not declare those tools, as a model that was
offered no tools answers without them. The answer's text comes from the agent's own tools:
:func:`reference_tool` runs them for a client, so the results it sends match the text.

Faults are asked for as on the Robofy API (``[[fault:...]]`` in the last user message or the
``X-Convtest-Fault`` header); ``abort`` and ``unknown-event`` have no equivalent here and are
refused. The Robofy API's bearer token (or a client token) is required.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from convtest.adapters.openai_settings import OpenAISettings, ToolDefinition
from convtest.server.agent import Agent, Reply, SessionState, Step
from convtest.server.auth import Gatekeeper
from convtest.server.bodies import BodyTooLarge, json_object, read_body
from convtest.server.faults import FAULT_HEADER, HOLD_SECONDS, BadRequest, Faults, read_faults
from convtest.server.openai_wire import (
    ERROR_MESSAGE,
    Answer,
    count_tokens,
    render_completion,
    render_completion_stream,
)
from convtest.server.wire import NON_SSE_PAGE, SSE_HEADERS, Frame

__all__ = [
    "CHAT_COMPLETIONS_PATH",
    "REFERENCE_MODEL",
    "REFERENCE_TOOLS",
    "OpenAIChat",
    "reference_settings",
    "reference_tool",
]

CHAT_COMPLETIONS_PATH = "/v1/chat/completions"
#: the model name the built-in ``reference-openai`` target asks for (any name is answered)
REFERENCE_MODEL = "convtest-reference"

#: the agent's tools as a client declares them to the model
REFERENCE_TOOLS = (
    ToolDefinition(
        "lookup_order",
        "Look up an order by its number: status, carrier, tracking number, dates.",
        {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    ),
    ToolDefinition(
        "calculate",
        "Evaluate an arithmetic expression.",
        {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
    ),
    ToolDefinition(
        "search_kb",
        "Search the help center.",
        {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    ),
    ToolDefinition(
        "check_stock",
        "Check whether a product is in stock.",
        {"type": "object", "properties": {"product": {"type": "string"}}, "required": ["product"]},
    ),
)

_Hold = Callable[[float], Awaitable[None]]
#: faults of the Robofy stream that chat completions cannot express
_UNSUPPORTED = (("abort", "abort"), ("unknown_events", "unknown-event"))


@functools.cache
def _default_agent() -> Agent:
    return Agent.from_file()


def reference_tool(name: str, arguments: Any) -> Any:
    """Run one of the reference agent's own tools: a ``tool_handler`` for a client of this API."""
    return _default_agent().toolbox.call(name, arguments if isinstance(arguments, dict) else {})


def reference_settings() -> OpenAISettings:
    """The settings of the built-in ``reference-openai`` target: the agent's tools, run for real."""
    return OpenAISettings(
        model=REFERENCE_MODEL,
        tools=REFERENCE_TOOLS,
        tool_handler=reference_tool,
        tool_handler_name=f"{__name__}:reference_tool",
    )


@dataclass(frozen=True, slots=True)
class _Call:
    """One request, checked: what the client asked and the conversation it sent."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    tools: frozenset[str]


class OpenAIChat:
    """``POST /v1/chat/completions``, over the agent, auth and held streams of the Robofy API."""

    def __init__(
        self,
        agent: Agent,
        gate: Gatekeeper,
        hold: _Hold,
        *,
        first_delay: float = 0,
        token_delay: float = 0,
        max_body_bytes: int = 1024 * 1024,
    ) -> None:
        self._agent = agent
        self._max_body_bytes = max_body_bytes
        self._gate = gate
        self._hold = hold
        self._first_delay = first_delay
        self._token_delay = token_delay
        self._ids = itertools.count(1)

    def route(self) -> Route:
        return Route(CHAT_COMPLETIONS_PATH, self.complete, methods=["POST"])

    async def complete(self, request: Request) -> Response:
        refusal = self._gate.refusal(request.headers.get("authorization", ""))
        if refusal is not None:
            return _error(401, refusal, "invalid_request_error", "invalid_api_key")
        try:
            call = _parse(await read_body(request, self._max_body_bytes))
            faults, answer = self._answer(call, request.headers.get(FAULT_HEADER))
        except BodyTooLarge as exc:
            return _error(413, exc.detail, "invalid_request_error", None, {"connection": "close"})
        except BadRequest as exc:
            return _error(400, exc.detail, "invalid_request_error", None)
        if faults.silent:
            await self._hold(faults.silent)
        if faults.status is not None:
            return _error(
                faults.status, f"Simulated failure (fault status:{faults.status}).", "server_error", None
            )
        if faults.non_sse:
            return HTMLResponse(NON_SSE_PAGE)
        if call.stream:
            frames = render_completion_stream(
                answer, faults=faults, first_delay=self._first_delay, token_delay=self._token_delay
            )
            body = self._play(frames, faults.hold_open)
            return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)
        if answer.text is not None and faults.error_chunk:
            return _error(500, ERROR_MESSAGE, "server_error", None)
        delay = (self._first_delay + faults.first_token_delay) if answer.text is not None else 0
        if delay:
            await asyncio.sleep(delay)
        frames = render_completion(answer, faults=faults)
        return StreamingResponse(self._play(frames, faults.hold_open), media_type="application/json")

    def _answer(self, call: _Call, fault_header: str | None) -> tuple[Faults, Answer]:
        """The next step of the scripted reply to the last user message."""
        users = [index for index, message in enumerate(call.messages) if message["role"] == "user"]
        if not users:
            raise BadRequest("'messages' must contain a user message.")
        state = SessionState()
        for index in users[:-1]:
            self._agent.respond(state, _without_faults(_content(call.messages[index], index)))
        last = users[-1]
        faults, query = read_faults(fault_header, _content(call.messages[last], last))
        for attribute, name in _UNSUPPORTED:
            if getattr(faults, attribute):
                raise BadRequest(f"Fault '{name}' has no equivalent in the chat completions API.")
        reply = self._agent.respond(state, query)
        steps = _offered(reply, call.tools)
        done = _answered_steps(call.messages[last + 1 :])
        if done >= len(steps):
            raise BadRequest("The last user message has been answered already.")
        step = steps[done]
        earlier = sum(len(s.tool_calls) for s in steps[:done])
        calls = tuple((f"call_{len(users)}_{earlier + n}", tool) for n, tool in enumerate(step.tool_calls, 1))
        finish = "tool_calls" if calls else reply.finish_reason
        answer = Answer(
            id=f"chatcmpl-{next(self._ids):013d}",
            model=call.model,
            text=step.text if not calls else None,
            reasoning=step.reasoning,
            calls=calls,
            finish_reason=finish,
            prompt_tokens=sum(_prompt_tokens(message) for message in call.messages),
            include_usage=call.include_usage,
        )
        return faults, answer

    async def _play(self, frames: list[Frame], hold_open: bool) -> AsyncIterator[bytes]:
        for frame in frames:
            if isinstance(frame, bytes):
                yield frame
            else:
                await asyncio.sleep(frame)
        if hold_open:
            await self._hold(HOLD_SECONDS)


def _error(
    status: int, message: str, kind: str, code: str | None, headers: dict[str, str] | None = None
) -> Response:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    if status == 429:
        headers = {"retry-after": "1"}
    if status == 401:
        headers = {"www-authenticate": "Bearer"}
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _parse(raw: bytes) -> _Call:
    body = json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("Field 'model' is required and must be a non-empty string.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("Field 'messages' must be a non-empty list.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in (
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
        ):
            raise BadRequest(
                f"messages[{index}] must be an object with a role of system, user, assistant or tool."
            )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("Field 'stream' must be a boolean.")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise BadRequest("Field 'stream_options' must be an object.")
    return _Call(
        model, messages, stream, not stream or options.get("include_usage") is True, _tool_names(body)
    )


def _tool_names(body: dict[str, Any]) -> frozenset[str]:
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise BadRequest("Field 'tools' must be a list.")
    names = set()
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise BadRequest(f"tools[{index}] must be {{'type': 'function', 'function': {{'name': ...}}}}.")
        names.add(function["name"])
    return frozenset(names)


def _content(message: dict[str, Any], index: int) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    raise BadRequest(f"messages[{index}].content must be a string or a list of content parts.")


def _without_faults(text: str) -> str:
    try:
        return read_faults(None, text)[1]
    except BadRequest:
        return text


def _offered(reply: Reply, tools: frozenset[str]) -> list[Step]:
    """The reply's steps, less the tool steps whose tools the client did not declare."""
    return [
        step
        for step in reply.steps
        if step.text is not None or all(call.name in tools for call in step.tool_calls)
    ]


def _answered_steps(after: list[dict[str, Any]]) -> int:
    """Assistant messages since the last user message; each of their calls needs its result."""
    answered = {message.get("tool_call_id") for message in after if message["role"] == "tool"}
    steps = 0
    for message in after:
        if message["role"] != "assistant":
            continue
        steps += 1
        for call in message.get("tool_calls") or []:
            call_id = call.get("id") if isinstance(call, dict) else None
            if call_id not in answered:
                raise BadRequest(
                    "An assistant message with 'tool_calls' must be followed by tool messages "
                    f"responding to each 'tool_call_id'. Missing: {call_id!r}."
                )
    return steps


def _prompt_tokens(message: dict[str, Any]) -> int:
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    calls = message.get("tool_calls") or []
    arguments = "".join(
        str((call.get("function") or {}).get("arguments", "")) for call in calls if isinstance(call, dict)
    )
    return count_tokens(text) + count_tokens(arguments) + 3
