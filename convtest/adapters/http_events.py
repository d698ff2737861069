"""A stream of events (SSE or NDJSON) -> one transcript, by the ``http`` target's ``events`` rules.

Pure and incremental like :mod:`convtest.stream`: :class:`NDJSONDecoder` turns byte chunks into
JSON values, :func:`sse_event` turns a server-sent event into the object the rules read, and
:class:`EventFolder` folds each event into a :class:`~convtest.adapters.reply.ReplyBuilder`.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from typing import Any

from convtest.adapters.dotted import MISSING, lookup
from convtest.adapters.http_settings import EventRule, EventRules
from convtest.adapters.reply import Finish, ReplyBuilder, ReplyError, ToolCall
from convtest.adapters.robofy_settings import ResponseFields
from convtest.stream import MAX_DEPTH, ServerSentEvent, nested_too_deeply, preview, preview_bytes

__all__ = ["EventError", "EventFolder", "NDJSONDecoder", "loads", "sse_event"]

_TOO_DEEP = f"is JSON nested more than {MAX_DEPTH} levels deep"


class EventError(ValueError):
    """An event cannot be read (not JSON, a field of the wrong type); the message names it."""


def sse_event(event: ServerSentEvent, number: int) -> dict[str, Any]:
    """``{event, data, id}``: ``data`` parsed when it is JSON, else kept as text (``[DONE]``...).

    Data that starts like a JSON object must parse: a cut or garbled one is an error."""
    data: Any = event.data
    if event.data.lstrip().startswith("{"):
        data = loads(event.data, f"event {number}")
    else:
        with contextlib.suppress(EventError):  # else text, as ``[DONE]`` is
            data = loads(event.data, f"event {number}")
    return {"event": event.event, "data": data, "id": event.id}


def loads(text: str | bytes, what: str) -> Any:
    """JSON no deeper than :data:`~convtest.stream.MAX_DEPTH`, or an error naming ``what``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        problem = f"is not valid JSON ({exc})"
    except RecursionError:
        problem = _TOO_DEEP
    else:
        if not nested_too_deeply(text, data):
            return data
        problem = _TOO_DEEP
    shown = preview(text, 80) if isinstance(text, str) else preview_bytes(text.strip(), 80)
    raise EventError(f"{what} {problem}: {shown}")


class NDJSONDecoder:
    """Bytes -> one line per JSON value, whatever the split; blank lines are skipped. Lines are
    parsed one by one (:meth:`parse`), so what came before a bad line is kept."""

    def __init__(self, max_line_bytes: int | None = None) -> None:
        self._tail = b""
        self._limit = math.inf if max_line_bytes is None else max_line_bytes
        #: lines handed out so far
        self.lines = 0
        #: the number of the first line longer than ``max_line_bytes``; nothing is decoded after it
        self.too_large: int | None = None
        #: the final fragment without a line break that :meth:`close` found not to be whole JSON
        self.unterminated = b""

    def feed(self, data: bytes) -> list[bytes]:
        if self.too_large is not None:
            return []
        *complete, tail = (self._tail + data).split(b"\n")
        lines: list[bytes] = []
        for line in (*complete, tail):
            if len(line) > self._limit:
                self.too_large, self._tail = self.lines + len(lines) + 1, b""
                break
            if line is not tail and line.strip():
                lines.append(line)
        else:
            self._tail = tail
        self.lines += len(lines)
        return lines

    def close(self) -> list[bytes]:
        """End of body: a last line without its line break counts if it is whole JSON."""
        tail, self._tail = self._tail, b""
        if not tail.strip():
            return []
        try:
            json.loads(tail)
        except (ValueError, RecursionError):
            self.unterminated = tail
            return []
        self.lines += 1
        return [tail]

    @staticmethod
    def parse(line: bytes, number: int) -> Any:
        return loads(line, f"line {number}")


class EventFolder:
    """Apply the rules to each event in order; :attr:`done` once the ``done`` rule matched."""

    def __init__(self, rules: EventRules, tool_fields: ResponseFields, user: str) -> None:
        self.rules = rules
        self.tool_fields = tool_fields
        self.reply = ReplyBuilder(user)
        self.events = 0
        self.done = False

    def feed(self, event: Any) -> None:
        self.events += 1
        rules = self.rules
        try:
            text = _read(event, rules.text, "text")
            if text is not None:
                self.reply.add(_string(text, rules.text))
            call = _read(event, rules.tool_call, "tool_call")
            if call is not None:
                self.reply.add(self._tool_call(call))
            reason = _read(event, rules.finish_reason, "finish_reason")
            if reason is not None:
                self.reply.add(Finish(_string(reason, rules.finish_reason)))
            for key in ("session_id", "message_id"):
                value = _read(event, getattr(rules, key), key)
                if value is not None:
                    setattr(self.reply.transcript, key, _string(value, getattr(rules, key)))
            error = _read(event, rules.error, "error")
            if error is not None:
                self.reply.transcript.errors.append(error if isinstance(error, str) else json.dumps(error))
        except (EventError, ReplyError) as exc:
            raise EventError(f"event {self.events}: {exc}") from None
        if rules.done is not None and _matches(event, rules.done):
            self.done = True

    def _tool_call(self, item: Any) -> ToolCall:
        fields = self.tool_fields
        name, call_id = lookup(item, fields.tool_name), lookup(item, fields.tool_id)
        known = call_id not in (MISSING, None) and self.reply.has_call(str(call_id))
        if (not isinstance(name, str) or not name) and not known:
            raise EventError(f"the tool call has no string `{fields.tool_name}`: {preview(str(item), 80)}")
        error = lookup(item, fields.tool_error)
        output = lookup(item, fields.tool_output)
        tool_input = lookup(item, fields.tool_input)
        return ToolCall(
            name=name if isinstance(name, str) else "",
            input=None if tool_input is MISSING else tool_input,
            output=None if output is MISSING else output,
            error=None
            if error in (MISSING, None, False)
            else (error if isinstance(error, str) else json.dumps(error)),
            id=None if call_id in (MISSING, None) else str(call_id),
        )


def _read(event: Any, rule: EventRule | None, key: str) -> Any:
    """The value the rule reads from this event; None when it does not apply."""
    if rule is None or not _matches(event, rule):
        return None
    value = lookup(event, rule.path)
    return None if value is MISSING else value


def _matches(event: Any, rule: EventRule) -> bool:
    return all(_equal(lookup(event, path), wanted) for path, wanted in rule.when.items())


def _equal(value: Any, wanted: tuple[str, ...]) -> bool:
    if value is MISSING or isinstance(value, Mapping | list):
        return False
    return (str(value).lower() if isinstance(value, bool) or value is None else str(value)) in wanted


def _string(value: Any, rule: EventRule | None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    path = rule.path if rule is not None else "?"
    raise EventError(f"`{path}` must be a string, got {preview(json.dumps(value, default=str), 60)}")
