"""An answer that arrives in pieces, folded into one :class:`~convtest.transcript.TurnTranscript`.

The ``python`` adapter's callable returns a string or a dict, or yields text chunks and events;
the ``http`` adapter maps each event of a stream to the same pieces. All of them go through
:class:`ReplyBuilder`, so a returned answer and a streamed one give the same transcript. The
event classes are what a user's generator may yield (dicts with the same keys work as well).
Pure: no asyncio, no threads, no HTTP.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from convtest.transcript import ToolCall as RecordedCall
from convtest.transcript import TurnTranscript

__all__ = ["REPLY_KEYS", "Finish", "ReplyBuilder", "ReplyError", "Text", "ToolCall"]

#: the keys of a returned (or yielded) dict
REPLY_KEYS: Final = frozenset(
    {"text", "tool_calls", "finish_reason", "session_id", "message_id", "reasoning", "errors", "steps"}
)
_TOOL_KEYS: Final = frozenset({"name", "input", "output", "error", "id"})


@dataclass(frozen=True, slots=True)
class Text:
    """A chunk of the reply's text, appended to the current text block."""

    delta: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool the agent called, with what it got back (``output``) or how it failed (``error``).

    Text after a tool call starts a new block in a new step, as a model's answer after its tool
    step does. A call with the ``id`` of an earlier one completes it (its output, say)."""

    name: str
    input: Any = None
    output: Any = None
    error: str | None = None
    #: None: ``call_<n>``
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """How the answer ended (``stop`` unless the agent says otherwise), and its session id."""

    reason: str = "stop"
    session_id: str | None = None


class ReplyError(ValueError):
    """What the callable handed back is not an answer; the message says what was wrong."""


class ReplyBuilder:
    """Fold returned values and yielded items, in order, into one transcript."""

    def __init__(self, user: str) -> None:
        self.transcript = TurnTranscript(user=user)
        self._phase: Literal["", "text", "tools"] = ""
        self._steps_given = False

    @property
    def has_text(self) -> bool:
        return any(self.transcript.text_blocks)

    def add(self, item: Any) -> None:
        """One returned value or one yielded item."""
        if isinstance(item, str):
            self._text(item)
        elif isinstance(item, Text):
            self._text(item.delta)
        elif isinstance(item, ToolCall):
            self._tool(item)
        elif isinstance(item, Finish):
            self.transcript.finish_reason = item.reason
            if item.session_id is not None:
                self.transcript.session_id = str(item.session_id)
        elif isinstance(item, Mapping):
            self._mapping(item)
        else:
            raise ReplyError(
                f"{type(item).__name__} {item!r:.60} is not an answer; return or yield a string, a dict "
                "or convtest.adapters.python_target.Text / ToolCall / Finish"
            )

    def finish(self, default_reason: str | None = "stop") -> TurnTranscript:
        """The answer is complete: ``default_reason`` unless the agent said how it finished."""
        transcript = self.transcript
        transcript.finish_reason = transcript.finish_reason or default_reason
        transcript.done = True
        return transcript

    def _text(self, delta: str) -> None:
        if self._phase != "text":
            self._new_step("text")
            self.transcript.text_blocks.append("")
        self.transcript.text_blocks[-1] += delta

    def has_call(self, call_id: str) -> bool:
        return any(call.id == call_id for call in self.transcript.tool_calls)

    def _tool(self, call: ToolCall) -> None:
        for recorded in self.transcript.tool_calls:
            if call.id is not None and recorded.id == call.id:
                _complete(recorded, call)
                return
        if self._phase != "tools":
            self._new_step("tools")
        calls = self.transcript.tool_calls
        recorded = RecordedCall(id=call.id or f"call_{len(calls) + 1}", name=call.name, input=call.input)
        recorded.step, recorded.state = max(self.transcript.steps - 1, 0), "input-available"
        _complete(recorded, call)
        calls.append(recorded)

    def _new_step(self, phase: Literal["text", "tools"]) -> None:
        self._phase = phase
        if not self._steps_given:
            self.transcript.steps += 1

    def _mapping(self, item: Mapping[Any, Any]) -> None:
        _reject_unknown(item, REPLY_KEYS, "a dict answer")
        for call in _list(item.get("tool_calls"), "tool_calls"):  # a model calls tools, then answers
            self._tool(_tool_call(call))
        text = item.get("text")
        if isinstance(text, list):
            for block in _strings(text, "text"):
                self._phase = ""
                self._text(block)
        elif text is not None:
            self._text(_string(text, "text"))
        transcript = self.transcript
        transcript.reasoning_blocks += _strings(_as_list(item.get("reasoning")), "reasoning")
        transcript.errors += _strings(_as_list(item.get("errors")), "errors")
        for key in ("finish_reason", "session_id", "message_id"):
            if item.get(key) is not None:
                setattr(transcript, key, _string(item[key], key))
        if item.get("steps") is not None:
            steps = item["steps"]
            if isinstance(steps, bool) or not isinstance(steps, int):
                raise ReplyError(f"`steps` must be a whole number, got {steps!r}")
            transcript.steps, self._steps_given = steps, True


def _complete(recorded: RecordedCall, call: ToolCall) -> None:
    """What a later event with the same id adds to a call: its input, output or error."""
    if call.name:
        recorded.name = call.name
    if call.input is not None:
        recorded.input = call.input
    if call.error is not None:
        recorded.error, recorded.state = call.error, "output-error"
    elif call.output is not None:
        recorded.output, recorded.state = call.output, "output-available"


def _tool_call(call: Any) -> ToolCall:
    if isinstance(call, ToolCall):
        return call
    if not isinstance(call, Mapping):
        raise ReplyError(f"a tool call must be a dict or a ToolCall, got {call!r:.60}")
    _reject_unknown(call, _TOOL_KEYS, "a tool call")
    name = call.get("name")
    if not isinstance(name, str) or not name:
        raise ReplyError(f"a tool call needs a string `name`, got {call!r:.80}")
    error = call.get("error")
    if error is not None and not isinstance(error, str):
        error = json.dumps(error, default=str)
    call_id = call.get("id")
    return ToolCall(
        name, call.get("input"), call.get("output"), error, None if call_id is None else str(call_id)
    )


def _reject_unknown(item: Mapping[Any, Any], allowed: frozenset[str], what: str) -> None:
    for key in item:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" — did you mean `{close[0]}`?" if close else f" (keys: {', '.join(sorted(allowed))})"
            raise ReplyError(f"unknown key `{key}` in {what}{hint}")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _list(value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReplyError(f"`{key}` must be a list, got {value!r:.60}")
    return value


def _strings(values: list[Any], key: str) -> list[str]:
    return [_string(value, key) for value in values]


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ReplyError(f"`{key}` must be a string, got {type(value).__name__} {value!r:.60}")
    return value
