"""Load a suite YAML file into :mod:`convtest.models`, every mistake reported at its file:line.

The YAML is composed, not constructed, so every mapping, key and value keeps its line: a small
line-aware tree (:class:`_Node`) is built once, then one small function per section validates it
and builds the frozen model. A problem inside a conversation never raises: the conversation's
problems are all collected, it becomes an :class:`~convtest.models.InvalidConversation`, and its
siblings still load. Only file-level problems (unreadable file, YAML syntax, a bad top level or
``defaults``) raise :class:`~convtest.exceptions.SuiteError`.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, cast, get_args

import yaml
import yaml.constructor
from yaml.composer import ComposerError

from convtest.exceptions import Location, SuiteError
from convtest.models import (
    Conversation,
    Expectation,
    GoldenSettings,
    InvalidConversation,
    SaveRule,
    SaveSource,
    Suite,
    TextCheck,
    TextOp,
    ToolCallPattern,
    ToolCheck,
    Turn,
    Value,
)
from convtest.sniff import is_suite_file
from convtest.suite_golden import GOLDEN_KEYS, claim_golden_file, parse_golden
from convtest.suite_protocol import (
    parse_aborted,
    parse_data,
    parse_errors,
    parse_input_schema,
    parse_sources,
    parse_steps,
    parse_timeouts,
    parse_tool_error,
    parse_unknown_events,
)
from convtest.templating import Template, compile_template, template_variables

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = [
    "CONVERSATION_KEYS",
    "DEFAULTS_KEYS",
    "EXPECT_KEYS",
    "LATENCY_KEYS",
    "RESERVED_NAMES",
    "SAVE_RULE_KEYS",
    "SAVE_SOURCES",
    "TAG_PATTERN",
    "TEXT_CHECK_KEYS",
    "TOOL_CALL_KEYS",
    "TOOL_CHECK_KEYS",
    "TOP_LEVEL_KEYS",
    "TURN_KEYS",
    "is_suite_file",
    "load_suite",
    "load_suite_text",
]

# The valid keys of every mapping, in one place: did-you-mean and docs/suite-format.md share them.
TOP_LEVEL_KEYS: Final = frozenset({"suite", "target", "defaults", "conversations"})
DEFAULTS_KEYS: Final = frozenset({"platform", "tags", "vars", "expect", "timeouts", "golden"})
CONVERSATION_KEYS: Final = frozenset(
    {"name", "tags", "target", "platform", "vars", "skip", "xfail", "turns", "golden"}
)
TURN_KEYS: Final = frozenset({"user", "expect", "save", "timeouts", "golden"})
EXPECT_KEYS: Final = frozenset(
    {
        "text",
        "tool_calls",
        "finish_reason",
        "latency",
        "reasoning",
        "sources",
        "data",
        "errors",
        "steps",
        "aborted",
        "unknown_events",
    }
)
#: every text operation is a key, plus the ``ignore_case`` modifier
TEXT_CHECK_KEYS: Final = frozenset({*get_args(TextOp), "ignore_case"})
TOOL_CHECK_KEYS: Final = frozenset({"none", "called", "not_called", "count", "sequence"})
TOOL_CALL_KEYS: Final = frozenset({"name", "input", "output", "error", "input_schema"})
LATENCY_KEYS: Final = frozenset({"first_token_ms", "total_ms"})
SAVE_RULE_KEYS: Final = frozenset({"from", "regex", "group", "tool", "path"})
SAVE_SOURCES: Final = frozenset({"text", "tool_input", "tool_output", "session_id", "message_id"})
#: template names convtest provides itself; vars and saves may not take them
RESERVED_NAMES: Final = frozenset({"env", "session_id"})
#: tags become pytest markers
TAG_PATTERN: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: where a key that is valid elsewhere belongs, for the message when it is written in the wrong place
_KEY_HOMES: Final = {
    **{key: "under `golden`" for key in GOLDEN_KEYS},
    **{key: "under `expect.text`" for key in TEXT_CHECK_KEYS},
    **{key: "under `expect.tool_calls`" for key in TOOL_CHECK_KEYS},
    **{key: "under `expect`" for key in EXPECT_KEYS},
    **{key: "directly in a turn (an item of `turns`)" for key in TURN_KEYS},
    "turns": "in a conversation (an item of `conversations`)",
    **{key: "under `expect.sources`" for key in ("contains_url", "contains_title")},
}
#: markers pytest itself acts on: a tag with such a name would silently change how the test runs
_PYTEST_MARKERS: Final = frozenset(
    {"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings"}
)
_DEFAULT_PLATFORM: Final = "web"
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


# --- public API -----------------------------------------------------------------------------------


def load_suite(path: Path, *, display_path: str | None = None, default_target: str | None = None) -> Suite:
    """Read and validate one suite file; ``display_path`` is how messages name it."""
    shown = str(path) if display_path is None else display_path
    return _load(_read(path, shown), shown, path, default_target)


def load_suite_text(text: str, display_path: str, *, default_target: str | None = None) -> Suite:
    """Like :func:`load_suite`, from a string; ``Suite.path`` is ``Path(display_path)``."""
    return _load(text, display_path, Path(display_path), default_target)


# --- the line-aware tree --------------------------------------------------------------------------


#: the entries of every node that is not a mapping
_NO_ENTRIES: Mapping[str, _Entry] = MappingProxyType({})


@dataclass(eq=False, slots=True)
class _Node:
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
    items: Sequence[_Node] = ()
    entries: Mapping[str, _Entry] = field(default_factory=lambda: _NO_ENTRIES)
    #: (message, line) found while building; reported by whoever reads this mapping
    problems: Sequence[tuple[str, int]] = ()
    #: appended to a type error: the likely cause when the value is not what it looks like
    hint: str = ""


@dataclass(frozen=True, slots=True)
class _Entry:
    """A mapping key with its line, and its value."""

    key: str
    line: int
    value: _Node


class _TreeBuilder:
    """Builds :class:`_Node` s straight from the YAML parser's events.

    No YAML node graph is composed first: for a big suite that graph cost more memory than the
    converted tree (12 KB a conversation), all of it alive at once. Anchors, aliases and merge
    keys are resolved here; an alias is the very :class:`_Node` of its anchor, and an alias to
    an anchor still being built is refused, since checks like ``not:`` would recurse forever.
    Composer errors (undefined alias, duplicate anchor, a second document) are PyYAML's own.
    """

    def __init__(self, loader: _Loader, file: str, text: str) -> None:
        self._loader = loader
        self._file = file
        self._text = text
        #: an anchor's conversion; None while the anchored node is still being built
        self._anchors: dict[str, _Node | None] = {}
        self._anchor_marks: dict[str, Any] = {}  # yaml.Mark (the stubs type marks as optional)
        self._constructor = yaml.constructor.SafeConstructor()

    def document(self) -> _Node | None:
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

    def node(self) -> _Node:
        event: Any = self._loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event)
        line = event.start_mark.line + 1
        anchor = event.anchor
        if anchor is not None:
            if anchor in self._anchors:
                first = self._anchor_marks[anchor]
                raise ComposerError(
                    "found duplicate anchor; first occurrence", first, "second occurrence", event.start_mark
                )
            self._anchors[anchor] = None
            self._anchor_marks[anchor] = event.start_mark
        if isinstance(event, yaml.ScalarEvent):
            result = self._scalar(event, line)
        elif isinstance(event, yaml.SequenceStartEvent):
            result = self._sequence(event, line)
        else:
            result = self._mapping(event, line)
        if anchor is not None:
            self._anchors[anchor] = result
        return result

    def _alias(self, event: Any) -> _Node:
        anchor = event.anchor
        if anchor not in self._anchors:
            raise ComposerError(None, None, "found undefined alias", event.start_mark)
        built = self._anchors[anchor]
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

    def _scalar(self, event: Any, line: int) -> _Node:
        tag = self._tag(event, yaml.ScalarNode)
        if tag == _STR_TAG:  # most scalars: the text is the value, no constructor needed
            return _Node("string", line, value=event.value, text=event.value)
        kind = _SCALAR_KINDS.get(tag)
        if kind is None:
            raise self._unsupported(tag, line)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        try:
            value = self._constructor.yaml_constructors[tag](self._constructor, node)
        except (ValueError, yaml.YAMLError) as exc:
            raise SuiteError(
                f"cannot read {event.value!r} as a {kind}: {exc}", Location(self._file, line)
            ) from None
        return _Node(kind, line, value=value, text=event.value)

    def _sequence(self, event: Any, line: int) -> _Node:
        tag = self._tag(event, yaml.SequenceNode)
        if tag not in _COLLECTION_TAGS:
            raise self._unsupported(tag, line)
        loader = self._loader
        items: list[_Node] = []
        while not loader.check_event(yaml.SequenceEndEvent):
            items.append(self.node())
        loader.get_event()
        return _Node("list", line, items=items)

    def _mapping(self, event: Any, line: int) -> _Node:
        tag = self._tag(event, yaml.MappingNode)
        if tag not in _COLLECTION_TAGS:
            raise self._unsupported(tag, line)
        hint = self._hint(event)
        loader = self._loader
        entries: dict[str, _Entry] = {}
        problems: list[tuple[str, int]] = []
        merged: list[_Entry] = []
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
                problems.append((_with_hint(message, hint), key_line))
            elif (first := entries.get(key.text)) is not None:
                message = f"duplicate key `{key.text}` (first at line {first.line})"
                problems.append((message, key_line))
            else:
                entries[key.text] = _Entry(key.text, key_line, value)
        loader.get_event()
        for entry in merged:  # keys written in the mapping win over merged ones, earlier merges win
            entries.setdefault(entry.key, entry)
        return _Node("mapping", line, entries=entries, problems=problems or (), hint=hint)

    def _merge_sources(self, built: _Node, line: int) -> Iterator[_Entry]:
        for source in built.items if built.kind == "list" else [built]:
            if source.kind != "mapping":
                message = f"`<<` merges mappings (`<<: *anchor`), got {_got(source)}"
                raise SuiteError(message, Location(self._file, line))
            yield from source.entries.values()

    def _hint(self, event: Any) -> str:
        if event.flow_style and self._text.startswith("{{", event.start_mark.index):
            return 'a value starting with `{{` must be quoted: "{{ name }}"'
        return ""

    def _unsupported(self, tag: str, line: int) -> SuiteError:
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        return SuiteError(f"unsupported YAML tag `{shown}`", Location(self._file, line))


def _read(path: Path, shown: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SuiteError(f"cannot read suite file {shown}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = f"suite file is not valid UTF-8 (byte {data[exc.start]:#04x})"
        raise SuiteError(message, Location(shown, line)) from None


def _parse_tree(text: str, file: str) -> _Node | None:
    """Parse once with the C parser when available; syntax errors keep YAML's line and problem."""
    try:
        return _build_tree(text, file)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise SuiteError(
            f"invalid YAML: {exc.reason} (character #x{exc.character:04x})", Location(file, line)
        ) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML error is one of the above
        raise SuiteError(f"invalid YAML: {exc}", Location(file, 1)) from None


