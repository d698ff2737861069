"""A turn's expectations checked against its transcript, and the values a turn saves.

Every check of a turn is evaluated so one report lists all that failed. This runs on every turn:
the passing path only compares, and descriptions, excerpts and JSON are built on failure only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from convtest.exceptions import Location, TemplateRenderError
from convtest.models import (
    NO_ERRORS,
    Count,
    DataCheck,
    ErrorsCheck,
    Expectation,
    SaveRule,
    SourcesCheck,
    TextCheck,
    ToolCallPattern,
    ToolCheck,
    UnknownEventsCheck,
    Value,
)
from convtest.templating import Template
from convtest.transcript import Source, Timings, ToolCall, TurnTranscript

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "Failure",
    "check_turn",
    "describe_text_check",
    "describe_tool_check",
    "extract_saves",
    "subset_mismatch",
]

#: texts longer than this are shown as head … tail, with their length
_TEXT_SHOWN = 300
_HEAD = 200
_TAIL = 80
#: characters shown on each side of an unwanted match inside a long text
_AROUND = 60
_JSON_SHOWN = 120
_CALLS_SHOWN = 10
_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class Failure:
    """One expectation that did not hold."""

    #: what was expected, e.g. ``text contains "Ada"``
    check: str
    #: what came instead, short and readable, e.g. ``text was "Hello!"``
    actual: str
    #: the YAML line of the check
    location: Location | None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.check} — {self.actual}"


class _OperandError(Exception):
    """An operand could not be prepared (template, rendered regex): its check fails saying why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_turn(expect: Expectation, transcript: TurnTranscript, context: Mapping[str, Any]) -> list[Failure]:
    """Every failed check of a turn, in the order text, reasoning, tool calls, parts, finish, latency."""
    failures: list[Failure] = []
    if expect.text:
        failures.extend(_text_failures(expect.text, transcript.text, context))
    if expect.reasoning:
        failures.extend(_text_failures(expect.reasoning, transcript.reasoning, context, "reasoning"))
    for check in expect.tool_calls:
        failures.extend(_TOOL_OPS[check.op](check, transcript.tool_calls, context))
    failures.extend(_part_failures(expect, transcript, context))
    failures.extend(_finish_failures(expect, transcript.finish_reason))
    failures.extend(_latency_failures(expect, transcript.timings))
    return failures


# --- shared formatting -------------------------------------------------------------------------


def _quote(value: str) -> str:
    """A string as a reader expects it: double quotes, non-ASCII kept readable."""
    return json.dumps(value, ensure_ascii=False)


def _quote_all(values: Sequence[str]) -> str:
    return ", ".join(_quote(value) for value in values)


def _excerpt(text: str) -> str:
    """The whole text when short; head … tail and the length when not (answers end with the point)."""
    if len(text) <= _TEXT_SHOWN:
        return _quote(text)
    return f"{_quote(text[:_HEAD] + '…' + text[-_TAIL:])} ({len(text)} chars)"


def _template_text(value: Value, context: Mapping[str, Any] | None) -> str:
    """A template rendered for display, or its source when it cannot be rendered."""
    if not isinstance(value, Template):
        return value
    if context is None:
        return value.source
    try:
        return value.render(context)
    except TemplateRenderError:
        return value.source


def _json_default(context: Mapping[str, Any] | None, value: object) -> object:
    return _template_text(value, context) if isinstance(value, Template) else str(value)


def _json(value: Any, context: Mapping[str, Any] | None = None) -> str:
    """Compact one-line JSON, cut at ~120 characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=partial(_json_default, context))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _JSON_SHOWN else text[: _JSON_SHOWN - 1] + "…"


def _render(value: Value, context: Mapping[str, Any]) -> str:
    if not isinstance(value, Template):
        return value
    try:
        return value.render(context)
    except TemplateRenderError as exc:
        # the exception repeats location and source; the failure already shows both its own way
        reason = str(exc).removeprefix(f"{value.location}: template {value.source!r}: ")
        raise _OperandError(f"could not render template {_quote(value.source)}: {reason}") from None


def _regex_text(source: str, ignore_case: bool) -> str:
    return f"/{source}/{'i' if ignore_case else ''}"


def _pattern_text(pattern: re.Pattern[str]) -> str:
    return _regex_text(pattern.pattern, bool(pattern.flags & re.IGNORECASE))


# --- text checks -------------------------------------------------------------------------------


class _Subject:
    """The turn's text (or reasoning), casefolded at most once however many checks ignore case."""

    __slots__ = ("_folded", "name", "text")

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        #: what the checks are about, as failures say it: ``text`` or ``reasoning``
        self.name = name
        self._folded: str | None = None

    def view(self, ignore_case: bool) -> str:
        if not ignore_case:
            return self.text
        if self._folded is None:
            self._folded = self.text.casefold()
        return self._folded


