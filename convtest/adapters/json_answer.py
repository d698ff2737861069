"""A turn's answer as one JSON document (the non-streaming endpoint), mapped by ``response_fields``.

The same :class:`~convtest.transcript.TurnTranscript` comes out as from a stream, so every check
works on both; the field mapping is configurable because the answer's shape is the server's.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from convtest.adapters.dotted import MISSING, lookup, shape
from convtest.adapters.exchange import Exchange, OneDocument
from convtest.adapters.robofy_settings import ResponseFields, robofy_settings
from convtest.exceptions import ProtocolError, StreamCutError
from convtest.stream import MAX_DEPTH, nested_too_deeply, preview_bytes
from convtest.transcript import ToolCall, TurnTranscript

__all__ = ["AnswerError", "JSONExchange", "transcript_from_json"]

_TOO_DEEP = f"JSON nested more than {MAX_DEPTH} levels deep"


class AnswerError(ValueError):
    """The JSON answer does not fit the configured field mapping; the message names the field."""


class JSONExchange(OneDocument, Exchange):
    """Read the whole body (each chunk moves the idle deadline), then map it."""

    async def read(self, response: httpx.Response) -> None:
        body = await self.whole_body(response)
        now = self.elapsed_ms()
        transcript = self._map(body)
        transcript.timings = self.timings
        self.timings.total_ms = now
        if transcript.text:
            self.timings.first_token_ms = now
        self._transcript, self.document_read = transcript, True

    def _map(self, body: bytearray) -> TurnTranscript:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise self._error(f"the answer is not valid JSON ({exc}): {preview_bytes(body, 120)}") from None
        except RecursionError:
            raise self._error(f"the answer is {_TOO_DEEP}: {preview_bytes(body, 120)}") from None
        if nested_too_deeply(body, data):
            raise self._error(f"the answer is {_TOO_DEEP}: {preview_bytes(body, 120)}")
        try:
            return transcript_from_json(data, self.response_fields(), self._transcript.user)
        except AnswerError as exc:
            raise self._error(str(exc)) from None

    def too_large_error(self) -> ProtocolError:
        limit = self.target.max_turn_bytes
        return self._error(
            f"the answer is larger than limits.max_turn_bytes ({limit} bytes); raise it in convtest.yaml"
        )

    def response_fields(self) -> ResponseFields:
        """Where the answer's parts are: the target's Robofy ``response_fields`` here."""
        return robofy_settings(self.target).response_fields

    def _error(self, problem: str) -> ProtocolError:
        message = f"bad answer from {self.url}: {problem}"
        return ProtocolError(message, target=self.target.name, transcript=self._transcript)

    def progress(self) -> str:
        return f" after {self.received} bytes of the answer"

    def cut_error(self, reason: str = "") -> StreamCutError:
        message = f"answer from {self.url} cut after {self.received} bytes" + (
            f" ({reason})" if reason else ""
        )
        return StreamCutError(message, target=self.target.name, transcript=self._transcript)


def transcript_from_json(data: Any, fields: ResponseFields, user: str = "") -> TurnTranscript:
    """Map one JSON answer to a transcript; :class:`AnswerError` names what does not fit."""
    errors = _texts(data, fields.error, "error", required=False)
    text = _texts(data, fields.text, "text", required=not errors)
    transcript = TurnTranscript(user=user, text_blocks=text, errors=errors, done=True)
    transcript.session_id = _string(data, fields.session_id, "session_id")
    transcript.message_id = _string(data, fields.message_id, "message_id")
    transcript.finish_reason = _string(data, fields.finish_reason, "finish_reason")
    steps = lookup(data, fields.steps)
    if steps is not MISSING and steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise AnswerError(
                f"`{fields.steps}` (response_fields.steps) must be a whole number, got {steps!r}"
            )
        transcript.steps = steps
    transcript.tool_calls = _tool_calls(data, fields)
    return transcript


def _texts(data: Any, path: str, key: str, *, required: bool) -> list[str]:
    """A string, or a list of strings (one block each); absent or null is [] unless required."""
    value = lookup(data, path)
    if value is MISSING or value is None:
        if required:
            raise AnswerError(f"no `{path}` (response_fields.{key}) in the answer, which is {shape(data)}")
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise AnswerError(
        f"`{path}` (response_fields.{key}) must be a string or a list of strings, got {value!r}"
    )


def _string(data: Any, path: str, key: str) -> str | None:
    value = lookup(data, path)
    if value is MISSING or value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise AnswerError(f"`{path}` (response_fields.{key}) must be a string, got {value!r}")


def _tool_calls(data: Any, fields: ResponseFields) -> list[ToolCall]:
    items = lookup(data, fields.tool_calls)
    if items is MISSING or items is None:
        return []
    if not isinstance(items, list):
        raise AnswerError(f"`{fields.tool_calls}` (response_fields.tool_calls) must be a list, got {items!r}")
    return [_tool_call(item, index, fields) for index, item in enumerate(items, 1)]


def _tool_call(item: Any, index: int, fields: ResponseFields) -> ToolCall:
    where = f"tool call {index} of `{fields.tool_calls}`"
    name = lookup(item, fields.tool_name)
    if not isinstance(name, str) or not name:
        raise AnswerError(f"{where} has no string `{fields.tool_name}` (response_fields.tool_name)")
    call_id = lookup(item, fields.tool_id)
    call = ToolCall(id=str(call_id) if call_id not in (MISSING, None) else f"call_{index}", name=name)
    call.input = _optional(lookup(item, fields.tool_input))
    call.state = "input-available"
    error = lookup(item, fields.tool_error)
    output = lookup(item, fields.tool_output)
    if error not in (MISSING, None, False):
        call.error, call.state = error if isinstance(error, str) else json.dumps(error), "output-error"
    elif output is not MISSING:
        call.output, call.state = output, "output-available"
    return call


def _optional(value: Any) -> Any:
    return None if value is MISSING else value
