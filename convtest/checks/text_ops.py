"""The leaf text checks: ``equals``, ``contains``, ``matches``, ``min_length`` and the rest.

Each is a :class:`~convtest.checks.text_model.TextOperator`: how its operand is read, when it
holds, and how it is worded. A predicate returns None when the check holds, else the failure's
note ("" when showing the text says it all).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from convtest.checks.text_model import Describe, Evaluate, Miss, TextCheck, TextOperator, TextSubject
from convtest.checks.wording import (
    TEXT_SHOWN,
    OperandError,
    pattern_text,
    quote,
    quote_all,
    regex_text,
    render,
    template_text,
)
from convtest.safe_regex import RegexTimeout, search
from convtest.templating import Value

if TYPE_CHECKING:
    from convtest.safe_regex import Match
    from convtest.suite.reader import Reader
    from convtest.suite.tree import Entry, Node

__all__ = [
    "CONTAINS",
    "CONTAINS_ALL",
    "CONTAINS_ANY",
    "ENDS_WITH",
    "EQUALS",
    "MATCHES",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "NOT_CONTAINS",
    "NOT_MATCHES",
    "STARTS_WITH",
    "leaf",
]

#: characters shown on each side of an unwanted match inside a long text
_AROUND: Final = 60

Predicate = Callable[[TextCheck, TextSubject, Mapping[str, Any]], str | None]


def leaf(predicate: Predicate) -> Evaluate:
    """An operator's ``evaluate`` from a predicate; an operand that cannot be prepared is a miss."""

    def evaluate(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> Sequence[Miss]:
        try:
            note = predicate(check, subject, variables)
        except OperandError as exc:
            return (Miss(check, exc.message, error=True),)
        return () if note is None else (Miss(check, note),)

    return evaluate


# --- parsing -----------------------------------------------------------------------------------


def _parse_operand(reader: Reader, entry: Entry, ignore_case: bool) -> TextCheck | None:
    """``equals``, ``starts_with``, ``ends_with``: one string."""
    value = reader.operand(entry.value, f"`{entry.key}`")
    if value is None:
        return None
    return TextCheck(entry.key, reader.at(entry.line), values=(value,), ignore_case=ignore_case)


def _operands(reader: Reader, node: Node, what: str) -> tuple[Value, ...] | None:
    items = reader.strings(node, what, single_ok=False)
    if items is None:
        return None
    values = [reader.template(text, line) for text, line in items]
    return tuple(value for value in values if value is not None)


def _one_string_check(reader: Reader, entry: Entry, op: str, ignore_case: bool) -> TextCheck | None:
    """``contains`` / ``not_contains`` written with one string rather than a list."""
    value = reader.operand(entry.value, f"`{op}`", expected="a string or a list of strings")
    return None if value is None else TextCheck(op, reader.at(entry.line), (value,), ignore_case=ignore_case)


def _parse_contains(reader: Reader, entry: Entry, ignore_case: bool) -> TextCheck | None:
    """``contains``: one string, or a list that must all appear (``contains_all``)."""
    if entry.value.kind != "list":
        return _one_string_check(reader, entry, "contains", ignore_case)
    values = _operands(reader, entry.value, "`contains`")
    if values is None:
        return None
    return TextCheck("contains_all", reader.at(entry.line), values, ignore_case=ignore_case)


def _parse_not_contains(reader: Reader, entry: Entry, ignore_case: bool) -> TextCheck | None:
    """``not_contains``: a list becomes an ``all_of`` of one-string checks, so a failure names the string."""
    if entry.value.kind != "list":
        return _one_string_check(reader, entry, "not_contains", ignore_case)
    items = reader.strings(entry.value, "`not_contains`", single_ok=False) or []
    children = []
    for text, line in items:
        value = reader.template(text, line)
        if value is not None:
            children.append(TextCheck("not_contains", reader.at(line), (value,), ignore_case=ignore_case))
    return TextCheck("all_of", reader.at(entry.line), children=tuple(children), ignore_case=ignore_case)


def _parse_list(reader: Reader, entry: Entry, ignore_case: bool) -> TextCheck | None:
    """``contains_any``, ``contains_all``: a non-empty list of strings."""
    values = _operands(reader, entry.value, f"`{entry.key}`")
    if values is None:
        return None
    return TextCheck(entry.key, reader.at(entry.line), values, ignore_case=ignore_case)


def _parse_regex(reader: Reader, entry: Entry, ignore_case: bool) -> TextCheck | None:
    """``matches``, ``not_matches``: compiled now, unless the source is a template."""
    value = reader.operand(entry.value, f"`{entry.key}`")
    if value is None:
        return None
    pattern = None
    if isinstance(value, str):
        pattern = reader.regex(value, entry, re.IGNORECASE if ignore_case else 0)
        if pattern is None:
            return None
    return TextCheck(
        entry.key,
        reader.at(entry.line),
        (value,),
        ignore_case=ignore_case,
        pattern=pattern,
        regex_seconds=reader.limits.regex_seconds,
    )


def _parse_length(reader: Reader, entry: Entry, ignore_case: bool) -> TextCheck | None:
    number = reader.integer(entry.value, f"`{entry.key}`")
    if number is None:
        return None
    return TextCheck(entry.key, reader.at(entry.line), number=number, ignore_case=ignore_case)


# --- evaluating --------------------------------------------------------------------------------


def _fold(value: str, ignore_case: bool) -> str:
    return value.casefold() if ignore_case else value


def _compare(test: Callable[[str, str], bool]) -> Predicate:
    """A one-operand string predicate: equals, starts_with, ends_with."""

    def predicate(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> str | None:
        value = _fold(render(check.values[0], variables), check.ignore_case)
        return None if test(subject.view(check.ignore_case), value) else ""

    return predicate


def _contains(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> str | None:
    text = subject.view(check.ignore_case)
    values = [render(value, variables) for value in check.values]
    missing = [value for value in values if _fold(value, check.ignore_case) not in text]
    if not missing:
        return None
    return f"missing {quote_all(missing)}" if len(values) > 1 else ""


def _contains_any(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> str | None:
    text = subject.view(check.ignore_case)
    found = any(_fold(render(value, variables), check.ignore_case) in text for value in check.values)
    return None if found else ""


def _position(text: str, start: int, end: int) -> str:
    """Where an unwanted match is, with its surroundings when the text is too long to show whole."""
    if len(text) <= TEXT_SHOWN:
        return ""
    low, high = max(0, start - _AROUND), min(len(text), end + _AROUND)
    snippet = ("…" if low else "") + text[low:high] + ("…" if high < len(text) else "")
    return f" at character {start + 1}: {quote(snippet)}"


def _not_contains(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> str | None:
    value = _fold(render(check.values[0], variables), check.ignore_case)
    # with ignore_case the index is into the casefolded text; it only differs after ß-like letters
    start = subject.view(check.ignore_case).find(value)
    if start < 0:
        return None
    where = _position(subject.text, start, start + len(value))
    return f"found{where}" if where else ""


def _regex(check: TextCheck, variables: Mapping[str, Any]) -> re.Pattern[str]:
    if check.pattern is not None:
        return check.pattern
    source = render(check.values[0], variables)
    try:
        return re.compile(source, re.IGNORECASE if check.ignore_case else 0)
    except re.error as exc:
        raise OperandError(
            f"rendered regex {regex_text(source, check.ignore_case)} is invalid: {exc}"
        ) from None


def _search(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> Match | None:
    try:
        return search(_regex(check, variables), subject.text, check.regex_seconds)
    except RegexTimeout as exc:
        raise OperandError(str(exc)) from None


def _matches(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> str | None:
    return None if _search(check, subject, variables) else ""


def _not_matches(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> str | None:
    match = _search(check, subject, variables)
    if match is None:
        return None
    return f"matched {quote(match.group())}{_position(subject.text, match.start(), match.end())}"


def _number(check: TextCheck) -> int:
    if check.number is None:  # the loader guarantees it; reaching this is a bug
        raise ValueError(f"{check.op} check at {check.location} has no number")
    return check.number


def _length_note(text: str) -> str:
    return "" if len(text) > TEXT_SHOWN else f"{len(text)} characters"  # a long excerpt has it


def _min_length(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> str | None:
    return None if len(subject.text) >= _number(check) else _length_note(subject.text)


def _max_length(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> str | None:
    return None if len(subject.text) <= _number(check) else _length_note(subject.text)


# --- describing --------------------------------------------------------------------------------


def _describe_strings(phrase: str) -> Describe:
    def describe(check: TextCheck, variables: Mapping[str, Any] | None, subject: str) -> str:
        values = ", ".join(quote(template_text(value, variables)) for value in check.values)
        return f"{subject} {phrase} {values}" + (" (ignoring case)" if check.ignore_case else "")

    return describe


def _describe_contains(check: TextCheck, variables: Mapping[str, Any] | None, subject: str) -> str:
    phrase = "contains all of" if len(check.values) > 1 else "contains"
    return _describe_strings(phrase)(check, variables, subject)


def _describe_regex(check: TextCheck, variables: Mapping[str, Any] | None, subject: str) -> str:
    phrase = "matches" if check.op == "matches" else "does not match"
    if check.pattern is not None:
        return f"{subject} {phrase} {pattern_text(check.pattern)}"
    source = template_text(check.values[0], variables)
    return f"{subject} {phrase} {regex_text(source, check.ignore_case)}"


def _describe_length(check: TextCheck, variables: Mapping[str, Any] | None, subject: str) -> str:
    bound = "at least" if check.op == "min_length" else "at most"
    return f"{subject} is {bound} {check.number} characters long"


EQUALS = TextOperator("equals", _parse_operand, leaf(_compare(str.__eq__)), _describe_strings("equals"))
STARTS_WITH = TextOperator(
    "starts_with", _parse_operand, leaf(_compare(str.startswith)), _describe_strings("starts with")
)
ENDS_WITH = TextOperator(
    "ends_with", _parse_operand, leaf(_compare(str.endswith)), _describe_strings("ends with")
)
CONTAINS = TextOperator("contains", _parse_contains, leaf(_contains), _describe_contains)
CONTAINS_ALL = TextOperator(
    "contains_all", _parse_list, leaf(_contains), _describe_strings("contains all of")
)
CONTAINS_ANY = TextOperator(
    "contains_any", _parse_list, leaf(_contains_any), _describe_strings("contains any of")
)
NOT_CONTAINS = TextOperator(
    "not_contains", _parse_not_contains, leaf(_not_contains), _describe_strings("does not contain")
)
MATCHES = TextOperator("matches", _parse_regex, leaf(_matches), _describe_regex)
NOT_MATCHES = TextOperator("not_matches", _parse_regex, leaf(_not_matches), _describe_regex)
MIN_LENGTH = TextOperator("min_length", _parse_length, leaf(_min_length), _describe_length)
MAX_LENGTH = TextOperator("max_length", _parse_length, leaf(_max_length), _describe_length)
