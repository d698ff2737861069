"""``save``: values a turn keeps for later turns, as ``{{ name }}`` (see :mod:`convtest.saves`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, cast

from convtest.models import SaveRule, SaveSource
from convtest.suite.names import valid_name
from convtest.suite.reader import Reader
from convtest.suite.tree import Entry, Node

__all__ = ["SAVE_RULE_KEYS", "SAVE_SOURCES", "parse_save"]

SAVE_RULE_KEYS: Final = frozenset({"from", "regex", "group", "tool", "path"})
SAVE_SOURCES: Final = frozenset({"text", "tool_input", "tool_output", "session_id", "message_id"})


def parse_save(reader: Reader, entry: Entry | None) -> tuple[tuple[SaveRule, ...], frozenset[str]]:
    """The rules, and every name saved: a broken rule's too, so later turns get no follow-up errors."""
    if entry is None or entry.value.kind == "null":
        return (), frozenset()
    entries = reader.mapping(entry.value, "`save`", None) or {}
    names = frozenset(name for name, rule in entries.items() if valid_name(reader, name, rule.line, "save"))
    rules = [_parse_save_rule(reader, name, entries[name]) for name in entries if name in names]
    return tuple(rule for rule in rules if rule is not None), names


def _parse_save_rule(reader: Reader, name: str, entry: Entry) -> SaveRule | None:
    what = f"save rule `{name}`"
    entries = reader.mapping(entry.value, what, SAVE_RULE_KEYS, required=("from",))
    if entries is None or "from" not in entries:
        return None
    source = _save_source(reader, entries["from"])
    if source is None:
        return None
    _check_save_keys(reader, entries, source)
    regex, group = _save_regex(reader, entries) if source == "text" else (None, 0)
    tool = reader.optional_string(entries.get("tool"), "`tool`")
    path = _save_path(reader, entries.get("path"))
    location = reader.at(entry.line)
    seconds = reader.limits.regex_seconds
    return SaveRule(
        name, source, location, regex=regex, group=group, tool=tool, path=path, regex_seconds=seconds
    )


def _save_source(reader: Reader, entry: Entry) -> SaveSource | None:
    return cast(SaveSource | None, reader.choice(entry.value, "`from`", SAVE_SOURCES, noun="source"))


def _check_save_keys(reader: Reader, entries: Mapping[str, Entry], source: str) -> None:
    for key in ("tool", "path"):
        if key in entries and source not in ("tool_input", "tool_output"):
            reader.error(
                f"`{key}` only applies to `from: tool_input` or `from: tool_output`", entries[key].line
            )
    for key in ("regex", "group"):
        if key in entries and source != "text":
            reader.error(f"`{key}` only applies to `from: text`", entries[key].line)


def _save_regex(reader: Reader, entries: Mapping[str, Entry]) -> tuple[re.Pattern[str] | None, int | str]:
    """The regex and the group to take: 1 when the regex has a group, else the whole match."""
    regex_entry, group_entry = entries.get("regex"), entries.get("group")
    if regex_entry is None:
        if group_entry is not None:
            reader.error("`group` needs a `regex`", group_entry.line)
        return None, 0
    source = reader.string(regex_entry.value, "`regex`", empty_ok=False)
    pattern = None if source is None else reader.regex(source, regex_entry)
    if pattern is None:
        return None, 0
    if group_entry is None:
        return pattern, 1 if pattern.groups else 0
    return pattern, _save_group(reader, pattern, group_entry.value)


def _save_group(reader: Reader, pattern: re.Pattern[str], node: Node) -> int | str:
    if node.kind == "string":
        name = cast(str, node.value)
        if name not in pattern.groupindex:
            named = ", ".join(f"`{group}`" for group in pattern.groupindex) or "none"
            reader.error(f"the regex has no group named `{name}` (named groups: {named})", node.line)
        return name
    number = reader.integer(node, "`group`")
    if number is not None and number > pattern.groups:
        plural = "" if pattern.groups == 1 else "s"
        reader.error(
            f"`group` {number} does not exist: the regex has {pattern.groups} group{plural}", node.line
        )
    return number or 0


def _save_path(reader: Reader, entry: Entry | None) -> str | None:
    path = reader.optional_string(entry, "`path`")
    if entry is not None and path is not None and not all(path.split(".")):
        reader.error(f"`path` must be dotted keys like `items.0.sku`, got {path!r}", entry.value.line)
    return path
