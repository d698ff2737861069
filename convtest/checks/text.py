"""``expect.text`` and ``expect.reasoning``: a mapping of text checks (or a list of them), and the
combinators ``all_of``, ``any_of`` and ``not`` that nest them.

The leaf operators (``contains``, ``matches``...) live in :mod:`convtest.checks.text_ops`; every
operator, these combinators included, is found through the registry, so a plugin's operator
nests inside ``any_of`` like a built-in one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convtest.checks.base import CheckContext, CheckKind, Failure
from convtest.checks.registry import IGNORE_CASE, check_registry
from convtest.checks.text_model import Miss, TextCheck, TextOperator, TextSubject
from convtest.checks.wording import excerpt
from convtest.exceptions import Location, PluginError
from convtest.templating import Template

if TYPE_CHECKING:
    from convtest.suite.reader import Reader
    from convtest.suite.tree import Entry, Node

__all__ = [
    "ALL_OF",
    "ANY_OF",
    "NOT",
    "REASONING",
    "TEXT",
    "TextChecks",
    "describe_text_check",
    "evaluate_text",
    "parse_text_mapping",
    "text_failures",
]


@dataclass(frozen=True, slots=True)
class TextChecks:
    """The checks under ``expect.text`` (or ``expect.reasoning``); every one must hold."""

    #: ``text`` or ``reasoning``: which part of the turn, and how failures name it
    subject: str
    checks: tuple[TextCheck, ...]

    def evaluate(self, context: CheckContext) -> Sequence[Failure]:
        transcript = context.transcript
        text = transcript.text if self.subject == "text" else transcript.reasoning
        return text_failures(self.checks, text, context.variables, self.subject)

    def templates(self) -> Iterator[Template]:
        for check in self.checks:
            yield from _tree_templates(check)


def _tree_templates(check: TextCheck) -> Iterator[Template]:
    yield from (value for value in check.values if isinstance(value, Template))
    for child in check.children:
        yield from _tree_templates(child)


# --- evaluating --------------------------------------------------------------------------------


def text_failures(
    checks: Sequence[TextCheck], text: str, variables: Mapping[str, Any], name: str = "text"
) -> list[Failure]:
    subject = TextSubject(text, name)
    return [
        _text_failure(miss, subject, variables)
        for check in checks
        for miss in evaluate_text(check, subject, variables)
    ]


def _text_failure(miss: Miss, subject: TextSubject, variables: Mapping[str, Any]) -> Failure:
    actual = miss.note
    if not miss.error:
        actual = f"{subject.name} was {excerpt(subject.text)}" + (f"; {miss.note}" if miss.note else "")
    return Failure(describe_text_check(miss.check, variables, subject.name), actual, miss.check.location)


def evaluate_text(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> Sequence[Miss]:
    """The misses of one check; an empty tuple (no allocation) when it holds."""
    return check_registry().operator(check.op).evaluate(check, subject, variables)


def describe_text_check(
    check: TextCheck, variables: Mapping[str, Any] | None = None, subject: str = "text"
) -> str:
    """What a text check expects, in words; templates rendered with ``variables`` when they can be.

    ``subject`` names what is checked: ``text``, or ``reasoning`` for ``expect.reasoning``.
    """
    return check_registry().operator(check.op).describe(check, variables, subject)


def _errors(results: Sequence[Sequence[Miss]]) -> tuple[Miss, ...]:
    return tuple(miss for misses in results for miss in misses if miss.error)


def _all_of(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> Sequence[Miss]:
    """The children's own misses: each keeps its line, which reads better than one summary."""
    return tuple(miss for child in check.children for miss in evaluate_text(child, subject, variables))