@dataclass(frozen=True, slots=True)
class _Miss:
    """A text check that did not hold, before it is described."""

    check: TextCheck
    #: detail beyond the text itself; "" when the text says it all
    note: str
    #: the check could not be evaluated at all (template, regex); combinators never hide it
    error: bool = False


def _text_failures(
    checks: Sequence[TextCheck], text: str, context: Mapping[str, Any], name: str = "text"
) -> list[Failure]:
    subject = _Subject(text, name)
    return [
        _text_failure(miss, subject, context)
        for check in checks
        for miss in _evaluate(check, subject, context)
    ]


def _text_failure(miss: _Miss, subject: _Subject, context: Mapping[str, Any]) -> Failure:
    actual = miss.note
    if not miss.error:
        actual = f"{subject.name} was {_excerpt(subject.text)}" + (f"; {miss.note}" if miss.note else "")
    return Failure(describe_text_check(miss.check, context, subject.name), actual, miss.check.location)


def _evaluate(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> Sequence[_Miss]:
    """The misses of one check; an empty tuple (no allocation) when it holds."""
    combinator = _COMBINATORS.get(check.op)
    if combinator is not None:
        return combinator(check, subject, context)
    try:
        note = _LEAF_OPS[check.op](check, subject, context)
    except _OperandError as exc:
        return (_Miss(check, exc.message, error=True),)
    return () if note is None else (_Miss(check, note),)


#: returns None when the check holds, else the failure's note ("" when the text says it all)
_LeafOp = Callable[[TextCheck, _Subject, Mapping[str, Any]], str | None]


def _fold(value: str, ignore_case: bool) -> str:
    return value.casefold() if ignore_case else value


def _compare(test: Callable[[str, str], bool]) -> _LeafOp:
    """A one-operand string predicate: equals, starts_with, ends_with."""

    def op(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> str | None:
        value = _fold(_render(check.values[0], context), check.ignore_case)
        return None if test(subject.view(check.ignore_case), value) else ""

    return op


def _contains(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> str | None:
    text = subject.view(check.ignore_case)
    values = [_render(value, context) for value in check.values]
    missing = [value for value in values if _fold(value, check.ignore_case) not in text]
    if not missing:
        return None
    return f"missing {_quote_all(missing)}" if len(values) > 1 else ""


def _contains_any(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> str | None:
    text = subject.view(check.ignore_case)
    found = any(_fold(_render(value, context), check.ignore_case) in text for value in check.values)
    return None if found else ""


def _position(text: str, start: int, end: int) -> str:
    """Where an unwanted match is, with its surroundings when the text is too long to show whole."""
    if len(text) <= _TEXT_SHOWN:
        return ""
    low, high = max(0, start - _AROUND), min(len(text), end + _AROUND)
    snippet = ("…" if low else "") + text[low:high] + ("…" if high < len(text) else "")
    return f" at character {start + 1}: {_quote(snippet)}"


def _not_contains(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> str | None:
    value = _fold(_render(check.values[0], context), check.ignore_case)
    # with ignore_case the index is into the casefolded text; it only differs after ß-like letters
    start = subject.view(check.ignore_case).find(value)
    if start < 0:
        return None
    where = _position(subject.text, start, start + len(value))
    return f"found{where}" if where else ""


def _regex(check: TextCheck, context: Mapping[str, Any]) -> re.Pattern[str]:
    if check.pattern is not None:
        return check.pattern
    source = _render(check.values[0], context)
    try:
        return re.compile(source, re.IGNORECASE if check.ignore_case else 0)
    except re.error as exc:
        raise _OperandError(
            f"rendered regex {_regex_text(source, check.ignore_case)} is invalid: {exc}"
        ) from None


def _matches(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> str | None:
    return None if _regex(check, context).search(subject.text) else ""


def _not_matches(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> str | None:
    match = _regex(check, context).search(subject.text)
    if match is None:
        return None
    return f"matched {_quote(match.group())}{_position(subject.text, match.start(), match.end())}"


def _number(check: TextCheck) -> int:
    if check.number is None:  # the loader guarantees it; reaching this is a bug
        raise ValueError(f"{check.op} check at {check.location} has no number")
    return check.number


def _length_note(text: str) -> str:
    return "" if len(text) > _TEXT_SHOWN else f"{len(text)} characters"  # a long excerpt has it


def _min_length(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> str | None:
    return None if len(subject.text) >= _number(check) else _length_note(subject.text)


def _max_length(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> str | None:
    return None if len(subject.text) <= _number(check) else _length_note(subject.text)


def _errors(results: Sequence[Sequence[_Miss]]) -> tuple[_Miss, ...]:
    return tuple(miss for misses in results for miss in misses if miss.error)


def _all_of(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> Sequence[_Miss]:
    """The children's own misses: each keeps its line, which reads better than one summary."""
    return tuple(miss for child in check.children for miss in _evaluate(child, subject, context))


def _any_of(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> Sequence[_Miss]:
    # every alternative runs, so a broken template in one is reported even when another holds
    results = [_evaluate(child, subject, context) for child in check.children]
    errors = _errors(results)
    if any(not misses for misses in results):
        return errors
    details = [
        f"alternative {index}: {detail}"
        for index, (child, misses) in enumerate(zip(check.children, results, strict=True), 1)
        if (detail := _brief(child, misses, context, subject.name))
    ]
    note = "no alternative held" + (f" ({'; '.join(details)})" if details else "")
    return (*errors, _Miss(check, note))


def _brief(child: TextCheck, misses: Sequence[_Miss], context: Mapping[str, Any], name: str) -> str:
    """Why one alternative failed, beyond the text that every alternative saw."""
    parts = []
    for miss in misses:
        if miss.error:
            continue
        if miss.check is child:
            parts.append(miss.note)
        else:
            note = f" ({miss.note})" if miss.note else ""
            parts.append(f"{describe_text_check(miss.check, context, name)} did not hold{note}")
    return "; ".join(part for part in parts if part)


def _not(check: TextCheck, subject: _Subject, context: Mapping[str, Any]) -> Sequence[_Miss]:
    misses = _evaluate(check.children[0], subject, context)
    errors = _errors((misses,))
    if errors:
        return errors
    return () if misses else (_Miss(check, ""),)


_LEAF_OPS: dict[str, _LeafOp] = {
    "equals": _compare(str.__eq__),
    "starts_with": _compare(str.startswith),
    "ends_with": _compare(str.endswith),
    "contains": _contains,
    "contains_all": _contains,
    "contains_any": _contains_any,
    "not_contains": _not_contains,
    "matches": _matches,
    "not_matches": _not_matches,
    "min_length": _min_length,
    "max_length": _max_length,
}

_COMBINATORS: dict[str, Callable[[TextCheck, _Subject, Mapping[str, Any]], Sequence[_Miss]]] = {
    "all_of": _all_of,
    "any_of": _any_of,
    "not": _not,
}


# --- describing text checks --------------------------------------------------------------------

_Describer = Callable[[TextCheck, Mapping[str, Any] | None, str], str]

_STRING_PHRASES = {
    "equals": "equals",
    "contains": "contains",
    "contains_all": "contains all of",
    "contains_any": "contains any of",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "ends_with": "ends with",
}


def describe_text_check(
    check: TextCheck, context: Mapping[str, Any] | None = None, subject: str = "text"
) -> str:
    """What a text check expects, in words; templates rendered with ``context`` when they can be.

    ``subject`` names what is checked: ``text``, or ``reasoning`` for ``expect.reasoning``.
    """
    return _DESCRIBERS[check.op](check, context, subject)


def _describe_strings(check: TextCheck, context: Mapping[str, Any] | None, subject: str) -> str:
    phrase = _STRING_PHRASES[check.op]
    if check.op == "contains" and len(check.values) > 1:
        phrase = _STRING_PHRASES["contains_all"]
    values = ", ".join(_quote(_template_text(value, context)) for value in check.values)
    return f"{subject} {phrase} {values}" + (" (ignoring case)" if check.ignore_case else "")


def _describe_regex(check: TextCheck, context: Mapping[str, Any] | None, subject: str) -> str:
    phrase = "matches" if check.op == "matches" else "does not match"
    if check.pattern is not None:
        return f"{subject} {phrase} {_pattern_text(check.pattern)}"
    return f"{subject} {phrase} {_regex_text(_template_text(check.values[0], context), check.ignore_case)}"


def _describe_length(check: TextCheck, context: Mapping[str, Any] | None, subject: str) -> str:
    bound = "at least" if check.op == "min_length" else "at most"
    return f"{subject} is {bound} {check.number} characters long"


def _describe_group(check: TextCheck, context: Mapping[str, Any] | None, subject: str) -> str:
    children = "; ".join(describe_text_check(child, context, subject) for child in check.children)
    return f"{check.op.replace('_', ' ')} [{children}]"


def _describe_not(check: TextCheck, context: Mapping[str, Any] | None, subject: str) -> str:
    return f"not ({describe_text_check(check.children[0], context, subject)})"


_DESCRIBERS: dict[str, _Describer] = {
    **dict.fromkeys(_STRING_PHRASES, _describe_strings),
    "matches": _describe_regex,
    "not_matches": _describe_regex,
    "min_length": _describe_length,
    "max_length": _describe_length,
    "all_of": _describe_group,
    "any_of": _describe_group,
    "not": _describe_not,
}


# --- subset matching ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Mismatch:
    """The first place where an actual value does not contain the expected one."""

    kind: str
    expected: Any
    actual: Any
    #: path segments, innermost first: appended while the recursion unwinds
    segments: list[str] = field(default_factory=list)

    def describe(self, root: str) -> str:
        path = ".".join((root, *reversed(self.segments)))
        return _MISMATCH_WORDS[self.kind](path, self)


_MISMATCH_WORDS: dict[str, Callable[[str, _Mismatch], str]] = {
    "missing": lambda path, m: f"{path} is missing",
    "object": lambda path, m: f"{path} was {_json(m.actual)}, expected an object",
    "list": lambda path, m: f"{path} was {_json(m.actual)}, expected a list",
    "length": lambda path, m: f"{path} has {len(m.actual)} items, expected {len(m.expected)}",
    "value": lambda path, m: f"{path} was {_json(m.actual)}, expected {_json(m.expected)}",
}


def subset_mismatch(
    expected: Any, actual: Any, path: str = "input", context: Mapping[str, Any] | None = None
) -> str | None:
    """Where ``actual`` fails to contain ``expected`` (``input.items.0.sku was …``), or None.

    Dicts match by their expected keys, recursively; lists need equal length and element-wise
    matches; a string matches a number with the same ``str()`` (templates render to strings).
    Template leaves are rendered with ``context``.
    """
    try:
        mismatch = _find_mismatch(expected, actual, context or {})
    except _OperandError as exc:
        raise TemplateRenderError(exc.message) from None
    return None if mismatch is None else mismatch.describe(path)


def _find_mismatch(expected: Any, actual: Any, context: Mapping[str, Any]) -> _Mismatch | None:
    if isinstance(expected, Mapping):
        return _mapping_mismatch(expected, actual, context)
    if isinstance(expected, list | tuple):
        return _list_mismatch(expected, actual, context)
    if isinstance(expected, Template):
        expected = _render(expected, context)
    return None if _scalar_equal(expected, actual) else _Mismatch("value", expected, actual)


def _mapping_mismatch(
    expected: Mapping[Any, Any], actual: Any, context: Mapping[str, Any]
) -> _Mismatch | None:
    if not isinstance(actual, Mapping):
        return _Mismatch("object", expected, actual)
    for key, item in expected.items():
        value = actual.get(key, _ABSENT)
        found = _Mismatch("missing", item, None) if value is _ABSENT else _find_mismatch(item, value, context)
        if found is not None:
            found.segments.append(str(key))
            return found
    return None


def _list_mismatch(expected: Sequence[Any], actual: Any, context: Mapping[str, Any]) -> _Mismatch | None:
    if not isinstance(actual, list | tuple):
        return _Mismatch("list", expected, actual)
    if len(actual) != len(expected):
        return _Mismatch("length", expected, actual)
    for index, (item, value) in enumerate(zip(expected, actual, strict=True)):
        found = _find_mismatch(item, value, context)
        if found is not None:
            found.segments.append(str(index))
            return found
    return None


def _scalar_equal(expected: Any, actual: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected  # True must not equal 1
    if isinstance(expected, str) and isinstance(actual, int | float):
        return str(actual) == expected  # only this way: a number in the YAML means a number
    return bool(expected == actual)


# --- tool-call checks --------------------------------------------------------------------------

_ToolOp = Callable[[ToolCheck, Sequence[ToolCall], Mapping[str, Any]], list[Failure]]


def describe_tool_check(check: ToolCheck, context: Mapping[str, Any] | None = None) -> str:
    """What a tool-call check expects, in words."""
    return _TOOL_DESCRIBERS[check.op](check, context)


def _describe_pattern(pattern: ToolCallPattern, context: Mapping[str, Any] | None) -> str:
    parts = []
    if pattern.has_input:
        parts.append(f"input ⊇ {_json(pattern.input, context)}")
    if pattern.input_schema is not None:
        parts.append("input valid against input_schema")
    if pattern.has_output:
        parts.append(f"output ⊇ {_json(pattern.output, context)}")
    if pattern.error is not None:
        parts.append(_ERROR_WORDS.get(pattern.error, f"error contains {_quote(str(pattern.error))}"))
    return f"{pattern.name}({', '.join(parts)})" if parts else pattern.name


_ERROR_WORDS: dict[bool | str, str] = {True: "failed", False: "did not fail"}


def _describe_patterns(check: ToolCheck, context: Mapping[str, Any] | None) -> str:
    return ", ".join(_describe_pattern(pattern, context) for pattern in check.calls)


def _or_list(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


_TOOL_DESCRIBERS: dict[str, Callable[[ToolCheck, Mapping[str, Any] | None], str]] = {
    "sequence": lambda check, context: f"tool calls are exactly [{_describe_patterns(check, context)}]",
    "called": lambda check, context: f"tool calls include {_describe_patterns(check, context)}",
    "not_called": lambda check, context: f"no call to {_or_list(check.names)}",
    "none": lambda check, context: "no tool calls",
    "count": lambda check, context: f"exactly {_plural(check.number or 0, 'tool call')}",
}


def _format_call(call: ToolCall) -> str:
    """``name(input={…}) → {…}``, or ``→ error "…"`` when the call failed."""
    text = f"{call.name}(input={_json(call.input)})" if call.input is not None else f"{call.name}()"
    if call.error is not None:
        return f"{text} → error {_quote(call.error)}"
    return text if call.output is None else f"{text} → {_json(call.output)}"


def _call_list(calls: Sequence[ToolCall]) -> str:
    shown = [_format_call(call) for call in calls[:_CALLS_SHOWN]]
    if len(calls) > _CALLS_SHOWN:
        shown.append(f"… {len(calls) - _CALLS_SHOWN} more")
    return f"[{', '.join(shown)}]"


def _calls_actual(calls: Sequence[ToolCall]) -> str:
    return f"calls were {_call_list(calls)}" if calls else "no tool calls"


def _pattern_mismatch(pattern: ToolCallPattern, call: ToolCall, context: Mapping[str, Any]) -> str | None:
    """Why a call with the pattern's name does not match its input/output/error checks, or None."""
    if pattern.has_input and (found := _find_mismatch(pattern.input, call.input, context)):
        return found.describe("input")
    if pattern.input_schema is not None and (problem := _schema_problem(pattern.input_schema, call.input)):
        return problem
    if pattern.error is not None and (problem := _error_problem(pattern.error, call)):
        return problem
    if not pattern.has_output:
        return None
    if call.output is None and call.error is not None:
        return f"no output, the call failed with {_quote(call.error)}"
    found = _find_mismatch(pattern.output, call.output, context)
    return None if found is None else found.describe("output")


def _schema_problem(validator: Validator, value: Any) -> str | None:
    """The most relevant schema violation, at its path: ``input.order_id: 1234 is not of type 'string'``."""
    import jsonschema.exceptions  # ~90 ms: paid only by suites that use input_schema
    import referencing.exceptions

    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    except referencing.exceptions.Unresolvable as exc:  # a $ref elsewhere: never fetched
        return f"input_schema cannot be used: unresolvable $ref ({exc})"
    if error is None:
        return None
    path = ".".join(("input", *(str(part) for part in error.absolute_path)))
    return f"{path}: {error.message} (input_schema)"


def _error_problem(expected: bool | str, call: ToolCall) -> str | None:
    if call.error is None:
        return "the call did not fail" if expected is not False else None
    if expected is False:
        return f"the call failed with {_quote(call.error)}"
    if expected is True or expected in call.error:
        return None
    return f"error was {_quote(call.error)}"


def _sequence(check: ToolCheck, calls: Sequence[ToolCall], context: Mapping[str, Any]) -> list[Failure]:
    try:
        problems = _sequence_problems(check.calls, calls, context)
    except _OperandError as exc:
        return [Failure(describe_tool_check(check, context), exc.message, check.location)]
    if not problems:
        return []
    actual = "; ".join((*problems, _calls_actual(calls)))
    return [Failure(describe_tool_check(check, context), actual, check.location)]


def _sequence_problems(
    patterns: Sequence[ToolCallPattern], calls: Sequence[ToolCall], context: Mapping[str, Any]
) -> list[str]:
    problems = []
    for index, (pattern, call) in enumerate(zip(patterns, calls, strict=False), 1):
        if call.name != pattern.name:
            problems.append(f"call {index} was {call.name}, expected {pattern.name}")
        elif (mismatch := _pattern_mismatch(pattern, call, context)) is not None:
            problems.append(f"call {index} {call.name}: {mismatch}")
    extra = len(calls) - len(patterns)
    if extra < 0:
        start = len(calls)
        problems.extend(f"missing call {start + i} {p.name}" for i, p in enumerate(patterns[start:], 1))
    else:
        start = len(patterns)
        problems.extend(f"unexpected call {start + i} {c.name}" for i, c in enumerate(calls[start:], 1))
    return problems


def _called(check: ToolCheck, calls: Sequence[ToolCall], context: Mapping[str, Any]) -> list[Failure]:
    """One failure per pattern no call matches, at the pattern's own line."""
    failures = []
    for pattern in check.calls:
        try:
            near_miss = _unmatched(pattern, calls, context)
            if near_miss is None:
                continue
            actual = f"{near_miss}; {_calls_actual(calls)}" if near_miss else _calls_actual(calls)
        except _OperandError as exc:
            actual = exc.message
        description = f"tool calls include {_describe_pattern(pattern, context)}"
        failures.append(Failure(description, actual, pattern.location))
    return failures


def _unmatched(pattern: ToolCallPattern, calls: Sequence[ToolCall], context: Mapping[str, Any]) -> str | None:
    """None when a call matches; else why the first call of that name did not ("" if none)."""
    near_miss = ""
    for index, call in enumerate(calls, 1):
        if call.name != pattern.name:
            continue
        mismatch = _pattern_mismatch(pattern, call, context)
        if mismatch is None:
            return None
        near_miss = near_miss or f"call {index} {call.name}: {mismatch}"
    return near_miss


def _not_called(check: ToolCheck, calls: Sequence[ToolCall], context: Mapping[str, Any]) -> list[Failure]:
    made = [name for name in check.names if any(call.name == name for call in calls)]
    if not made:
        return []
    verb = "was" if len(made) == 1 else "were"
    actual = f"{' and '.join(made)} {verb} called; {_calls_actual(calls)}"
    return [Failure(describe_tool_check(check, context), actual, check.location)]


def _none(check: ToolCheck, calls: Sequence[ToolCall], context: Mapping[str, Any]) -> list[Failure]:
    return [Failure("no tool calls", _calls_actual(calls), check.location)] if calls else []


def _count(check: ToolCheck, calls: Sequence[ToolCall], context: Mapping[str, Any]) -> list[Failure]:
    if len(calls) == check.number:
        return []
    actual = f"{_plural(len(calls), 'call')} made: {_call_list(calls)}" if calls else "no tool calls"
    return [Failure(describe_tool_check(check, context), actual, check.location)]


_TOOL_OPS: dict[str, _ToolOp] = {
    "sequence": _sequence,
    "called": _called,
    "not_called": _not_called,
    "none": _none,
    "count": _count,
}


# --- sources, data parts, error chunks, steps, abort, unknown events --------------------------


def _part_failures(
    expect: Expectation, transcript: TurnTranscript, context: Mapping[str, Any]
) -> list[Failure]:
    failures: list[Failure] = []
    if expect.sources is not None:
        failures.extend(_sources_failures(expect.sources, transcript.sources))
    for data_check in expect.data:
        failure = _data_failure(data_check, transcript, context)
        if failure is not None:
            failures.append(failure)
    if expect.errors is not None and (transcript.errors or expect.errors is not NO_ERRORS):
        failures.extend(_errors_failures(expect.errors, transcript.errors))
    if expect.steps is not None and not _within(expect.steps, transcript.steps):
        actual = f"{_plural(transcript.steps, 'step')} (start-step chunks)"
        failures.append(Failure(_describe_count(expect.steps, "step"), actual, expect.steps.location))
    if expect.aborted is not None and expect.aborted != transcript.aborted:
        failures.append(_abort_failure(expect, transcript))
    if expect.unknown_events is not None:
        failures.extend(_unknown_failures(expect.unknown_events, transcript.unknown_events))
    return failures


def _within(count: Count, number: int) -> bool:
    return count.min <= number and (count.max is None or number <= count.max)


def _describe_count(count: Count, noun: str) -> str:
    if count.max == 0:
        return f"no {noun}s"
    if count.max == count.min:
        return f"exactly {_plural(count.min, noun)}"
    if count.max is None:
        return f"at least {_plural(count.min, noun)}"
    if count.min == 0:
        return f"at most {_plural(count.max, noun)}"
    return f"{count.min} to {count.max} {noun}s"


def _format_source(source: Source) -> str:
    if source.kind == "url":
        title = f" ({_quote(source.title)})" if source.title else ""
        return f"{source.url}{title}"
    return f"document {_quote(source.title or '')} ({source.media_type})"


def _sources_actual(sources: Sequence[Source]) -> str:
    if not sources:
        return "no sources arrived"
    shown = [_format_source(source) for source in sources[:_CALLS_SHOWN]]
    more = [f"… {len(sources) - _CALLS_SHOWN} more"] if len(sources) > _CALLS_SHOWN else []
    return f"sources were [{', '.join([*shown, *more])}]"


def _sources_failures(check: SourcesCheck, sources: Sequence[Source]) -> list[Failure]:
    failures = []
    if check.count is not None and not _within(check.count, len(sources)):
        failures.append(
            Failure(_describe_count(check.count, "source"), _sources_actual(sources), check.location)
        )
    for field_name, label, wanted in (("url", "URL", check.urls), ("title", "title", check.titles)):
        for part in wanted:
            if not any(part in (getattr(source, field_name) or "") for source in sources):
                description = f"a source {label} contains {_quote(part)}"
                failures.append(Failure(description, _sources_actual(sources), check.location))
    return failures


def _data_failure(check: DataCheck, transcript: TurnTranscript, context: Mapping[str, Any]) -> Failure | None:
    """Holds when some ``data-<name>`` part contains the expected data; else says why the last did not."""
    label = f"data-{check.name}"
    parts = transcript.data(check.name)
    try:
        mismatches = [_find_mismatch(check.expected, part.data, context) for part in parts]
    except _OperandError as exc:
        return Failure(_describe_data(check, context), exc.message, check.location)
    if parts and None in mismatches:
        return None
    if not parts:
        names = ", ".join(dict.fromkeys(f"data-{part.name}" for part in transcript.data_parts))
        actual = f"no {label} part arrived" + (f"; parts were {names}" if names else "")
    else:
        last = mismatches[-1]
        assert last is not None
        actual = last.describe(label)
    return Failure(_describe_data(check, context), actual, check.location)


def _describe_data(check: DataCheck, context: Mapping[str, Any]) -> str:
    relation = "⊇" if isinstance(check.expected, Mapping | list) else "is"
    return f"data-{check.name} {relation} {_json(check.expected, context)}"


def _errors_failures(check: ErrorsCheck, errors: Sequence[str]) -> list[Failure]:
    actual = f"error chunks were [{_quote_all(errors)}]" if errors else "no error chunk arrived"
    failures = []
    if check.count is not None and not _within(check.count, len(errors)):
        description = _describe_count(check.count, "error chunk")
        if check is NO_ERRORS:
            description += " (set `expect.errors` to expect them)"
        failures.append(Failure(description, actual, check.location))
    for part in check.contains:
        if not any(part in error for error in errors):
            failures.append(Failure(f"an error chunk contains {_quote(part)}", actual, check.location))
    return failures


def _unknown_failures(check: UnknownEventsCheck, events: Sequence[Mapping[str, Any]]) -> list[Failure]:
    types = [str(event.get("type")) for event in events]
    actual = f"unknown events were [{_quote_all(types)}]" if types else "no unknown event arrived"
    failures = []
    if check.count is not None and not _within(check.count, len(events)):
        failures.append(Failure(_describe_count(check.count, "unknown event"), actual, check.location))
    for wanted in check.types:
        if wanted not in types:
            failures.append(Failure(f"an unknown event of type {_quote(wanted)}", actual, check.location))
    return failures


def _abort_failure(expect: Expectation, transcript: TurnTranscript) -> Failure:
    if expect.aborted:
        return Failure("the stream is aborted", "no abort chunk arrived", expect.aborted_location)
    reason = f" (reason {_quote(transcript.abort_reason)})" if transcript.abort_reason else ""
    actual = f"an abort chunk arrived{reason}; text so far {_excerpt(transcript.text)}"
    description = "the stream is not aborted" + ("" if expect.aborted_location else " (set `expect.aborted`)")
    return Failure(description, actual, expect.aborted_location)


# --- finish reason and latency -----------------------------------------------------------------


def _finish_failures(expect: Expectation, finish_reason: str | None) -> tuple[Failure, ...]:
    accepted = expect.finish_reason
    if not accepted or finish_reason in accepted:
        return ()
    wanted = f"is {_quote(accepted[0])}" if len(accepted) == 1 else f"is one of {_quote_all(accepted)}"
    actual = (
        "no finish reason arrived" if finish_reason is None else f"finish_reason was {_quote(finish_reason)}"
    )
    return (Failure(f"finish_reason {wanted}", actual, expect.finish_reason_location),)


def _latency_failures(expect: Expectation, timings: Timings) -> list[Failure]:
    failures = []
    for subject, limit, measured, missing in (
        ("first token", expect.max_first_token_ms, timings.first_token_ms, "no text token arrived"),
        ("turn finished", expect.max_total_ms, timings.total_ms, "the turn never finished"),
    ):
        if limit is None or (measured is not None and measured <= limit):
            continue
        actual = missing if measured is None else f"{subject} after {_ms_over(measured, limit)} ms"
        failures.append(Failure(f"{subject} within {_ms(limit)} ms", actual, expect.latency_location))
    return failures


def _ms(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _ms_over(measured: float, limit: float) -> str:
    """Whole milliseconds, unless rounding would make a late value look on time."""
    for digits in range(4):
        shown = f"{measured:.{digits}f}"
        if float(shown) > limit:
            return shown
    return repr(measured)


# --- saves -------------------------------------------------------------------------------------


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
            failures.append(Failure(f"save {_quote(rule.name)}: {miss.problem}", miss.actual, rule.location))
    return saved, failures


def _save_text(rule: SaveRule, transcript: TurnTranscript) -> Any:
    text = transcript.text
    if rule.regex is None:
        if not text:
            raise _SaveMiss("the turn has no text", 'text was ""')
        return text
    regex = _pattern_text(rule.regex)
    match = rule.regex.search(text)
    if match is None:
        raise _SaveMiss(f"regex {regex} did not match the text", f"text was {_excerpt(text)}")
    group = rule.group if isinstance(rule.group, int) else _quote(rule.group)
    try:
        value = match.group(rule.group)
    except IndexError:
        raise _SaveMiss(f"regex {regex} has no group {group}", f"match was {_quote(match.group())}") from None
    if value is None:
        raise _SaveMiss(
            f"group {group} of regex {regex} took no part in the match", f"match was {_quote(match.group())}"
        )
    return value


def _saved_call(rule: SaveRule, calls: Sequence[ToolCall]) -> ToolCall:
    if rule.tool is None:
        if not calls:
            raise _SaveMiss("no tool call in this turn", "no tool calls")
        return calls[-1]
    call = next((call for call in calls if call.name == rule.tool), None)
    if call is None:
        raise _SaveMiss(f"no call to {rule.tool} in this turn", _calls_actual(calls))
    return call


def _save_tool(part: str) -> Callable[[SaveRule, TurnTranscript], Any]:
    def extract(rule: SaveRule, transcript: TurnTranscript) -> Any:
        call = _saved_call(rule, transcript.tool_calls)
        value = call.input if part == "input" else call.output
        if value is None:
            failed = f"the call failed with {_quote(call.error)}" if call.error is not None else ""
            raise _SaveMiss(
                f"call to {call.name} has no {part}", failed or _calls_actual(transcript.tool_calls)
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
                f"path {path} not found in {part} of {tool}", f"{reason}; {part} was {_json(value)}"
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
        return f"{where} has no key {_quote(segment)}"
    if isinstance(value, list | tuple):
        return f"{where} has {_plural(len(value), 'item')}" if segment.isdigit() else f"{where} is a list"
    return f"{where} is {_json(value)}, not an object or list"


def _save_field(name: str) -> Callable[[SaveRule, TurnTranscript], Any]:
    def extract(rule: SaveRule, transcript: TurnTranscript) -> Any:
        value = getattr(transcript, name)
        if value is None:
            raise _SaveMiss(f"no {name} in this turn", f"the stream carried no {name.replace('_', ' ')}")
        return value

    return extract


_EXTRACTORS: dict[str, Callable[[SaveRule, TurnTranscript], Any]] = {
    "text": _save_text,
    "tool_input": _save_tool("input"),
    "tool_output": _save_tool("output"),
    "session_id": _save_field("session_id"),
    "message_id": _save_field("message_id"),
}
