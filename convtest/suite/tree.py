"""The bottom of the suite loader: YAML parsed into a small tree whose every value knows its line.

The YAML is not composed into PyYAML's node graph: :class:`TreeBuilder` builds :class:`Node` s
straight from the parser's events, so every mapping, key and value keeps its 1-based line, and
a scalar keeps both its constructed value and its text as written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, cast

import yaml
import yaml.constructor
from yaml.composer import ComposerError

from convtest.exceptions import Location, SuiteError
from convtest.suite.limits import DEFAULT_LIMITS, SuiteLimits

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = ["Entry", "Node", "describe_node", "parse_tree", "read_suite_text", "with_hint"]

_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_STR_TAG: Final = "tag:yaml.org,2002:str"
_SCALAR_KINDS: Final = {
    "tag:yaml.org,2002:str": "string",
    "tag:yaml.org,2002:int": "number",
    "tag:yaml.org,2002:float": "number",
    "tag:yaml.org,2002:bool": "boolean",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "date",
}
_COLLECTION_TAGS: Final = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})

#: the entries of every node that is not a mapping
_NO_ENTRIES: Mapping[str, Entry] = MappingProxyType({})


@dataclass(eq=False, slots=True)
class Node:
    """One YAML value and the 1-based line it starts on.

    ``kind`` is the YAML-ish type name used in messages: mapping, list, string, number, boolean,
    null or date. Scalars keep both the constructed ``value`` and the ``text`` as written, so an
    unquoted ``contains: 0012`` checks for "0012", not for the octal number 10.
    """

    kind: str
    line: int
    value: Any = None
    text: str = ""
    #: read-only once built; a scalar shares the empty defaults (a big suite has many scalars)
    items: Sequence[Node] = ()
    entries: Mapping[str, Entry] = field(default_factory=lambda: _NO_ENTRIES)
    #: (message, line) found while building; reported by whoever reads this mapping
    problems: Sequence[tuple[str, int]] = ()
    #: appended to a type error: the likely cause when the value is not what it looks like
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """A mapping key with its line, and its value."""

    key: str
    line: int
    value: Node


class TreeBuilder:
    """Builds :class:`Node` s straight from the YAML parser's events.

    No YAML node graph is composed first: for a big suite that graph cost more memory than the
    converted tree (12 KB a conversation), all of it alive at once. Anchors, aliases and merge
    keys are resolved here; an alias is the very :class:`Node` of its anchor, and an alias to
    an anchor still being built is refused, since checks like ``not:`` would recurse forever.
    Composer errors (undefined alias, duplicate anchor, a second document) are PyYAML's own.
    """

    def __init__(self, loader: _Loader, file: str, text: str, limits: SuiteLimits = DEFAULT_LIMITS) -> None:
        self._loader = loader
        self._file = file
        self._text = text
        self._limits = limits
        #: an anchor's conversion; None while the anchored node is still being built
        self._anchors: dict[str, Node | None] = {}
        self._anchor_marks: dict[str, Any] = {}  # yaml.Mark (the stubs type marks as optional)
        self._constructor = yaml.constructor.SafeConstructor()
        #: values built so far, aliases counted at the full size of what they stand for
        self._values = 0
        #: how many values each finished anchor stands for
        self._anchor_sizes: dict[str, int] = {}
        #: of the values, those that aliases added
        self._alias_values = 0
        self._depth = 0
        #: the problems of each mapping or list being built, innermost last: an unsupported tag
        #: inside one is that collection's problem (reported with its conversation and turn)
        self._open: list[list[tuple[str, int]]] = []

    def document(self) -> Node | None:
        """The single document of the stream; None for an empty one."""
        loader = self._loader
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # document start
        root_mark = cast(Any, loader.peek_event()).start_mark
        root = self.node()
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            another = cast(Any, loader.get_event()).start_mark
            raise ComposerError(
                "expected a single document in the stream", root_mark, "but found another document", another
            )
        return root

    def node(self) -> Node:
        event: Any = self._loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event)
        line = event.start_mark.line + 1
        self._values += 1
        anchor = event.anchor
        if anchor is not None:
            if anchor in self._anchors:
                first = self._anchor_marks[anchor]
                raise ComposerError(
                    "found duplicate anchor; first occurrence", first, "second occurrence", event.start_mark
                )
            self._anchors[anchor] = None
            self._anchor_marks[anchor] = event.start_mark
        start = self._values - 1
        if isinstance(event, yaml.ScalarEvent):
            result = self._scalar(event, line)
        elif self._depth >= self._limits.max_depth:
            limit = self._limits.max_depth
            self._problem(
                f"YAML nested deeper than {limit} levels (suite_limits.max_depth in convtest.yaml)", line
            )
            self._skip()
            result = Node("null", line)
        else:
            self._depth += 1
            if isinstance(event, yaml.SequenceStartEvent):
                result = self._sequence(event, line)
            else:
                result = self._mapping(event, line)
            self._depth -= 1
        if anchor is not None:
            self._anchors[anchor] = result
            self._anchor_sizes[anchor] = self._values - start
        return result

    def _skip(self) -> None:
        """Consume the rest of a collection that is not built (its start event is consumed)."""
        open_collections = 1
        while open_collections:
            event = self._loader.get_event()
            if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                open_collections += 1
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                open_collections -= 1

    def _alias(self, event: Any) -> Node:
        anchor = event.anchor
        if anchor not in self._anchors:
            raise ComposerError(None, None, "found undefined alias", event.start_mark)
        built = self._anchors[anchor]
        size = self._anchor_sizes.get(anchor, 1)
        self._values += size
        self._alias_values += size
        if self._alias_values > self._limits.max_alias_values:
            message = (
                f"aliases expand this file to more than {self._limits.max_alias_values:,} values "
                "(suite_limits.max_alias_values in convtest.yaml)"
            )
            raise SuiteError(message, Location(self._file, event.start_mark.line + 1))
        if built is None:
            line = self._anchor_marks[anchor].line + 1
            raise SuiteError("recursive alias: an anchor cannot contain itself", Location(self._file, line))
        return built

    def _tag(self, event: Any, kind: type[yaml.Node]) -> str:
        tag: str | None = getattr(event, "tag", None)
        if tag is None or tag == "!":
            value = event.value if isinstance(event, yaml.ScalarEvent) else None
            tag = self._loader.resolve(kind, value, event.implicit)  # type: ignore[no-untyped-call]
        return tag

    def _scalar(self, event: Any, line: int) -> Node:
        tag = self._tag(event, yaml.ScalarNode)
        if tag == _STR_TAG:  # most scalars: the text is the value, no constructor needed
            return Node("string", line, value=event.value, text=event.value)
        kind = _SCALAR_KINDS.get(tag)
        if kind is None:
            self._unsupported(tag, line)
            return Node("string", line, value=event.value, text=event.value)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        try:
            value = self._constructor.yaml_constructors[tag](self._constructor, node)
        except (ValueError, yaml.YAMLError) as exc:
            self._problem(f"cannot read {event.value!r} as a {kind}: {exc}", line)
            return Node("string", line, value=event.value, text=event.value)
        return Node(kind, line, value=value, text=event.value)

    def _sequence(self, event: Any, line: int) -> Node:
        tag = self._tag(event, yaml.SequenceNode)
        if tag not in _COLLECTION_TAGS:
            self._unsupported(tag, line)
        loader = self._loader
        items: list[Node] = []
        problems: list[tuple[str, int]] = []
        self._open.append(problems)
        while not loader.check_event(yaml.SequenceEndEvent):
            items.append(self.node())
        self._open.pop()
        loader.get_event()
        return Node("list", line, items=items, problems=problems or ())

    def _mapping(self, event: Any, line: int) -> Node:
        tag = self._tag(event, yaml.MappingNode)
        if tag not in _COLLECTION_TAGS:
            self._unsupported(tag, line)
        hint = self._hint(event)
        loader = self._loader
        entries: dict[str, Entry] = {}
        problems: list[tuple[str, int]] = []
        self._open.append(problems)
        merged: list[Entry] = []
        while not loader.check_event(yaml.MappingEndEvent):
            key_event: Any = loader.peek_event()
            key_line = key_event.start_mark.line + 1
            if (
                isinstance(key_event, yaml.ScalarEvent)
                and (key_event.value == "<<" or key_event.tag is not None)
                and self._tag(key_event, yaml.ScalarNode) == _MERGE_TAG
            ):
                loader.get_event()
                merged.extend(self._merge_sources(self.node(), key_line))
                continue
            key, value = self.node(), self.node()
            if key.kind in ("mapping", "list"):
                message = f"a mapping key must be a string, got a {key.kind}"
                problems.append((with_hint(message, hint), key_line))
            elif (first := entries.get(key.text)) is not None:
                message = f"duplicate key `{key.text}` (first at line {first.line})"
                problems.append((message, key_line))
            else:
                entries[key.text] = Entry(key.text, key_line, value)
        self._open.pop()
        loader.get_event()
        for entry in merged:  # keys written in the mapping win over merged ones, earlier merges win
            entries.setdefault(entry.key, entry)
        return Node("mapping", line, entries=entries, problems=problems or (), hint=hint)

    def _merge_sources(self, built: Node, line: int) -> Iterator[Entry]:
        for source in built.items if built.kind == "list" else [built]:
            if source.kind != "mapping":
                message = f"`<<` merges mappings (`<<: *anchor`), got {describe_node(source)}"
                raise SuiteError(message, Location(self._file, line))
            yield from source.entries.values()

    def _hint(self, event: Any) -> str:
        if event.flow_style and self._text.startswith("{{", event.start_mark.index):
            return 'a value starting with `{{` must be quoted: "{{ name }}"'
        return ""

    def _unsupported(self, tag: str, line: int) -> None:
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        self._problem(f"unsupported YAML tag `{shown}`", line)

    def _problem(self, message: str, line: int) -> None:
        """A problem of the enclosing mapping or list, so only its conversation is invalid; at the
        top of the file there is none, and the file is."""
        if not self._open:
            raise SuiteError(message, Location(self._file, line))
        self._open[-1].append((message, line))


def read_suite_text(path: Path, shown: str, limits: SuiteLimits = DEFAULT_LIMITS) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(limits.max_bytes + 1)  # a huge file is refused without reading it all
    except OSError as exc:
        raise SuiteError(f"cannot read suite file {shown}: {exc.strerror or exc}") from None
    if len(data) > limits.max_bytes:
        message = (
            f"suite file is larger than {limits.max_bytes:,} bytes (suite_limits.max_bytes in convtest.yaml)"
        )
        raise SuiteError(message, Location(shown, 1))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = f"suite file is not valid UTF-8 (byte {data[exc.start]:#04x})"
        raise SuiteError(message, Location(shown, line)) from None


def parse_tree(text: str, file: str, limits: SuiteLimits = DEFAULT_LIMITS) -> Node | None:
    """Parse once with the C parser when available; syntax errors keep YAML's line and problem."""
    try:
        return _build_tree(text, file, limits)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise SuiteError(
            f"invalid YAML: {exc.reason} (character #x{exc.character:04x})", Location(file, line)
        ) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML error is one of the above
        raise SuiteError(f"invalid YAML: {exc}", Location(file, 1)) from None


