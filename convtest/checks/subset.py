"""Subset matching of nested values: what tool ``input``/``output`` and ``data`` checks expect.

Dicts match by their expected keys, recursively; lists need equal length and element-wise
matches; a string matches a number with the same ``str()`` (templates render to strings).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from convtest.checks.wording import OperandError, json_text, render
from convtest.exceptions import TemplateRenderError
from convtest.templating import Template

__all__ = ["Mismatch", "find_mismatch", "subset_mismatch"]

_ABSENT: Final[Any] = object()


@dataclass(slots=True)
class Mismatch:
    """The first place where an actual value does not contain the expected one."""

    kind: str
    expected: Any
    actual: Any
    #: path segments, innermost first: appended while the recursion unwinds
    segments: list[str] = field(default_factory=list)

    def describe(self, root: str) -> str:
        path = ".".join((root, *reversed(self.segments)))
        return _MISMATCH_WORDS[self.kind](path, self)


_MISMATCH_WORDS: dict[str, Callable[[str, Mismatch], str]] = {
    "missing": lambda path, m: f"{path} is missing",
    "object": lambda path, m: f"{path} was {json_text(m.actual)}, expected an object",
    "list": lambda path, m: f"{path} was {json_text(m.actual)}, expected a list",
    "length": lambda path, m: f"{path} has {len(m.actual)} items, expected {len(m.expected)}",
    "value": lambda path, m: f"{path} was {json_text(m.actual)}, expected {json_text(m.expected)}",
}


def subset_mismatch(
    expected: Any, actual: Any, path: str = "input", context: Mapping[str, Any] | None = None
) -> str | None:
    """Where ``actual`` fails to contain ``expected`` (``input.items.0.sku was …``), or None.

    Template leaves are rendered with ``context``; one that cannot be raises TemplateRenderError.
    """
    try:
        mismatch = find_mismatch(expected, actual, context or {})
    except OperandError as exc:
        raise TemplateRenderError(exc.message) from None
    return None if mismatch is None else mismatch.describe(path)


def find_mismatch(expected: Any, actual: Any, context: Mapping[str, Any]) -> Mismatch | None:
    """The first mismatch, or None; a template that cannot render raises OperandError."""
    if isinstance(expected, Mapping):
        return _mapping_mismatch(expected, actual, context)
    if isinstance(expected, list | tuple):
        return _list_mismatch(expected, actual, context)
    if isinstance(expected, Template):
        expected = render(expected, context)
    return None if _scalar_equal(expected, actual) else Mismatch("value", expected, actual)


def _mapping_mismatch(
    expected: Mapping[Any, Any], actual: Any, context: Mapping[str, Any]
) -> Mismatch | None:
    if not isinstance(actual, Mapping):
        return Mismatch("object", expected, actual)
    for key, item in expected.items():
        value = actual.get(key, _ABSENT)
        found = Mismatch("missing", item, None) if value is _ABSENT else find_mismatch(item, value, context)
        if found is not None:
            found.segments.append(str(key))
            return found
    return None


def _list_mismatch(expected: Sequence[Any], actual: Any, context: Mapping[str, Any]) -> Mismatch | None:
    if not isinstance(actual, list | tuple):
        return Mismatch("list", expected, actual)
    if len(actual) != len(expected):
        return Mismatch("length", expected, actual)
    for index, (item, value) in enumerate(zip(expected, actual, strict=True)):
        found = find_mismatch(item, value, context)
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
