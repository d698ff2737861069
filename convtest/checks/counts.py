"""How many: ``steps: 2``, ``count: {min: 1, max: 3}``, ``none: true``, shared by the part checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from convtest.checks.wording import plural
from convtest.exceptions import Location

if TYPE_CHECKING:
    from convtest.suite.reader import Reader
    from convtest.suite.tree import Entry, Node

__all__ = ["COUNT_KEYS", "Count", "describe_count", "parse_count", "parse_none_or_count", "within"]

COUNT_KEYS: Final = frozenset({"min", "max"})


@dataclass(frozen=True, slots=True)
class Count:
    """How many: at least ``min`` and at most ``max`` (None: no upper bound)."""

    location: Location | None
    min: int = 0
    max: int | None = None


def within(count: Count, number: int) -> bool:
    return count.min <= number and (count.max is None or number <= count.max)


def describe_count(count: Count, noun: str) -> str:
    if count.max == 0:
        return f"no {noun}s"
    if count.max == count.min:
        return f"exactly {plural(count.min, noun)}"
    if count.max is None:
        return f"at least {plural(count.min, noun)}"
    if count.min == 0:
        return f"at most {plural(count.max, noun)}"
    return f"{count.min} to {count.max} {noun}s"


def parse_count(reader: Reader, node: Node, what: str) -> Count | None:
    """A whole number (exactly), or ``{min: ..., max: ...}`` (either may be left out)."""
    if node.kind == "number":
        number = reader.integer(node, what)
        return None if number is None else Count(reader.at(node.line), number, number)
    if node.kind != "mapping":
        reader.type_error(node, what, "a whole number or a mapping with `min` and/or `max`")
        return None
    entries = reader.mapping(node, what, COUNT_KEYS)
    if entries is None:
        return None
    if not entries:
        reader.error(f"{what} needs `min` and/or `max`", node.line)
        return None
    low = reader.integer(entries["min"].value, f"{what} `min`") if "min" in entries else 0
    high = reader.integer(entries["max"].value, f"{what} `max`") if "max" in entries else None
    if low is None:
        return None
    if high is not None and low > high:
        reader.error(f"{what} `min` {low} is greater than `max` {high}", entries["max"].line)
        return None
    return Count(reader.at(node.line), low, high)


def parse_none_or_count(reader: Reader, entries: Mapping[str, Entry], what: str) -> Count | None:
    """``none: true`` (exactly zero) or ``count``; both at once contradict each other."""
    found: Count | None = None
    none = entries.get("none")
    if none is not None:
        flag = reader.boolean(none.value, "`none`")
        if flag is False:
            reader.error("`none: false` checks nothing; remove it", none.line)
        elif flag:
            found = Count(reader.at(none.line), 0, 0)
    if "count" in entries:
        if found is not None:
            reader.error(f"`none: true` contradicts `count` in `{what}`", entries["count"].line)
        found = parse_count(reader, entries["count"].value, "`count`")
    return found