def _build_tree(text: str, file: str, limits: SuiteLimits) -> Node | None:
    # PyYAML's pure-Python reader checks the characters as the loader is made; the C one later
    loader = _Loader(text)
    try:
        return TreeBuilder(loader, file, text, limits).document()
    finally:
        loader.dispose()


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str) -> SuiteError:
    mark = exc.problem_mark or exc.context_mark
    problem = (exc.problem or "syntax error").removeprefix("but ")
    message = f"invalid YAML: {problem}"
    if mark is not None:
        message += f" at column {mark.column + 1}"
    if exc.context:
        started = f" at line {exc.context_mark.line + 1}" if exc.context_mark is not None else ""
        message += f" ({exc.context}{started})"
    if mark is not None and text[mark.index : mark.index + 1] == "\t":
        message += "; YAML does not allow tabs for indentation, use spaces"
    elif problem.startswith("mapping values are not allowed"):
        message += "; quote a value that contains `: `"
    elif problem.startswith("did not find expected key"):
        message += "; check the indentation of this line"
    return SuiteError(message, Location(file, mark.line + 1 if mark is not None else 1))


def _a(kind: str) -> str:
    return kind if kind == "null" else f"a {kind}"


def describe_node(node: Node) -> str:
    """How a wrong value is named: its type, and the value itself when short."""
    if node.kind in ("mapping", "list", "null"):
        return _a(node.kind)
    shown = node.text if len(node.text) <= 40 else node.text[:37] + "..."
    return f"{_a(node.kind)} ({shown!r})" if node.kind == "string" else f"{_a(node.kind)} ({shown})"


def with_hint(message: str, hint: str) -> str:
    return f"{message}; {hint}" if hint else message
