"""``expect.tool_calls``: which tools the turn called, with what input, output and outcome.

A list means exactly these calls, in this order; a mapping combines ``none``, ``called``,
``not_called``, ``count`` and ``sequence``. A call pattern is a name, or ``{name, input, output,
error, input_schema}`` with input and output matched as subsets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from convtest.checks.base import CheckContext, CheckKind, Failure
from convtest.checks.subset import find_mismatch
from convtest.checks.wording import OperandError, call_list, calls_actual, json_text, plural, quote
from convtest.exceptions import Location
from convtest.templating import Template, templates_in
from convtest.transcript import ToolCall

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from convtest.suite.reader import Reader
    from convtest.suite.tree import Entry, Node

__all__ = [
    "TOOL_CALLS",
    "TOOL_CALL_KEYS",
    "TOOL_CHECK_KEYS",
    "ToolCallPattern",
    "ToolCheck",
    "ToolChecks",
    "ToolOp",
    "describe_tool_check",
]

TOOL_CHECK_KEYS: Final = frozenset({"none", "called", "not_called", "count", "sequence"})
TOOL_CALL_KEYS: Final = frozenset({"name", "input", "output", "error", "input_schema"})

ToolOp = Literal["sequence", "called", "not_called", "none", "count"]


@dataclass(frozen=True, slots=True)
class ToolCallPattern:
    """A tool call a turn expects: its name, and optionally subsets of its input and output.

    ``input``/``output`` are nested YAML values whose string leaves may be templates; a dict
    matches any dict holding at least those keys with matching values, recursively.
    """

    name: str
    location: Location
    input: Any = None
    output: Any = None
    has_input: bool = False
    has_output: bool = False
    #: True: the call failed; False: it did not; a string: its error contains it; None: not checked
    error: bool | str | None = None
    #: compiled when the file is loaded; the call's input must be valid against it
    input_schema: Validator | None = None


@dataclass(frozen=True, slots=True)
class ToolCheck:
    """One predicate on the turn's tool calls.

    - ``sequence``: exactly these calls, in this order (``calls``).
    - ``called``: each of ``calls`` appears somewhere, in any order.
    - ``not_called``: none of ``names`` appears.
    - ``none``: no tool call at all.
    - ``count``: exactly ``number`` calls.
    """

    op: ToolOp
    location: Location
    calls: tuple[ToolCallPattern, ...] = ()
    names: tuple[str, ...] = ()
    number: int | None = None


@dataclass(frozen=True, slots=True)
class ToolChecks:
    """Everything ``expect.tool_calls`` says; each predicate is reported on its own."""

    checks: tuple[ToolCheck, ...]

    def evaluate(self, context: CheckContext) -> Sequence[Failure]:
        calls = context.transcript.tool_calls
        return [
            failure
            for check in self.checks
            for failure in _TOOL_OPS[check.op](check, calls, context.variables)
        ]

    def templates(self) -> Iterator[Template]:
        for check in self.checks:
            for call in check.calls:
                yield from templates_in(call.input)
                yield from templates_in(call.output)


# --- parsing -----------------------------------------------------------------------------------


def _parse(reader: Reader, entry: Entry) -> ToolChecks | None:
    node = entry.value
    if node.kind == "null":
        return None
    if node.kind == "list":
        sequence = _parse_sequence(reader, entry)
        return ToolChecks(() if sequence is None else (sequence,))
    if node.kind != "mapping":
        reader.type_error(node, "`tool_calls`", "a list of calls or a mapping of checks")
        return None
    entries = reader.mapping(node, "`tool_calls`", TOOL_CHECK_KEYS) or {}
    if not node.entries:
        expected = ", ".join(sorted(TOOL_CHECK_KEYS))
        reader.error(f"`tool_calls` is empty: expected a list of calls or one of {expected}", node.line)
    checks = [check for key, value in entries.items() if (check := _PARSERS[key](reader, value)) is not None]
    _check_contradictions(reader, checks)
    return ToolChecks(tuple(checks))


def _parse_none(reader: Reader, entry: Entry) -> ToolCheck | None:
    flag = reader.boolean(entry.value, "`none`")
    if flag is False:
        reader.error("`none: false` checks nothing; remove it", entry.line)
    return ToolCheck("none", reader.at(entry.line)) if flag else None


def _parse_called(reader: Reader, entry: Entry) -> ToolCheck | None:
    """``called``: one call or a list of calls that must all appear, in any order."""
    nodes = [entry.value] if entry.value.kind != "list" else reader.sequence(entry.value, "`called`") or []
    calls = [_parse_pattern(reader, node, "`called`") for node in nodes]
    if not nodes or None in calls:
        return None
    return ToolCheck("called", reader.at(entry.line), calls=tuple(call for call in calls if call is not None))


def _parse_not_called(reader: Reader, entry: Entry) -> ToolCheck | None:
    names = reader.strings(entry.value, "`not_called`", single_ok=True)
    if names is None:
        return None
    return ToolCheck("not_called", reader.at(entry.line), names=tuple(name for name, _ in names))


def _parse_count(reader: Reader, entry: Entry) -> ToolCheck | None:
    number = reader.integer(entry.value, "`count`")
    return None if number is None else ToolCheck("count", reader.at(entry.line), number=number)


def _parse_sequence(reader: Reader, entry: Entry) -> ToolCheck | None:
    """Exactly these calls in this order; an empty list means no call at all."""
    what = f"`{entry.key}`"
    nodes = reader.sequence(entry.value, what, expected="a list of calls", empty_ok=True)
    if nodes is None:
        return None
    calls = [_parse_pattern(reader, node, f"each item of {what}") for node in nodes]
    if None in calls:
        return None
    location = reader.at(entry.line)
    return ToolCheck("sequence", location, calls=tuple(call for call in calls if call is not None))


def _parse_pattern(reader: Reader, node: Node, what: str) -> ToolCallPattern | None:
    """A tool name, or ``{name, input, output}`` with input/output matched as subsets."""
    if node.kind != "mapping":
        name = reader.string(node, what, expected="a tool name or a mapping with `name`", empty_ok=False)
        return None if name is None else ToolCallPattern(name, reader.at(node.line))
    entries = reader.mapping(node, "tool call", TOOL_CALL_KEYS, required=("name",))
    if entries is None or "name" not in entries:
        return None
    name = reader.string(entries["name"].value, "tool call `name`", empty_ok=False)
    given = {
        key: reader.plain(entries[key].value, templates=True) for key in ("input", "output") if key in entries
    }
    error = _parse_error(reader, entries.get("error"))
    schema = _parse_input_schema(reader, entries.get("input_schema"))
    if name is None:
        return None
    return ToolCallPattern(
        name,
        reader.at(node.line),
        input=given.get("input"),
        output=given.get("output"),
        has_input="input" in given,
        has_output="output" in given,
        error=error,
        input_schema=schema,
    )


def _parse_error(reader: Reader, entry: Entry | None) -> bool | str | None:
    """``error: true`` (the call failed), ``false`` (it did not) or a part of the error text."""
    if entry is None or entry.value.kind == "null":
        return None
    if entry.value.kind == "boolean":
        return bool(entry.value.value)
    expected = "true, false or a part of the error text"
    return reader.string(entry.value, "tool call `error`", expected=expected, empty_ok=False)


def _parse_input_schema(reader: Reader, entry: Entry | None) -> Validator | None:
    """A JSON schema (its ``$schema`` picks the draft; 2020-12 by default), checked now."""
    if entry is None or entry.value.kind == "null":
        return None
    if entry.value.kind != "mapping":
        reader.type_error(entry.value, "`input_schema`", "a JSON schema (a mapping, e.g. `{type: object}`)")
        return None
    import jsonschema  # ~90 ms: paid only by suites that use input_schema
    import jsonschema.validators

    schema = reader.plain(entry.value)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(part) for part in exc.path)
        at = f" at `{where}`" if where else ""
        message = f"invalid JSON schema in `input_schema`{at}: {exc.message}"
        reader.error(message, _line_at(entry.value, exc.path))
        return None
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _line_at(node: Node, path: Any) -> int:
    """The line of the deepest node of ``path`` that exists, so the error points at the culprit."""
    line = node.line
    for part in path:
        if node.kind == "mapping" and str(part) in node.entries:
            entry = node.entries[str(part)]
            node, line = entry.value, entry.line
        elif node.kind == "list" and isinstance(part, int) and part < len(node.items):
            node = node.items[part]
            line = node.line
        else:
            break
    return line


def _check_contradictions(reader: Reader, checks: Sequence[ToolCheck]) -> None:
    none = next((check for check in checks if check.op == "none"), None)
    if none is None:
        return
    for check in checks:
        if (check.op in ("called", "sequence") and check.calls) or (check.op == "count" and check.number):
            message = f"`none: true` contradicts `{check.op}` (line {check.location.line})"
            reader.error(message, none.location.line)


_PARSERS: Final[dict[str, Callable[[Reader, Entry], ToolCheck | None]]] = {
    "none": _parse_none,
    "called": _parse_called,
    "not_called": _parse_not_called,
    "count": _parse_count,
    "sequence": _parse_sequence,
}


# --- describing --------------------------------------------------------------------------------


def describe_tool_check(check: ToolCheck, context: Mapping[str, Any] | None = None) -> str:
    """What a tool-call check expects, in words."""
    return _DESCRIBERS[check.op](check, context)


def _describe_pattern(pattern: ToolCallPattern, context: Mapping[str, Any] | None) -> str:
    parts = []
    if pattern.has_input:
        parts.append(f"input ⊇ {json_text(pattern.input, context)}")
    if pattern.input_schema is not None:
        parts.append("input valid against input_schema")
    if pattern.has_output:
        parts.append(f"output ⊇ {json_text(pattern.output, context)}")
    if pattern.error is not None:
        parts.append(_ERROR_WORDS.get(pattern.error, f"error contains {quote(str(pattern.error))}"))
    return f"{pattern.name}({', '.join(parts)})" if parts else pattern.name


_ERROR_WORDS: dict[bool | str, str] = {True: "failed", False: "did not fail"}


def _describe_patterns(check: ToolCheck, context: Mapping[str, Any] | None) -> str:
    return ", ".join(_describe_pattern(pattern, context) for pattern in check.calls)


def _or_list(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


_DESCRIBERS: dict[str, Callable[[ToolCheck, Mapping[str, Any] | None], str]] = {
    "sequence": lambda check, context: f"tool calls are exactly [{_describe_patterns(check, context)}]",
    "called": lambda check, context: f"tool calls include {_describe_patterns(check, context)}",
    "not_called": lambda check, context: f"no call to {_or_list(check.names)}",
    "none": lambda check, context: "no tool calls",
    "count": lambda check, context: f"exactly {plural(check.number or 0, 'tool call')}",
}


# --- evaluating --------------------------------------------------------------------------------

_ToolOp = Callable[[ToolCheck, Sequence[ToolCall], Mapping[str, Any]], list[Failure]]


def _pattern_mismatch(pattern: ToolCallPattern, call: ToolCall, context: Mapping[str, Any]) -> str | None:
    """Why a call with the pattern's name does not match its input/output/error checks, or None."""
    if pattern.has_input and (found := find_mismatch(pattern.input, call.input, context)):
        return found.describe("input")
    if pattern.input_schema is not None and (problem := _schema_problem(pattern.input_schema, call.input)):
        return problem
    if pattern.error is not None and (problem := _error_problem(pattern.error, call)):
        return problem
    if not pattern.has_output:
        return None
    if call.output is None and call.error is not None:
        return f"no output, the call failed with {quote(call.error)}"
    found = find_mismatch(pattern.output, call.output, context)
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
        return f"the call failed with {quote(call.error)}"
    if expected is True or expected in call.error:
        return None
    return f"error was {quote(call.error)}"


