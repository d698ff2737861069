"""The values a turn saves for later turns (``save:``), taken from its transcript.

Values are the transcript's own objects, not copies; a value that is not there is a failure of
the turn, worded like a check's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from convtest.checks.base import Failure
from convtest.checks.wording import calls_actual, excerpt, json_text, pattern_text, plural, quote
from convtest.models import SaveRule
from convtest.safe_regex import RegexTimeout, search
from convtest.transcript import ToolCall, TurnTranscript

__all__ = ["extract_saves"]

_ABSENT: Final[Any] = object()


class _SaveMiss(Exception):
    """A value a save rule looked for is not in the transcript."""

    def __init__(self, problem: str, actual: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.actual = actual


def extract_saves(
    rules: Sequence[SaveRule], transcript: TurnTranscript
) -> tuple[dict[str, Any], list[Failure]]:
    """The values a turn saves for later turns, and a failure for each one not found.

    Values are the transcript's own objects, not copies.
    """
    saved: dict[str, Any] = {}
    failures: list[Failure] = []
    for rule in rules:
        try:
            saved[rule.name] = _EXTRACTORS[rule.source](rule, transcript)
        except _SaveMiss as miss:
            failures.append(Failure(f"save {quote(rule.name)}: {miss.problem}", miss.actual, rule.location))
    return saved, failures


def _save_text(rule: SaveRule, transcript: TurnTranscript) -> Any:
    text = transcript.text
    if rule.regex is None:
        if not text:
            raise _SaveMiss("the turn has no text", 'text was ""')
        return text
    regex = pattern_text(rule.regex)
    try:
        match = search(rule.regex, text, rule.regex_seconds)
    except RegexTimeout as exc:
        raise _SaveMiss(f"regex {regex} could not be matched", str(exc)) from None
    if match is None:
        raise _SaveMiss(f"regex {regex} did not match the text", f"text was {excerpt(text)}")
    group = rule.group if isinstance(rule.group, int) else quote(rule.group)
    try:
        value = match.group(rule.group)
    except IndexError:
        raise _SaveMiss(f"regex {regex} has no group {group}", f"match was {quote(match.group())}") from None
    if value is None:
        raise _SaveMiss(
            f"group {group} of regex {regex} took no part in the match", f"match was {quote(match.group())}"
        )
    return value


def _saved_call(rule: SaveRule, calls: Sequence[ToolCall]) -> ToolCall:
    if rule.tool is None:
        if not calls:
            raise _SaveMiss("no tool call in this turn", "no tool calls")
        return calls[-1]
    call = next((call for call in calls if call.name == rule.tool), None)
    if call is None:
        raise _SaveMiss(f"no call to {rule.tool} in this turn", calls_actual(calls))
    return call


def _save_tool(part: str) -> Callable[[SaveRule, TurnTranscript], Any]:
    def extract(rule: SaveRule, transcript: TurnTranscript) -> Any:
        call = _saved_call(rule, transcript.tool_calls)
        value = call.input if part == "input" else call.output
        if value is None:
            failed = f"the call failed with {quote(call.error)}" if call.error is not None else ""
            raise _SaveMiss(
                f"call to {call.name} has no {part}", failed or calls_actual(transcript.tool_calls)
            )
        return value if rule.path is None else _walk(value, rule.path, part, call.name)

    return extract


def _walk(value: Any, path: str, part: str, tool: str) -> Any:
    segments = path.split(".")
    current = value
    for depth, segment in enumerate(segments):
        step = _step(current, segment)
        if step is _ABSENT:
            where = ".".join((part, *segments[:depth]))
            reason = _absent_reason(where, current, segment)
            raise _SaveMiss(
                f"path {path} not found in {part} of {tool}", f"{reason}; {part} was {json_text(value)}"
            )
        current = step
    return current


def _step(value: Any, segment: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(segment, _ABSENT)
    if isinstance(value, list | tuple) and segment.isdigit() and int(segment) < len(value):
        return value[int(segment)]
    return _ABSENT


def _absent_reason(where: str, value: Any, segment: str) -> str:
    if isinstance(value, Mapping):
        return f"{where} has no key {quote(segment)}"
    if isinstance(value, list | tuple):
        return f"{where} has {plural(len(value), 'item')}" if segment.isdigit() else f"{where} is a list"
    return f"{where} is {json_text(value)}, not an object or list"


def _save_field(name: str) -> Callable[[SaveRule, TurnTranscript], Any]:
    def extract(rule: SaveRule, transcript: TurnTranscript) -> Any:
        value = getattr(transcript, name)
        if value is None:
            problem = transcript.invalid.get(name)
            actual = f"the stream carried no {name.replace('_', ' ')}" if problem is None else problem
            raise _SaveMiss(f"no {name} in this turn", actual)
        return value

    return extract


_EXTRACTORS: dict[str, Callable[[SaveRule, TurnTranscript], Any]] = {
    "text": _save_text,
    "tool_input": _save_tool("input"),
    "tool_output": _save_tool("output"),
    "session_id": _save_field("session_id"),
    "message_id": _save_field("message_id"),
}
