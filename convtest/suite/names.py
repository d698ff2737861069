"""The names a suite gives: conversation tags (they become pytest markers), template variables,
saved values, and the ``skip`` / ``xfail`` markers."""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from typing import Any, Final, cast

from convtest.suite.reader import Reader
from convtest.suite.tree import Entry

__all__ = [
    "PYTEST_MARKERS",
    "RESERVED_NAMES",
    "TAG_PATTERN",
    "parse_marker",
    "parse_tags",
    "parse_vars",
    "unique",
    "valid_name",
]

#: template names convtest provides itself; vars and saves may not take them
RESERVED_NAMES: Final = frozenset({"env", "session_id"})
#: tags become pytest markers
TAG_PATTERN: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: markers pytest itself acts on: a tag with such a name would silently change how the test runs
PYTEST_MARKERS: Final = frozenset({"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings"})


def unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def parse_tags(reader: Reader, entry: Entry | None) -> tuple[str, ...]:
    if entry is None or entry.value.kind == "null":
        return ()
    if entry.value.kind == "list" and not entry.value.items:
        return ()
    tags = reader.strings(entry.value, "`tags`", single_ok=False) or []
    return tuple(tag for tag, line in tags if valid_tag(reader, tag, line))


def valid_tag(reader: Reader, tag: str, line: int) -> bool:
    if not TAG_PATTERN.match(tag):
        fixed = re.sub(r"\W", "_", tag)
        fixed = f"_{fixed}" if fixed[:1].isdigit() else fixed
        message = f"invalid tag `{tag}`: tags become pytest markers, so they must match {TAG_PATTERN.pattern}"
        reader.error(f"{message} (e.g. `{fixed}`)", line)
        return False
    if tag in PYTEST_MARKERS:
        instead = (
            f"use the conversation's `{tag}:` key" if tag in ("skip", "xfail") else "choose another name"
        )
        reader.error(
            f"tag `{tag}` is a built-in pytest marker and would change how the test runs; {instead}", line
        )
        return False
    return True


def parse_vars(reader: Reader, entry: Entry | None) -> dict[str, Any] | None:
    """Template variables; None when ``vars`` is not a mapping at all."""
    if entry is None or entry.value.kind == "null":
        return {}
    entries = reader.mapping(entry.value, "`vars`", None)
    if entries is None:
        return None
    return {
        name: reader.plain(var.value)
        for name, var in entries.items()
        if valid_name(reader, name, var.line, "variable")
    }


def valid_name(reader: Reader, name: str, line: int, what: str) -> bool:
    if name in RESERVED_NAMES:
        reader.error(f"{what} name `{name}` is reserved: convtest always provides `{name}`", line)
        return False
    if not (name.isidentifier() and not keyword.iskeyword(name)):
        reader.error(
            f"{what} name `{name}` must be an identifier (letters, digits and _, not starting with a digit)",
            line,
        )
        return False
    return True


def parse_marker(reader: Reader, entry: Entry | None) -> str | None:
    """``skip`` / ``xfail``: a reason, or true for a generic one; false turns it off."""
    if entry is None or entry.value.kind == "null":
        return None
    node = entry.value
    if node.kind == "boolean":
        return f"marked `{entry.key}: true` in the suite" if node.value else None
    if node.kind != "string":
        reader.type_error(node, f"`{entry.key}`", "a reason string or true")
        return None
    return cast(str, node.value) or f"marked `{entry.key}` in the suite"