def _any_of(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> Sequence[Miss]:
    # every alternative runs, so a broken template in one is reported even when another holds
    results = [evaluate_text(child, subject, variables) for child in check.children]
    errors = _errors(results)
    if any(not misses for misses in results):
        return errors
    details = [
        f"alternative {index}: {detail}"
        for index, (child, misses) in enumerate(zip(check.children, results, strict=True), 1)
        if (detail := _brief(child, misses, variables, subject.name))
    ]
    note = "no alternative held" + (f" ({'; '.join(details)})" if details else "")
    return (*errors, Miss(check, note))


def _brief(child: TextCheck, misses: Sequence[Miss], variables: Mapping[str, Any], name: str) -> str:
    """Why one alternative failed, beyond the text that every alternative saw."""
    parts = []
    for miss in misses:
        if miss.error:
            continue
        if miss.check is child:
            parts.append(miss.note)
        else:
            note = f" ({miss.note})" if miss.note else ""
            parts.append(f"{describe_text_check(miss.check, variables, name)} did not hold{note}")
    return "; ".join(part for part in parts if part)


def _not(check: TextCheck, subject: TextSubject, variables: Mapping[str, Any]) -> Sequence[Miss]:
    misses = evaluate_text(check.children[0], subject, variables)
    errors = _errors((misses,))
    if errors:
        return errors
    return () if misses else (Miss(check, ""),)


def _describe_group(check: TextCheck, variables: Mapping[str, Any] | None, subject: str) -> str:
    children = "; ".join(describe_text_check(child, variables, subject) for child in check.children)
    return f"{check.op.replace('_', ' ')} [{children}]"


def _describe_not(check: TextCheck, variables: Mapping[str, Any] | None, subject: str) -> str:
    return f"not ({describe_text_check(check.children[0], variables, subject)})"


# --- parsing -----------------------------------------------------------------------------------


def _parse(reader: Reader, entry: Entry) -> TextChecks | None:
    """``text`` and ``reasoning``: a mapping of text checks, or a list of such mappings."""
    node, key = entry.value, entry.key
    if node.kind == "null":
        return None
    if node.kind not in ("mapping", "list"):
        expected = f"a mapping of checks or a list of them (e.g. `{key}: {{contains: ...}}`)"
        reader.type_error(node, f"`{key}`", expected)
        return None
    if node.kind == "mapping":
        return TextChecks(key, tuple(parse_text_mapping(reader, node, f"`{key}`", ignore_case=False)))
    items = reader.sequence(node, f"`{key}`") or []
    checks = (check for item in items for check in parse_text_mapping(reader, item, f"`{key}` item", False))
    return TextChecks(key, tuple(checks))


def parse_text_mapping(reader: Reader, node: Node, what: str, ignore_case: bool) -> list[TextCheck]:
    """One check per key; ``ignore_case`` applies to the whole mapping and what it nests."""
    registry = check_registry()
    entries = reader.mapping(node, what, registry.text_mapping_keys)
    if entries is None:
        return []
    if IGNORE_CASE in entries:
        flag = reader.boolean(entries[IGNORE_CASE].value, f"`{IGNORE_CASE}`")
        ignore_case = ignore_case if flag is None else flag
    if not node.entries.keys() - {IGNORE_CASE}:
        expected = ", ".join(sorted(registry.operator_keys))
        reader.error(f"{what} has no check: expected one of {expected}", node.line)
    checks = [
        _parse_operator(reader, entry, ignore_case) for key, entry in entries.items() if key != IGNORE_CASE
    ]
    _check_length_range(reader, entries)
    return [check for check in checks if check is not None]


def _parse_operator(reader: Reader, entry: Entry, ignore_case: bool) -> TextCheck | None:
    try:
        operator = check_registry().operator(entry.key)
    except PluginError as exc:
        reader.error(exc.args[0], entry.line)
        return None
    return operator.parse(reader, entry, ignore_case)


def _check_length_range(reader: Reader, entries: Mapping[str, Entry]) -> None:
    low, high = entries.get("min_length"), entries.get("max_length")
    if low is None or high is None or low.value.kind != "number" or high.value.kind != "number":
        return
    if low.value.value > high.value.value:
        message = f"`min_length` {low.value.text} is greater than `max_length` {high.value.text}"
        reader.error(message, high.line)


def _parse_combinator(reader: Reader, entry: Entry, ignore_case: bool) -> TextCheck | None:
    """``any_of``: one item must hold (an item is all its keys); ``all_of``: every check holds."""
    what = f"`{entry.key}`"
    items = reader.sequence(entry.value, what, expected="a list of text-check mappings") or []
    children: list[TextCheck] = []
    for item in items:
        checks = parse_text_mapping(reader, item, f"{what} item", ignore_case)
        if entry.key == "all_of":
            children.extend(checks)
        elif checks:
            children.append(all_of(checks, reader.at(item.line), ignore_case))
    return TextCheck(entry.key, reader.at(entry.line), children=tuple(children), ignore_case=ignore_case)


def _parse_not(reader: Reader, entry: Entry, ignore_case: bool) -> TextCheck | None:
    checks = parse_text_mapping(reader, entry.value, "`not`", ignore_case)
    if not checks:
        return None
    child = all_of(checks, reader.at(entry.value.line), ignore_case)
    return TextCheck("not", reader.at(entry.line), children=(child,), ignore_case=ignore_case)


def all_of(checks: Sequence[TextCheck], location: Location, ignore_case: bool) -> TextCheck:
    """One check that holds when all of ``checks`` do (the check itself when there is one)."""
    if len(checks) == 1:
        return checks[0]
    return TextCheck("all_of", location, children=tuple(checks), ignore_case=ignore_case)


TEXT = CheckKind("text", _parse, order=10)
REASONING = CheckKind("reasoning", _parse, order=20)
ALL_OF = TextOperator("all_of", _parse_combinator, _all_of, _describe_group)
ANY_OF = TextOperator("any_of", _parse_combinator, _any_of, _describe_group)
NOT = TextOperator("not", _parse_not, _not, _describe_not)
