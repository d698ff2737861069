"""Adapter for OpenAI-compatible chat completions: ``POST {base_url}/chat/completions``.

OpenAI, Azure, vLLM, Ollama, LiteLLM and most gateways speak it. The API keeps no session, so
every turn sends the whole conversation again: the system prompt, each earlier user message and
answer (with the tool calls the answer made and their results), then the new user message.

A turn runs the tool loop to the final answer: when the model asks for tools, the target's
``tool_results`` or ``tool_handler`` answer them, and the model is called again with the
results, up to ``max_tool_rounds`` times. Every call lands in the transcript's ``tool_calls``
(``step`` is the model call that asked for it), ``steps`` counts model calls, and ``usage``
sums the tokens the server reported. Each model call is one
:mod:`~convtest.adapters.openai_exchange` exchange, so every fault ends in the same verdicts as
with the Robofy adapter.

:data:`OPENAI` registers it (entry point ``openai`` of the ``convtest.adapters`` group); its own
target options are read by :mod:`convtest.adapters.openai_settings`.
"""

from __future__ import annotations

import builtins
import inspect
import json
from typing import Any

import httpx

from convtest.adapters.base import AdapterKind, TurnRequest
from convtest.adapters.deadline import Deadline
from convtest.adapters.exchange import Bearer, token_rejection, turn_timeouts
from convtest.adapters.openai_chunks import Completion, RequestedCall
from convtest.adapters.openai_exchange import CompletionExchange, CompletionStreamExchange, TurnState
from convtest.adapters.openai_settings import (
    CHAT_COMPLETIONS_PATH,
    OPENAI_OPTIONS,
    OpenAISettings,
    configure_openai,
    openai_settings,
)
from convtest.exceptions import ConfigError, ProtocolError, TargetError, TimeoutError
from convtest.stream import preview
from convtest.targets import Target
from convtest.transcript import ToolCall, TurnTranscript, Usage

__all__ = ["OPENAI", "OpenAIAdapter", "ToolLoopError", "history_messages", "tool_message_content"]

#: OpenAI's finish reasons under the names every convtest target uses (the AI SDK's)
_FINISH_REASONS = {
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
    "content_filter": "content-filter",
}


class ToolLoopError(TargetError):
    """The tool loop cannot reach an answer: a tool nobody answers, or too many tool rounds."""


