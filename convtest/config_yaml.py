"""``convtest.yaml`` read into the suite loader's line-aware tree, so every message about a key
can give that key's own line, and a syntax error reads like a suite's (``convtest.yaml:4: ...``).

The file is scanned once as a stream of parser events before the tree is built: an alias bomb
(aliases whose expansion grows exponentially) or nesting thousands of levels deep would
otherwise exhaust memory or the interpreter's stack while the tree, or the plain values read
from it, are built. Both stop with a :class:`~convtest.exceptions.ConfigError` that names them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import yaml

from convtest.adapters.options import unknown_key
from convtest.exceptions import ConfigError, SuiteError
from convtest.suite.limits import DEFAULT_LIMITS, SUITE_LIMIT_KEYS, SuiteLimits
from convtest.suite.tree import Node, parse_tree

__all__ = [
    "MAX_DEPTH",
    "MAX_VALUES",
    "key_line",
    "node_problems",
    "read_config_tree",
    "read_suite_limits",
    "to_plain",
]

#: mappings and lists inside one another; a real convtest.yaml needs fewer than ten
MAX_DEPTH: Final = 64
#: values (keys count too) once every alias is expanded; a real convtest.yaml has hundreds
MAX_VALUES: Final = 100_000

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STARTS: Final = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_ENDS: Final = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def read_config_tree(path: Path) -> Node | None:
    """The file's tree (None when it holds no document); every problem is a ConfigError."""
    shown = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{shown}:{line}: not valid UTF-8 (byte {data[exc.start]:#04x})") from None
    return parse_config_text(text, shown)


def parse_config_text(text: str, shown: str) -> Node | None:
    """Like :func:`read_config_tree`, from the text; ``shown`` names the file in messages."""
    check_size(text, shown)
    try:
        return parse_tree(text, shown)
    except SuiteError as error:
        raise ConfigError(str(error)) from None


def check_size(text: str, shown: str) -> None:
    """Refuse deep nesting and alias bombs from the event stream, which needs no recursion.

    A syntax error ends the scan silently: building the tree reports it, with its line."""
    sizes: dict[str, int] = {}
    open_nodes: list[tuple[str | None, int]] = []
    total = 0
    try:
        for event in _events(text):
            if isinstance(event, _STARTS):
                total += 1
                open_nodes.append((event.anchor, total))
                if len(open_nodes) > MAX_DEPTH:
                    raise _too_deep(shown, event)
            elif isinstance(event, _ENDS):
                anchor, first = open_nodes.pop()
                if anchor is not None:
                    sizes[anchor] = total - first + 1
            elif isinstance(event, yaml.ScalarEvent):
                total += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                total += sizes.get(event.anchor or "", 1)
            if total > MAX_VALUES:
                raise _too_many(shown, event)
    except yaml.YAMLError:
        return


def _events(text: str) -> Iterator[Any]:
    loader = _Loader(text)
    try:
        while loader.check_event():
            yield loader.get_event()
    finally:
        loader.dispose()


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1


def _too_deep(shown: str, event: Any) -> ConfigError:
    return ConfigError(
        f"{shown}:{_line(event)}: nested too deeply: more than {MAX_DEPTH} levels of mappings and lists"
    )


def _too_many(shown: str, event: Any) -> ConfigError:
    return ConfigError(
        f"{shown}:{_line(event)}: too many values once aliases are expanded: more than {MAX_VALUES:,} "
        "(an alias bomb?); write the values out instead of nesting aliases"
    )


def to_plain(node: Node) -> Any:
    """The node as plain YAML data (dicts, lists, scalars): what an adapter's options are read from."""
    if node.kind == "mapping":
        return {key: to_plain(entry.value) for key, entry in node.entries.items()}
    if node.kind == "list":
        return [to_plain(item) for item in node.items]
    return node.value


def key_line(node: Node | None, *path: str) -> int | None:
    """The line of the deepest key of ``path`` found under ``node`` (None: not even the first)."""
    line = None
    for key in path:
        entry = node.entries.get(key) if node is not None else None
        if entry is None:
            break
        line, node = entry.line, entry.value
    return line


def node_problems(node: Node, *, deep: bool = True) -> list[tuple[str, int]]:
    """Duplicate and non-string keys, unsupported tags anywhere under ``node`` (each shared alias
    walked once); only those of ``node`` itself when not ``deep``."""
    if not deep:
        return sorted(node.problems, key=lambda problem: problem[1])
    found: list[tuple[str, int]] = []
    seen: set[int] = set()
    pending = [node]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.extend(current.problems)
        pending.extend(entry.value for entry in current.entries.values())
        pending.extend(current.items)
    return sorted(found, key=lambda problem: problem[1])


def read_suite_limits(node: Node | None, source: str, problems: list[str]) -> SuiteLimits:
    """``suite_limits: {max_bytes: ..., max_depth: ..., max_alias_values: ..., regex_seconds: ...}``;
    a mistake there is the file's (every suite is read with these limits)."""
    if node is None or node.kind == "null":
        return DEFAULT_LIMITS
    if node.kind != "mapping":
        problems.append(f"{source}:{node.line}: `suite_limits`: expected a mapping, got a {node.kind}")
        return DEFAULT_LIMITS
    values: dict[str, Any] = {}
    for key, entry in node.entries.items():
        where = f"{source}:{entry.line}: `suite_limits.{key}`"
        if key not in SUITE_LIMIT_KEYS:
            problems.append(f"{source}:{entry.line}: `suite_limits`: {unknown_key(key, SUITE_LIMIT_KEYS)}")
            continue
        value, whole = entry.value.value, key != "regex_seconds"
        wanted = int if whole else int | float
        if entry.value.kind != "number" or not isinstance(value, wanted) or value <= 0:
            noun = "a whole number of at least 1" if whole else "a number of seconds above 0"
            problems.append(f"{where} must be {noun}, got {entry.value.text or entry.value.kind}")
            continue
        values[key] = value if whole else float(value)
    return dataclasses.replace(DEFAULT_LIMITS, **values)