def _build_tree(text: str, file: str) -> _Node | None:
    # PyYAML's pure-Python reader checks the characters as the loader is made; the C one later
    loader = _Loader(text)
    try:
        return _TreeBuilder(loader, file, text).document()
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


# --- reading values with errors collected ---------------------------------------------------------


def _a(kind: str) -> str:
    return kind if kind == "null" else f"a {kind}"


def _got(node: _Node) -> str:
    """How a wrong value is named: its type, and the value itself when short."""
    if node.kind in ("mapping", "list", "null"):
        return _a(node.kind)
    shown = node.text if len(node.text) <= 40 else node.text[:37] + "..."
    return f"{_a(node.kind)} ({shown!r})" if node.kind == "string" else f"{_a(node.kind)} ({shown})"


def _with_hint(message: str, hint: str) -> str:
    return f"{message}; {hint}" if hint else message


def _suggest(word: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word.lower(), sorted(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _is_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


class _Context:
    """Collects the problems of one scope (the file, or one conversation) instead of stopping.

    Its readers check a node's type, record a message at the node's line when it is wrong and
    return None, so a parse function can go on with the sibling keys.
    """

    def __init__(self, file: str, conversation: str | None = None) -> None:
        self.file = file
        self.conversation = conversation
        self.turn: int | None = None
        self.errors: list[SuiteError] = []
        self._seen: set[tuple[str, int, int | None]] = set()

    def at(self, line: int) -> Location:
        return Location(self.file, line)

    def error(self, message: str, line: int) -> None:
        if (message, line, self.turn) in self._seen:  # a shared anchor is read once per use
            return
        self._seen.add((message, line, self.turn))
        error = SuiteError(message, self.at(line), conversation=self.conversation, turn=self.turn)
        self.errors.append(error)

    def type_error(self, node: _Node, what: str, expected: str) -> None:
        self.error(_with_hint(f"{what} must be {expected}, got {_got(node)}", node.hint), node.line)

    def mapping(
        self,
        node: _Node,
        what: str,
        keys: frozenset[str] | None,
        *,
        required: Sequence[str] = (),
        where: str | None = None,
        extensions: bool = False,
    ) -> dict[str, _Entry] | None:
        """The entries of a mapping whose keys are in ``keys`` (any key when None)."""
        if node.kind != "mapping":
            self.type_error(node, what, "a mapping")
            return None
        for message, line in node.problems:
            self.error(message, line)
        known: dict[str, _Entry] = {}
        suggested: set[str] = set()
        for key, entry in node.entries.items():
            if keys is None or key in keys:
                known[key] = entry
            elif not (extensions and key.startswith("x-")):
                suggested.add(self._unknown_key(entry, keys, where or f"in {what}"))
        for key in required:
            if key not in known and key not in suggested:
                self.error(f"{what} is missing `{key}`", node.line)
        return known

    def _unknown_key(self, entry: _Entry, keys: frozenset[str], where: str) -> str:
        home = _KEY_HOMES.get(entry.key)
        if home is not None:
            self.error(f"unknown key `{entry.key}` {where}: `{entry.key}` belongs {home}", entry.line)
            return ""
        match = _suggest(entry.key, keys)
        if match is None:
            self.error(
                f"unknown key `{entry.key}` {where} (valid keys: {', '.join(sorted(keys))})", entry.line
            )
            return ""
        self.error(f"unknown key `{entry.key}` {where} — did you mean `{match}`?", entry.line)
        return match

    def sequence(
        self, node: _Node, what: str, *, expected: str = "a list", empty_ok: bool = False
    ) -> Sequence[_Node] | None:
        if node.kind != "list":
            self.type_error(node, what, expected)
            return None
        if not node.items and not empty_ok:
            self.error(f"{what} must not be empty", node.line)
            return None
        return node.items

    def string(
        self, node: _Node, what: str, *, expected: str = "a string", empty_ok: bool = True
    ) -> str | None:
        """A string; unquoted numbers, booleans and dates count too, as written."""
        if node.kind == "string":
            text = cast(str, node.value)
        elif node.kind in ("number", "boolean", "date"):
            text = node.text
        else:
            self.type_error(node, what, expected)
            return None
        if not text and not empty_ok:
            self.error(f"{what} must not be empty", node.line)
            return None
        return text

    def strings(self, node: _Node, what: str, *, single_ok: bool) -> list[tuple[str, int]] | None:
        """A non-empty list of strings (or one string when ``single_ok``), each with its line."""
        if single_ok and node.kind not in ("list", "mapping", "null"):
            text = self.string(node, what, empty_ok=False)
            return None if text is None else [(text, node.line)]
        expected = "a string or a list of strings" if single_ok else "a list of strings"
        items = self.sequence(node, what, expected=expected)
        if items is None:
            return None
        values = [(self.string(item, f"each item of {what}", empty_ok=False), item.line) for item in items]
        return [(text, line) for text, line in values if text is not None]

    def template(self, source: str, line: int) -> Value | None:
        try:
            return compile_template(source, self.at(line))
        except SuiteError as exc:
            self.error(exc.message, line)
            return None

    def operand(self, node: _Node, what: str, *, expected: str = "a string") -> Value | None:
        text = self.string(node, what, expected=expected)
        return None if text is None else self.template(text, node.line)

    def integer(self, node: _Node, what: str) -> int | None:
        if node.kind != "number" or not isinstance(node.value, int) or node.value < 0:
            got = node.text if node.kind == "number" else _got(node)
            self.error(f"{what} must be a whole number ≥ 0, got {got}", node.line)
            return None
        return node.value

    def positive_number(self, node: _Node, what: str) -> float | None:
        if node.kind != "number" or not float(node.value) > 0:
            got = node.text if node.kind == "number" else _got(node)
            self.error(f"{what} must be a number > 0 (milliseconds), got {got}", node.line)
            return None
        return float(node.value)

    def boolean(self, node: _Node, what: str) -> bool | None:
        if node.kind != "boolean":
            self.type_error(node, what, "true or false")
            return None
        return cast(bool, node.value)

    def choice(self, node: _Node, what: str, choices: frozenset[str], *, noun: str) -> str | None:
        """One of a fixed set of words; a misspelt one is reported with a did-you-mean."""
        valid = ", ".join(sorted(choices))
        text = self.string(node, what, expected=f"one of {valid}")
        if text is None or text in choices:
            return text
        hint = self.suggestion(text, choices)
        self.error(f"unknown {what} {noun} `{text}`{hint} (one of {valid})", node.line)
        return None

    @staticmethod
    def suggestion(word: str, choices: Iterable[str]) -> str:
        """`` — did you mean `x`?`` for the closest choice, or nothing."""
        match = _suggest(word, choices)
        return f" — did you mean `{match}`?" if match else ""

    def plain(self, node: _Node, *, templates: bool = False) -> Any:
        """Any YAML value as plain Python; string leaves become templates when asked."""
        if node.kind == "mapping":
            for message, line in node.problems:
                self.error(message, line)
            return {key: self.plain(entry.value, templates=templates) for key, entry in node.entries.items()}
        if node.kind == "list":
            return [self.plain(item, templates=templates) for item in node.items]
        if templates and node.kind == "string":
            compiled = self.template(cast(str, node.value), node.line)
            return node.value if compiled is None else compiled
        return node.value

    def sorted_errors(self) -> tuple[SuiteError, ...]:
        """In file order: checks run section by section, a reader expects top to bottom."""
        return tuple(sorted(self.errors, key=lambda error: error.location.line if error.location else 0))

    def raise_errors(self) -> None:
        """File-level problems: raise them as one error, the first one's location leading."""
        if not self.errors:
            return
        first, *rest = self.sorted_errors()
        if not rest:
            raise first
        message = "\n".join([first.message, *(str(error) for error in rest)])
        raise SuiteError(message, first.location)


# --- the file -------------------------------------------------------------------------------------

#: the Expectation fields one ``expect`` key sets; a turn's key replaces the default's whole entry
_ExpectPart = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Defaults:
    platform: str = _DEFAULT_PLATFORM
    tags: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    expect: Mapping[str, _ExpectPart] = field(default_factory=dict)
    timeouts: Mapping[str, float] = field(default_factory=dict)
    golden: GoldenSettings | None = None


def _load(text: str, file: str, path: Path, default_target: str | None) -> Suite:
    root = _parse_tree(text, file)
    if root is None or root.kind == "null":
        raise SuiteError("empty suite file: expected a mapping with `conversations`", Location(file, 1))
    if root.kind != "mapping":
        message = f"a suite file must be a mapping with `conversations`, got {_got(root)}"
        raise SuiteError(message, Location(file, root.line))
    ctx = _Context(file)
    keys, where = TOP_LEVEL_KEYS, "at the top level"
    top = (
        ctx.mapping(root, "suite file", keys, required=("conversations",), where=where, extensions=True) or {}
    )
    name = _optional_string(ctx, top.get("suite"), "`suite`") or Path(file).stem
    target = _optional_string(ctx, top.get("target"), "`target`")
    defaults = _parse_defaults(ctx, top.get("defaults"))
    items = _conversation_items(ctx, top.get("conversations"))
    ctx.raise_errors()
    conversations: list[Conversation] = []
    invalid: list[InvalidConversation] = []
    seen: dict[str, int] = {}
    golden_files: dict[str, Conversation] = {}
    for index, item in enumerate(items, 1):
        result = _parse_conversation(file, item, index, defaults, seen, target or default_target)
        result = claim_golden_file(result, golden_files)
        if isinstance(result, Conversation):
            conversations.append(result)
        else:
            invalid.append(result)
    return Suite(name=name, path=path, conversations=tuple(conversations), invalid=tuple(invalid))


def _optional_string(ctx: _Context, entry: _Entry | None, what: str) -> str | None:
    return None if entry is None else ctx.string(entry.value, what, empty_ok=False)


def _conversation_items(ctx: _Context, entry: _Entry | None) -> Sequence[_Node]:
    if entry is None:
        return []
    return ctx.sequence(entry.value, "`conversations`") or []


def _parse_defaults(ctx: _Context, entry: _Entry | None) -> _Defaults:
    """``defaults`` are validated once, at file level; their templates are checked per conversation."""
    if entry is None or entry.value.kind == "null":
        return _Defaults()
    entries = ctx.mapping(entry.value, "`defaults`", DEFAULTS_KEYS)
    if entries is None:
        return _Defaults()
    return _Defaults(
        platform=_optional_string(ctx, entries.get("platform"), "`platform`") or _DEFAULT_PLATFORM,
        tags=_parse_tags(ctx, entries.get("tags")),
        vars=_parse_vars(ctx, entries.get("vars")) or {},
        expect=_parse_expect(ctx, entries.get("expect")),
        timeouts=parse_timeouts(ctx, entries.get("timeouts")) or {},
        golden=parse_golden(ctx, entries.get("golden"), None),
    )


# --- conversations --------------------------------------------------------------------------------


def _parse_conversation(
    file: str, node: _Node, index: int, defaults: _Defaults, seen: dict[str, int], target: str | None
) -> Conversation | InvalidConversation:
    name, first = _peek_name(node), None
    if name is not None and (first := seen.get(name)) is None:
        seen[name] = node.line
    label = f"#{index}" if name is None else name if first is None else f"{name} #{index}"
    ctx = _Context(file, label)
    if first is not None:
        ctx.error(f"duplicate conversation name `{name}` (first at line {first})", node.line)
    entries = ctx.mapping(node, "conversation", CONVERSATION_KEYS, required=("name", "turns"))
    if entries is None:
        return InvalidConversation(label, ctx.at(node.line), ctx.sorted_errors())
    if "name" in entries:
        ctx.string(entries["name"].value, "`name`", empty_ok=False)
    own_vars = _parse_vars(ctx, entries.get("vars"))
    variables = {**defaults.vars, **(own_vars or {})}
    golden = parse_golden(ctx, entries.get("golden"), defaults.golden)
    turns = _parse_turns(ctx, entries.get("turns"), defaults, golden)
    if own_vars is not None:  # with broken vars, every template would look undefined
        _check_template_variables(ctx, turns, frozenset(variables) | RESERVED_NAMES)
    conversation = Conversation(
        name=label,
        location=ctx.at(node.line),
        turns=tuple(turn for turn, _ in turns),
        tags=_unique(defaults.tags + _parse_tags(ctx, entries.get("tags"))),
        target=_optional_string(ctx, entries.get("target"), "`target`") or target,
        platform=_optional_string(ctx, entries.get("platform"), "`platform`") or defaults.platform,
        vars=variables,
        skip=_parse_marker(ctx, entries.get("skip")),
        xfail=_parse_marker(ctx, entries.get("xfail")),
        golden=golden,
    )
    if ctx.errors:
        return InvalidConversation(label, conversation.location, ctx.sorted_errors())
    return conversation


def _peek_name(node: _Node) -> str | None:
    """The conversation's name, read before validation so every error can carry it."""
    entry = node.entries.get("name") if node.kind == "mapping" else None
    if entry is None or entry.value.kind in ("mapping", "list", "null"):
        return None
    return (cast(str, entry.value.value) if entry.value.kind == "string" else entry.value.text) or None


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _parse_tags(ctx: _Context, entry: _Entry | None) -> tuple[str, ...]:
    if entry is None or entry.value.kind == "null":
        return ()
    if entry.value.kind == "list" and not entry.value.items:
        return ()
    tags = ctx.strings(entry.value, "`tags`", single_ok=False) or []
    return tuple(tag for tag, line in tags if _valid_tag(ctx, tag, line))


def _valid_tag(ctx: _Context, tag: str, line: int) -> bool:
    if not TAG_PATTERN.match(tag):
        fixed = re.sub(r"\W", "_", tag)
        fixed = f"_{fixed}" if fixed[:1].isdigit() else fixed
        message = f"invalid tag `{tag}`: tags become pytest markers, so they must match {TAG_PATTERN.pattern}"
        ctx.error(f"{message} (e.g. `{fixed}`)", line)
        return False
    if tag in _PYTEST_MARKERS:
        instead = (
            f"use the conversation's `{tag}:` key" if tag in ("skip", "xfail") else "choose another name"
        )
        ctx.error(
            f"tag `{tag}` is a built-in pytest marker and would change how the test runs; {instead}", line
        )
        return False
    return True


def _parse_vars(ctx: _Context, entry: _Entry | None) -> dict[str, Any] | None:
    """Template variables; None when ``vars`` is not a mapping at all."""
    if entry is None or entry.value.kind == "null":
        return {}
    entries = ctx.mapping(entry.value, "`vars`", None)
    if entries is None:
        return None
    return {
        name: ctx.plain(var.value)
        for name, var in entries.items()
        if _valid_name(ctx, name, var.line, "variable")
    }


def _valid_name(ctx: _Context, name: str, line: int, what: str) -> bool:
    if name in RESERVED_NAMES:
        ctx.error(f"{what} name `{name}` is reserved: convtest always provides `{name}`", line)
        return False
    if not _is_name(name):
        ctx.error(
            f"{what} name `{name}` must be an identifier (letters, digits and _, not starting with a digit)",
            line,
        )
        return False
    return True


def _parse_marker(ctx: _Context, entry: _Entry | None) -> str | None:
    """``skip`` / ``xfail``: a reason, or true for a generic one; false turns it off."""
    if entry is None or entry.value.kind == "null":
        return None
    node = entry.value
    if node.kind == "boolean":
        return f"marked `{entry.key}: true` in the suite" if node.value else None
    if node.kind != "string":
        ctx.type_error(node, f"`{entry.key}`", "a reason string or true")
        return None
    return cast(str, node.value) or f"marked `{entry.key}` in the suite"


# --- turns ----------------------------------------------------------------------------------------


def _parse_turns(
    ctx: _Context, entry: _Entry | None, defaults: _Defaults, golden: GoldenSettings | None
) -> list[tuple[Turn, frozenset[str]]]:
    """Every turn with the names it saves; a broken turn still yields one, so later turns get checked."""
    items = [] if entry is None else ctx.sequence(entry.value, "`turns`") or []
    turns = [_parse_turn(ctx, item, index, defaults, golden) for index, item in enumerate(items, 1)]
    ctx.turn = None
    return turns


def _parse_turn(
    ctx: _Context, node: _Node, index: int, defaults: _Defaults, golden: GoldenSettings | None
) -> tuple[Turn, frozenset[str]]:
    ctx.turn = index
    entries = ctx.mapping(node, "turn", TURN_KEYS, required=("user",)) or {}
    user = ctx.operand(entries["user"].value, "`user`") if "user" in entries else None
    parts = {**defaults.expect, **_parse_expect(ctx, entries.get("expect"))}
    rules, saved = _parse_save(ctx, entries.get("save"))
    expect = Expectation(**{name: value for part in parts.values() for name, value in part.items()})
    timeouts = {**defaults.timeouts, **(parse_timeouts(ctx, entries.get("timeouts")) or {})}
    turn = Turn(
        index=index,
        user="" if user is None else user,
        location=ctx.at(node.line),
        expect=expect,
        save=rules,
        timeouts=timeouts,
        golden=parse_golden(ctx, entries.get("golden"), golden, turn=True),
    )
    return turn, saved


def _check_template_variables(
    ctx: _Context, turns: Sequence[tuple[Turn, frozenset[str]]], base: frozenset[str]
) -> None:
    """Every name a template reads must exist when the turn runs, so typos fail before anything is sent."""
    available = set(base)
    saved = [names for _, names in turns]
    for turn, names in turns:
        ctx.turn = turn.index
        for template in _turn_templates(turn):
            for name in sorted(template_variables(template) - available):
                ctx.error(_undefined_variable(name, available, turn.index, saved), template.location.line)
        available |= names
    ctx.turn = None


def _undefined_variable(name: str, available: set[str], index: int, saved: Sequence[frozenset[str]]) -> str:
    for later, names in enumerate(saved[index - 1 :], index):
        if name in names and later == index:
            return f"`{name}` is saved by this turn; it can be used from the next turn on"
        if name in names:
            return f"`{name}` is saved by turn {later}; it can be used from turn {later + 1} on"
    match = _suggest(name, available)
    hint = f" — did you mean `{match}`?" if match else ""
    return f"undefined template variable `{name}`{hint} (available: {', '.join(sorted(available))})"


def _turn_templates(turn: Turn) -> Iterator[Template]:
    if isinstance(turn.user, Template):
        yield turn.user
    for text_check in (*turn.expect.text, *turn.expect.reasoning):
        yield from _text_templates(text_check)
    for data_check in turn.expect.data:
        yield from _value_templates(data_check.expected)
    for tool_check in turn.expect.tool_calls:
        for call in tool_check.calls:
            yield from _value_templates(call.input)
            yield from _value_templates(call.output)


def _text_templates(check: TextCheck) -> Iterator[Template]:
    yield from (value for value in check.values if isinstance(value, Template))
    for child in check.children:
        yield from _text_templates(child)


def _value_templates(value: Any) -> Iterator[Template]:
    if isinstance(value, Template):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _value_templates(item)
    elif isinstance(value, list):
        for item in value:
            yield from _value_templates(item)


# --- expect ---------------------------------------------------------------------------------------


def _parse_expect(ctx: _Context, entry: _Entry | None) -> dict[str, _ExpectPart]:
    """Each key's Expectation fields; ``key: null`` yields empty fields, turning a default off."""
    if entry is None or entry.value.kind == "null":
        return {}
    entries = ctx.mapping(entry.value, "`expect`", EXPECT_KEYS) or {}
    return {key: _EXPECT_PARSERS[key](ctx, value) for key, value in entries.items()}


def _parse_finish_reason(ctx: _Context, entry: _Entry) -> _ExpectPart:
    if entry.value.kind == "null":
        return {"finish_reason": (), "finish_reason_location": None}
    reasons = ctx.strings(entry.value, "`finish_reason`", single_ok=True) or []
    return {
        "finish_reason": tuple(reason for reason, _ in reasons),
        "finish_reason_location": ctx.at(entry.line),
    }


def _parse_latency(ctx: _Context, entry: _Entry) -> _ExpectPart:
    part: _ExpectPart = {"max_first_token_ms": None, "max_total_ms": None, "latency_location": None}
    if entry.value.kind == "null":
        return part
    entries = ctx.mapping(entry.value, "`latency`", LATENCY_KEYS)
    if entries is None:
        return part
    if not entry.value.entries:
        ctx.error("`latency` is empty: expected `first_token_ms` and/or `total_ms`", entry.value.line)
    if "first_token_ms" in entries:
        part["max_first_token_ms"] = ctx.positive_number(entries["first_token_ms"].value, "`first_token_ms`")
    if "total_ms" in entries:
        part["max_total_ms"] = ctx.positive_number(entries["total_ms"].value, "`total_ms`")
    part["latency_location"] = ctx.at(entry.line)
    return part


# --- expect.text ----------------------------------------------------------------------------------


def _parse_text_checks(ctx: _Context, entry: _Entry) -> _ExpectPart:
    return {entry.key: _text_checks(ctx, entry.value, entry.key)}


def _text_checks(ctx: _Context, node: _Node, key: str) -> tuple[TextCheck, ...]:
    """``text`` and ``reasoning``: a mapping of text checks, or a list of such mappings."""
    if node.kind == "null":
        return ()
    if node.kind not in ("mapping", "list"):
        expected = f"a mapping of checks or a list of them (e.g. `{key}: {{contains: ...}}`)"
        ctx.type_error(node, f"`{key}`", expected)
        return ()
    if node.kind == "mapping":
        return tuple(_text_mapping(ctx, node, f"`{key}`", ignore_case=False))
    items = ctx.sequence(node, f"`{key}`") or []
    return tuple(check for item in items for check in _text_mapping(ctx, item, f"`{key}` item", False))


def _text_mapping(ctx: _Context, node: _Node, what: str, ignore_case: bool) -> list[TextCheck]:
    """One check per key; ``ignore_case`` applies to the whole mapping and what it nests."""
    entries = ctx.mapping(node, what, TEXT_CHECK_KEYS)
    if entries is None:
        return []
    if "ignore_case" in entries:
        flag = ctx.boolean(entries["ignore_case"].value, "`ignore_case`")
        ignore_case = ignore_case if flag is None else flag
    if not node.entries.keys() - {"ignore_case"}:
        expected = ", ".join(sorted(TEXT_CHECK_KEYS - {"ignore_case"}))
        ctx.error(f"{what} has no check: expected one of {expected}", node.line)
    checks = [
        _TEXT_PARSERS[key](ctx, entry, ignore_case) for key, entry in entries.items() if key != "ignore_case"
    ]
    _check_length_range(ctx, entries)
    return [check for check in checks if check is not None]


def _check_length_range(ctx: _Context, entries: Mapping[str, _Entry]) -> None:
    low, high = entries.get("min_length"), entries.get("max_length")
    if low is None or high is None or low.value.kind != "number" or high.value.kind != "number":
        return
    if low.value.value > high.value.value:
        ctx.error(f"`min_length` {low.value.text} is greater than `max_length` {high.value.text}", high.line)


def _op(key: str) -> TextOp:
    return cast(TextOp, key)


def _text_operand(ctx: _Context, entry: _Entry, ignore_case: bool) -> TextCheck | None:
    """``equals``, ``starts_with``, ``ends_with``: one string."""
    value = ctx.operand(entry.value, f"`{entry.key}`")
    if value is None:
        return None
    return TextCheck(_op(entry.key), ctx.at(entry.line), values=(value,), ignore_case=ignore_case)


def _text_operands(ctx: _Context, node: _Node, what: str) -> tuple[Value, ...] | None:
    items = ctx.strings(node, what, single_ok=False)
    if items is None:
        return None
    values = [ctx.template(text, line) for text, line in items]
    return tuple(value for value in values if value is not None)


def _one_string_check(ctx: _Context, entry: _Entry, op: TextOp, ignore_case: bool) -> TextCheck | None:
    """``contains`` / ``not_contains`` written with one string rather than a list."""
    value = ctx.operand(entry.value, f"`{op}`", expected="a string or a list of strings")
    return None if value is None else TextCheck(op, ctx.at(entry.line), (value,), ignore_case=ignore_case)


def _text_contains(ctx: _Context, entry: _Entry, ignore_case: bool) -> TextCheck | None:
    """``contains``: one string, or a list that must all appear (``contains_all``)."""
    if entry.value.kind != "list":
        return _one_string_check(ctx, entry, "contains", ignore_case)
    values = _text_operands(ctx, entry.value, "`contains`")
    return (
        None
        if values is None
        else TextCheck("contains_all", ctx.at(entry.line), values, ignore_case=ignore_case)
    )


def _text_not_contains(ctx: _Context, entry: _Entry, ignore_case: bool) -> TextCheck | None:
    """``not_contains``: a list becomes an ``all_of`` of one-string checks, so a failure names the string."""
    if entry.value.kind != "list":
        return _one_string_check(ctx, entry, "not_contains", ignore_case)
    items = ctx.strings(entry.value, "`not_contains`", single_ok=False) or []
    children = []
    for text, line in items:
        value = ctx.template(text, line)
        if value is not None:
            children.append(TextCheck("not_contains", ctx.at(line), (value,), ignore_case=ignore_case))
    return TextCheck("all_of", ctx.at(entry.line), children=tuple(children), ignore_case=ignore_case)


def _text_list(ctx: _Context, entry: _Entry, ignore_case: bool) -> TextCheck | None:
    """``contains_any``, ``contains_all``: a non-empty list of strings."""
    values = _text_operands(ctx, entry.value, f"`{entry.key}`")
    if values is None:
        return None
    return TextCheck(_op(entry.key), ctx.at(entry.line), values, ignore_case=ignore_case)


def _text_regex(ctx: _Context, entry: _Entry, ignore_case: bool) -> TextCheck | None:
    """``matches``, ``not_matches``: compiled now, unless the source is a template."""
    value = ctx.operand(entry.value, f"`{entry.key}`")
    if value is None:
        return None
    pattern = None
    if isinstance(value, str):
        pattern = _compile_regex(ctx, value, entry, re.IGNORECASE if ignore_case else 0)
        if pattern is None:
            return None
    return TextCheck(_op(entry.key), ctx.at(entry.line), (value,), ignore_case=ignore_case, pattern=pattern)


def _compile_regex(ctx: _Context, source: str, entry: _Entry, flags: int = 0) -> re.Pattern[str] | None:
    try:
        return re.compile(source, flags)
    except re.error as exc:
        ctx.error(f"invalid regex {source!r} in `{entry.key}`: {exc}", entry.value.line)
        return None


def _text_length(ctx: _Context, entry: _Entry, ignore_case: bool) -> TextCheck | None:
    number = ctx.integer(entry.value, f"`{entry.key}`")
    if number is None:
        return None
    return TextCheck(_op(entry.key), ctx.at(entry.line), number=number, ignore_case=ignore_case)


def _text_combinator(ctx: _Context, entry: _Entry, ignore_case: bool) -> TextCheck | None:
    """``any_of``: one item must hold (an item is all its keys); ``all_of``: every check holds."""
    what = f"`{entry.key}`"
    items = ctx.sequence(entry.value, what, expected="a list of text-check mappings") or []
    children: list[TextCheck] = []
    for item in items:
        checks = _text_mapping(ctx, item, f"{what} item", ignore_case)
        if entry.key == "all_of":
            children.extend(checks)
        elif checks:
            children.append(_all_of(checks, ctx.at(item.line), ignore_case))
    return TextCheck(_op(entry.key), ctx.at(entry.line), children=tuple(children), ignore_case=ignore_case)


def _text_not(ctx: _Context, entry: _Entry, ignore_case: bool) -> TextCheck | None:
    checks = _text_mapping(ctx, entry.value, "`not`", ignore_case)
    if not checks:
        return None
    child = _all_of(checks, ctx.at(entry.value.line), ignore_case)
    return TextCheck("not", ctx.at(entry.line), children=(child,), ignore_case=ignore_case)


def _all_of(checks: list[TextCheck], location: Location, ignore_case: bool) -> TextCheck:
    if len(checks) == 1:
        return checks[0]
    return TextCheck("all_of", location, children=tuple(checks), ignore_case=ignore_case)


_TextParser = Callable[[_Context, _Entry, bool], TextCheck | None]
_TEXT_PARSERS: Final[dict[str, _TextParser]] = {
    "equals": _text_operand,
    "starts_with": _text_operand,
    "ends_with": _text_operand,
    "contains": _text_contains,
    "not_contains": _text_not_contains,
    "contains_any": _text_list,
    "contains_all": _text_list,
    "matches": _text_regex,
    "not_matches": _text_regex,
    "min_length": _text_length,
    "max_length": _text_length,
    "any_of": _text_combinator,
    "all_of": _text_combinator,
    "not": _text_not,
}


# --- expect.tool_calls ----------------------------------------------------------------------------


def _parse_tool_checks(ctx: _Context, entry: _Entry) -> _ExpectPart:
    node = entry.value
    if node.kind == "null":
        return {"tool_calls": ()}
    if node.kind == "list":
        return {"tool_calls": _one(_tool_sequence(ctx, entry))}
    if node.kind != "mapping":
        ctx.type_error(node, "`tool_calls`", "a list of calls or a mapping of checks")
        return {"tool_calls": ()}
    entries = ctx.mapping(node, "`tool_calls`", TOOL_CHECK_KEYS) or {}
    if not node.entries:
        ctx.error(
            f"`tool_calls` is empty: expected a list of calls or one of {', '.join(sorted(TOOL_CHECK_KEYS))}",
            node.line,
        )
    checks = [
        check for key, value in entries.items() if (check := _TOOL_PARSERS[key](ctx, value)) is not None
    ]
    _check_tool_contradictions(ctx, checks)
    return {"tool_calls": tuple(checks)}


def _one(check: ToolCheck | None) -> tuple[ToolCheck, ...]:
    return () if check is None else (check,)


def _tool_none(ctx: _Context, entry: _Entry) -> ToolCheck | None:
    flag = ctx.boolean(entry.value, "`none`")
    if flag is False:
        ctx.error("`none: false` checks nothing; remove it", entry.line)
    return ToolCheck("none", ctx.at(entry.line)) if flag else None


def _tool_called(ctx: _Context, entry: _Entry) -> ToolCheck | None:
    """``called``: one call or a list of calls that must all appear, in any order."""
    nodes = [entry.value] if entry.value.kind != "list" else ctx.sequence(entry.value, "`called`") or []
    calls = [_tool_pattern(ctx, node, "`called`") for node in nodes]
    if not nodes or None in calls:
        return None
    return ToolCheck("called", ctx.at(entry.line), calls=tuple(call for call in calls if call is not None))


def _tool_not_called(ctx: _Context, entry: _Entry) -> ToolCheck | None:
    names = ctx.strings(entry.value, "`not_called`", single_ok=True)
    if names is None:
        return None
    return ToolCheck("not_called", ctx.at(entry.line), names=tuple(name for name, _ in names))


def _tool_count(ctx: _Context, entry: _Entry) -> ToolCheck | None:
    number = ctx.integer(entry.value, "`count`")
    return None if number is None else ToolCheck("count", ctx.at(entry.line), number=number)


def _tool_sequence(ctx: _Context, entry: _Entry) -> ToolCheck | None:
    """Exactly these calls in this order; an empty list means no call at all."""
    what = f"`{entry.key}`"
    nodes = ctx.sequence(entry.value, what, expected="a list of calls", empty_ok=True)
    if nodes is None:
        return None
    calls = [_tool_pattern(ctx, node, f"each item of {what}") for node in nodes]
    if None in calls:
        return None
    return ToolCheck("sequence", ctx.at(entry.line), calls=tuple(call for call in calls if call is not None))


def _tool_pattern(ctx: _Context, node: _Node, what: str) -> ToolCallPattern | None:
    """A tool name, or ``{name, input, output}`` with input/output matched as subsets."""
    if node.kind != "mapping":
        name = ctx.string(node, what, expected="a tool name or a mapping with `name`", empty_ok=False)
        return None if name is None else ToolCallPattern(name, ctx.at(node.line))
    entries = ctx.mapping(node, "tool call", TOOL_CALL_KEYS, required=("name",))
    if entries is None or "name" not in entries:
        return None
    name = ctx.string(entries["name"].value, "tool call `name`", empty_ok=False)
    given = {
        key: ctx.plain(entries[key].value, templates=True) for key in ("input", "output") if key in entries
    }
    error = parse_tool_error(ctx, entries.get("error"))
    schema = parse_input_schema(ctx, entries.get("input_schema"))
    if name is None:
        return None
    return ToolCallPattern(
        name,
        ctx.at(node.line),
        input=given.get("input"),
        output=given.get("output"),
        has_input="input" in given,
        has_output="output" in given,
        error=error,
        input_schema=schema,
    )


def _check_tool_contradictions(ctx: _Context, checks: Sequence[ToolCheck]) -> None:
    none = next((check for check in checks if check.op == "none"), None)
    if none is None:
        return
    for check in checks:
        if (check.op in ("called", "sequence") and check.calls) or (check.op == "count" and check.number):
            ctx.error(
                f"`none: true` contradicts `{check.op}` (line {check.location.line})", none.location.line
            )


_TOOL_PARSERS: Final[dict[str, Callable[[_Context, _Entry], ToolCheck | None]]] = {
    "none": _tool_none,
    "called": _tool_called,
    "not_called": _tool_not_called,
    "count": _tool_count,
    "sequence": _tool_sequence,
}

_EXPECT_PARSERS: Final[dict[str, Callable[[_Context, _Entry], _ExpectPart]]] = {
    "text": _parse_text_checks,
    "tool_calls": _parse_tool_checks,
    "finish_reason": _parse_finish_reason,
    "latency": _parse_latency,
    "reasoning": _parse_text_checks,
    "sources": parse_sources,
    "data": parse_data,
    "errors": parse_errors,
    "steps": parse_steps,
    "aborted": parse_aborted,
    "unknown_events": parse_unknown_events,
}


# --- save -----------------------------------------------------------------------------------------


def _parse_save(ctx: _Context, entry: _Entry | None) -> tuple[tuple[SaveRule, ...], frozenset[str]]:
    """The rules, and every name saved: a broken rule's too, so later turns get no follow-up errors."""
    if entry is None or entry.value.kind == "null":
        return (), frozenset()
    entries = ctx.mapping(entry.value, "`save`", None) or {}
    names = frozenset(name for name, rule in entries.items() if _valid_name(ctx, name, rule.line, "save"))
    rules = [_parse_save_rule(ctx, name, entries[name]) for name in entries if name in names]
    return tuple(rule for rule in rules if rule is not None), names


def _parse_save_rule(ctx: _Context, name: str, entry: _Entry) -> SaveRule | None:
    what = f"save rule `{name}`"
    entries = ctx.mapping(entry.value, what, SAVE_RULE_KEYS, required=("from",))
    if entries is None or "from" not in entries:
        return None
    source = _save_source(ctx, entries["from"])
    if source is None:
        return None
    _check_save_keys(ctx, entries, source)
    regex, group = _save_regex(ctx, entries) if source == "text" else (None, 0)
    tool = _optional_string(ctx, entries.get("tool"), "`tool`")
    path = _save_path(ctx, entries.get("path"))
    return SaveRule(name, source, ctx.at(entry.line), regex=regex, group=group, tool=tool, path=path)


def _save_source(ctx: _Context, entry: _Entry) -> SaveSource | None:
    return cast(SaveSource | None, ctx.choice(entry.value, "`from`", SAVE_SOURCES, noun="source"))


def _check_save_keys(ctx: _Context, entries: Mapping[str, _Entry], source: str) -> None:
    for key in ("tool", "path"):
        if key in entries and source not in ("tool_input", "tool_output"):
            ctx.error(f"`{key}` only applies to `from: tool_input` or `from: tool_output`", entries[key].line)
    for key in ("regex", "group"):
        if key in entries and source != "text":
            ctx.error(f"`{key}` only applies to `from: text`", entries[key].line)


def _save_regex(ctx: _Context, entries: Mapping[str, _Entry]) -> tuple[re.Pattern[str] | None, int | str]:
    """The regex and the group to take: 1 when the regex has a group, else the whole match."""
    regex_entry, group_entry = entries.get("regex"), entries.get("group")
    if regex_entry is None:
        if group_entry is not None:
            ctx.error("`group` needs a `regex`", group_entry.line)
        return None, 0
    source = ctx.string(regex_entry.value, "`regex`", empty_ok=False)
    pattern = None if source is None else _compile_regex(ctx, source, regex_entry)
    if pattern is None:
        return None, 0
    if group_entry is None:
        return pattern, 1 if pattern.groups else 0
    return pattern, _save_group(ctx, pattern, group_entry.value)


def _save_group(ctx: _Context, pattern: re.Pattern[str], node: _Node) -> int | str:
    if node.kind == "string":
        name = cast(str, node.value)
        if name not in pattern.groupindex:
            named = ", ".join(f"`{group}`" for group in pattern.groupindex) or "none"
            ctx.error(f"the regex has no group named `{name}` (named groups: {named})", node.line)
        return name
    number = ctx.integer(node, "`group`")
    if number is not None and number > pattern.groups:
        plural = "" if pattern.groups == 1 else "s"
        ctx.error(f"`group` {number} does not exist: the regex has {pattern.groups} group{plural}", node.line)
    return number or 0


def _save_path(ctx: _Context, entry: _Entry | None) -> str | None:
    path = _optional_string(ctx, entry, "`path`")
    if entry is not None and path is not None and not all(path.split(".")):
        ctx.error(f"`path` must be dotted keys like `items.0.sku`, got {path!r}", entry.value.line)
    return path