class OpenAIAdapter:
    """Send turns to one OpenAI-compatible target over a shared ``httpx.AsyncClient``.

    Timings count from the start of the turn, tool rounds included: ``first_byte_ms`` of the
    first model call, ``first_token_ms`` at the first text of any call, ``total_ms`` at the end
    of the last one.
    """

    def __init__(self, target: Target, client: httpx.AsyncClient) -> None:
        self.name = target.name
        self.target = target
        self.settings = openai_settings(target)
        self.client = client
        self.url = _endpoint(target)
        self.bearer = Bearer(target.token, token_rejection(target))
        self.exchange = CompletionStreamExchange if self.settings.stream else CompletionExchange
        self.tools = [tool.to_openai() for tool in self.settings.tools]

    async def send_turn(self, request: TurnRequest) -> TurnTranscript:
        turn = TurnState(TurnTranscript(user=request.query))
        total = turn_timeouts(self.target, request).total
        messages = history_messages(self.settings.system_prompt, request)
        tool_rounds = 0
        while True:
            exchange = self.exchange(
                self.target, self.client, self.url, request, self._body(messages), self.bearer, turn=turn
            )
            completion = await exchange.complete()
            self._record(turn.transcript, completion)
            if not completion.calls or completion.errors:
                break
            calls = self._tool_calls(turn.transcript, completion)
            tool_rounds += 1
            if tool_rounds > self.settings.max_tool_rounds:
                raise self._loop_error(
                    f"the model still asked for tools after {self.settings.max_tool_rounds} rounds "
                    f"(max_tool_rounds: {self.settings.max_tool_rounds}); last asked for: "
                    + ", ".join(call.name for call in calls),
                    turn.transcript,
                )
            messages.append(_assistant_message(completion.text, calls))
            for call in calls:
                await self._answer(call, turn, total)
                messages.append(_tool_message(call))
        turn.transcript.done = True
        return turn.transcript

    async def aclose(self) -> None:
        """Nothing to release: the client is shared and closed by its owner."""

    def _body(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {**self.settings.params, "model": self.settings.model, "messages": messages}
        if self.tools:
            body["tools"] = self.tools
        if self.settings.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def _record(self, transcript: TurnTranscript, completion: Completion) -> None:
        """What one model call adds to the turn beyond its text: how it ended, what it cost."""
        transcript.raw_finish_reason = completion.finish_reason
        reason = completion.finish_reason
        transcript.finish_reason = None if reason is None else _FINISH_REASONS.get(reason, reason)
        transcript.message_id = completion.id or transcript.message_id
        if completion.usage is not None:
            transcript.usage = transcript.usage or Usage()
            transcript.usage.add(completion.usage)

    def _tool_calls(self, transcript: TurnTranscript, completion: Completion) -> list[ToolCall]:
        """The calls the model asked for, in the transcript; arguments that are no JSON are a verdict."""
        step = transcript.steps - 1
        calls = []
        for requested in completion.tool_calls:
            call = ToolCall(
                id=requested.id or f"call_{len(transcript.tool_calls) + 1}",
                name=requested.name,
                input_text=requested.arguments,
                step=step,
            )
            transcript.tool_calls.append(call)
            self._parse_arguments(call, requested, transcript)
            calls.append(call)
        return calls

    def _parse_arguments(self, call: ToolCall, requested: RequestedCall, transcript: TurnTranscript) -> None:
        if not requested.name:
            raise self._protocol_error(f"tool call {call.id} has no function name", transcript)
        try:
            call.input = json.loads(requested.arguments) if requested.arguments.strip() else {}
        except ValueError as exc:
            call.error, call.state = f"arguments are not valid JSON: {exc}", "output-error"
            raise self._protocol_error(
                f"the arguments of tool call {call.id} ({call.name}) are not valid JSON ({exc}): "
                f"{preview(requested.arguments, 120)}",
                transcript,
            ) from None
        call.state = "input-available"

    async def _answer(self, call: ToolCall, turn: TurnState, total: float) -> None:
        """The call's result from ``tool_results`` or ``tool_handler``; what the handler raises is
        the tool's error, which the model gets as the result, as from a real tool that failed."""
        settings = self.settings
        if call.name in settings.tool_results:
            call.output, call.state = settings.tool_results[call.name], "output-available"
            return
        if settings.tool_handler is None:
            raise self._loop_error(
                f"the model called tool {call.name!r}, which neither `tool_results` nor a "
                "`tool_handler` answers",
                turn.transcript,
            )
        try:
            call.output = await self._handle(settings, call, turn, total)
            call.state = "output-available"
        except TargetError:
            raise
        except Exception as exc:  # the user's tool failed: the model is told, as it would be
            call.error, call.state = f"{type(exc).__name__}: {exc}", "output-error"

    async def _handle(self, settings: OpenAISettings, call: ToolCall, turn: TurnState, total: float) -> Any:
        """Call the handler within the turn's total deadline (a plain function must be quick:
        it runs on the event loop; an async one is cut off when the deadline comes)."""
        assert settings.tool_handler is not None
        scope = Deadline(turn.start + total)
        try:
            async with scope:
                result = settings.tool_handler(call.name, call.input)
                if inspect.isawaitable(result):
                    result = await result
        except builtins.TimeoutError as exc:
            if not scope.expired():
                raise
            message = (
                f"turn not finished within {total} s (total timeout): tool handler "
                f"{settings.tool_handler_name} still running for tool call {call.id} ({call.name})"
            )
            raise TimeoutError(
                message, kind="total", target=self.name, transcript=turn.transcript, retryable=False
            ) from exc
        return result

    def _protocol_error(self, problem: str, transcript: TurnTranscript) -> ProtocolError:
        return ProtocolError(
            f"bad answer from {self.url}: {problem}", target=self.name, transcript=transcript
        )

    def _loop_error(self, problem: str, transcript: TurnTranscript) -> ToolLoopError:
        return ToolLoopError(problem, target=self.name, transcript=transcript)


#: the ``openai`` adapter, registered in convtest's own pyproject.toml like any third-party one
OPENAI = AdapterKind(name="openai", create=OpenAIAdapter, options=OPENAI_OPTIONS, configure=configure_openai)


def history_messages(system_prompt: str | None, request: TurnRequest) -> list[dict[str, Any]]:
    """The conversation as OpenAI messages: system prompt, earlier turns, the new user message."""
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    for exchange in request.history:
        messages.append({"role": "user", "content": exchange.user})
        messages += _answer_messages(exchange.transcript)
    messages.append({"role": "user", "content": request.query})
    return messages


def _answer_messages(transcript: TurnTranscript) -> list[dict[str, Any]]:
    """An earlier answer: per tool round the assistant's calls and their results, then its text."""
    messages: list[dict[str, Any]] = []
    steps = sorted({call.step for call in transcript.tool_calls})
    for step in steps:
        calls = [call for call in transcript.tool_calls if call.step == step]
        messages.append(_assistant_message("", calls))
        messages += [_tool_message(call) for call in calls]
    messages.append({"role": "assistant", "content": transcript.text})
    return messages


def _assistant_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.input_text or json.dumps(call.input)},
            }
            for call in calls
        ],
    }


def _tool_message(call: ToolCall) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": tool_message_content(call)}


def tool_message_content(call: ToolCall) -> str:
    """What the model is told a tool returned: a string as is, other data as JSON."""
    if call.error is not None:
        return json.dumps({"error": call.error}, ensure_ascii=False)
    if isinstance(call.output, str):
        return call.output
    return json.dumps(call.output, ensure_ascii=False, default=str)


def _endpoint(target: Target) -> str:
    at = f" ({target.location})" if target.location else ""
    url = target.base_url.rstrip("/") + CHAT_COMPLETIONS_PATH
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"target {target.name!r}{at}: invalid URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(
            f"target {target.name!r}{at}: base_url must be an http(s) URL ending in /v1, "
            f"got {target.base_url!r}"
        )
    return url