def _sequence(check: ToolCheck, calls: Sequence[ToolCall], context: Mapping[str, Any]) -> list[Failure]:
    try:
        problems = _sequence_problems(check.calls, calls, context)
    except OperandError as exc:
        return [Failure(describe_tool_check(check, context), exc.message, check.location)]
    if not problems:
        return []
    actual = "; ".join((*problems, calls_actual(calls)))
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
            actual = f"{near_miss}; {calls_actual(calls)}" if near_miss else calls_actual(calls)
        except OperandError as exc:
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
    actual = f"{' and '.join(made)} {verb} called; {calls_actual(calls)}"
    return [Failure(describe_tool_check(check, context), actual, check.location)]


def _none(check: ToolCheck, calls: Sequence[ToolCall], context: Mapping[str, Any]) -> list[Failure]:
    return [Failure("no tool calls", calls_actual(calls), check.location)] if calls else []


def _count(check: ToolCheck, calls: Sequence[ToolCall], context: Mapping[str, Any]) -> list[Failure]:
    if len(calls) == check.number:
        return []
    actual = f"{plural(len(calls), 'call')} made: {call_list(calls)}" if calls else "no tool calls"
    return [Failure(describe_tool_check(check, context), actual, check.location)]


_TOOL_OPS: dict[str, _ToolOp] = {
    "sequence": _sequence,
    "called": _called,
    "not_called": _not_called,
    "none": _none,
    "count": _count,
}


TOOL_CALLS = CheckKind("tool_calls", _parse, order=30, subkeys=TOOL_CHECK_KEYS)
