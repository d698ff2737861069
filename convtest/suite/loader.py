"""Load a suite YAML file into :mod:`convtest.models`, every mistake reported at its file:line.

The file is parsed once into a line-aware tree (:mod:`convtest.suite.tree`), then one small
function per section validates it and builds the frozen model; each ``expect`` key goes to the
check kind registered for it. A problem inside a conversation never raises: the conversation's
problems are all collected, it becomes an :class:`~convtest.models.InvalidConversation`, and its
siblings still load. Only file-level problems (unreadable file, YAML syntax, a bad top level or
``defaults``) raise :class:`~convtest.exceptions.SuiteError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from convtest.checks.base import check_templates
from convtest.checks.registry import check_registry
from convtest.exceptions import Location, PluginError, SuiteError
from convtest.golden.paths import suite_sharing_golden_folder
from convtest.models import Conversation, Expectation, GoldenSettings, InvalidConversation, Suite, Turn
from convtest.suite.expect import ExpectParts, build_expectation, parse_expect
from convtest.suite.golden import GOLDEN_KEYS, GoldenClaims, claim_golden_file, parse_golden
from convtest.suite.limits import DEFAULT_LIMITS, SuiteLimits
from convtest.suite.names import RESERVED_NAMES, parse_marker, parse_tags, parse_vars, unique
from convtest.suite.reader import Reader, suggest
from convtest.suite.save import parse_save
from convtest.suite.tree import Entry, Node, describe_node, parse_tree, read_suite_text
from convtest.targets import TIMEOUT_KINDS
from convtest.templating import Template, template_variables

__all__ = [
    "CONVERSATION_KEYS",
    "DEFAULTS_KEYS",
    "TIMEOUT_KEYS",
    "TOP_LEVEL_KEYS",
    "TURN_KEYS",
    "load_suite",
    "load_suite_text",
]

# The valid keys of every mapping the loader owns; each check kind owns those under its key.
TOP_LEVEL_KEYS: Final = frozenset({"suite", "target", "defaults", "conversations"})
DEFAULTS_KEYS: Final = frozenset({"platform", "tags", "vars", "expect", "timeouts", "golden"})
CONVERSATION_KEYS: Final = frozenset(
    {"name", "tags", "target", "platform", "vars", "skip", "xfail", "turns", "golden", "expect"}
)
TURN_KEYS: Final = frozenset({"user", "expect", "save", "timeouts", "golden"})
TIMEOUT_KEYS: Final = frozenset(TIMEOUT_KINDS)
_DEFAULT_PLATFORM: Final = "web"


def load_suite(
    path: Path,
    *,
    display_path: str | None = None,
    default_target: str | None = None,
    limits: SuiteLimits = DEFAULT_LIMITS,
) -> Suite:
    """Read and validate one suite file; ``display_path`` is how messages name it."""
    shown = str(path) if display_path is None else display_path
    suite = _load(read_suite_text(path, shown, limits), shown, path, default_target, limits)
    if not any(entry.golden for entry in suite.conversations):
        return suite
    neighbour = suite_sharing_golden_folder(path)
    if neighbour is None:
        return suite
    other = _neighbour_conversations(neighbour, str(Path(shown).with_name(neighbour.name)), limits)
    return _claim_golden_files(suite, shown, other)


def load_suite_text(
    text: str, display_path: str, *, default_target: str | None = None, limits: SuiteLimits = DEFAULT_LIMITS
) -> Suite:
    """Like :func:`load_suite`, from a string; ``Suite.path`` is ``Path(display_path)``."""
    return _load(text, display_path, Path(display_path), default_target, limits)


def _neighbour_conversations(path: Path, shown: str, limits: SuiteLimits) -> tuple[Conversation, ...]:
    """The conversations of the suite file whose goldens share this one's folder; a file that
    does not load has its own error to show and claims nothing here."""
    try:
        return _load(read_suite_text(path, shown, limits), shown, path, None, limits).conversations
    except SuiteError:
        return ()


def _claim_golden_files(suite: Suite, shown: str, neighbour: Sequence[Conversation]) -> Suite:
    """The golden conversations again, now against the neighbour's golden files too."""
    claims = GoldenClaims.beside(Path(shown), neighbour)
    conversations: list[Conversation] = []
    invalid = list(suite.invalid)
    for entry in suite.conversations:
        result = claim_golden_file(entry, claims)
        if isinstance(result, Conversation):
            conversations.append(result)
        else:
            invalid.append(result)
    return dataclasses.replace(suite, conversations=tuple(conversations), invalid=tuple(invalid))


@dataclass(frozen=True, slots=True)
class _Defaults:
    platform: str = _DEFAULT_PLATFORM
    tags: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    expect: ExpectParts = field(default_factory=dict)
    timeouts: Mapping[str, float] = field(default_factory=dict)
    golden: GoldenSettings | None = None


@dataclass(frozen=True, slots=True)
class _File:
    """What every conversation of one file shares while it is read."""

    name: str
    folder: Path
    defaults: _Defaults
    target: str | None
    homes: Mapping[str, str]
    limits: SuiteLimits
    #: the line of the file's own ``target:``, if it has one
    target_line: int | None = None

    def reader(self, conversation: str | None = None) -> Reader:
        return Reader(self.name, conversation, homes=self.homes, folder=self.folder, limits=self.limits)


def _key_homes() -> dict[str, str]:
    """Where a key that is valid elsewhere belongs, for the message when it is written in the wrong place."""
    return {
        **dict.fromkeys(GOLDEN_KEYS, "under `golden`"),
        **check_registry().key_homes(),
        **dict.fromkeys(TURN_KEYS, "directly in a turn (an item of `turns`)"),
        "turns": "in a conversation (an item of `conversations`)",
    }


def _load(text: str, file: str, path: Path, default_target: str | None, limits: SuiteLimits) -> Suite:
    root = parse_tree(text, file, limits)
    if root is None or root.kind == "null":
        raise SuiteError("empty suite file: expected a mapping with `conversations`", Location(file, 1))
    if root.kind != "mapping":
        message = f"a suite file must be a mapping with `conversations`, got {describe_node(root)}"
        raise SuiteError(message, Location(file, root.line))
    try:
        homes = _key_homes()
    except PluginError as exc:
        raise SuiteError(exc.args[0], Location(file, 1)) from None
    reader = Reader(file, homes=homes, folder=path.parent, limits=limits)
    where = "at the top level"
    top = reader.mapping(
        root, "suite file", TOP_LEVEL_KEYS, required=("conversations",), where=where, extensions=True
    )
    top = top or {}
    name = reader.optional_string(top.get("suite"), "`suite`") or Path(file).stem
    target = reader.optional_string(top.get("target"), "`target`")
    defaults = _parse_defaults(reader, top.get("defaults"))
    items = _conversation_items(reader, top.get("conversations"))
    reader.raise_errors()
    target_line = top["target"].line if target and "target" in top else None
    shared = _File(file, path.parent, defaults, target or default_target, homes, limits, target_line)
    conversations: list[Conversation] = []
    invalid: list[InvalidConversation] = []
    seen: dict[str, int] = {}
    claims = GoldenClaims.beside(Path(file))
    for index, item in enumerate(items, 1):
        result = claim_golden_file(_parse_conversation(shared, item, index, seen), claims)
        if isinstance(result, Conversation):
            conversations.append(result)
        else:
            invalid.append(result)
    return Suite(name=name, path=path, conversations=tuple(conversations), invalid=tuple(invalid))


def _target_location(reader: Reader, own: Entry | None, shared: _File) -> Location | None:
    """Where the conversation's target is named: its own ``target:``, else the file's."""
    if own is not None:
        return reader.at(own.line)
    return reader.at(shared.target_line) if shared.target_line is not None else None


def _conversation_items(reader: Reader, entry: Entry | None) -> Sequence[Node]:
    if entry is None:
        return []
    return reader.sequence(entry.value, "`conversations`") or []


def _parse_defaults(reader: Reader, entry: Entry | None) -> _Defaults:
    """``defaults`` are validated once, at file level; their templates are checked per conversation."""
    if entry is None or entry.value.kind == "null":
        return _Defaults()
    entries = reader.mapping(entry.value, "`defaults`", DEFAULTS_KEYS)
    if entries is None:
        return _Defaults()
    return _Defaults(
        platform=reader.optional_string(entries.get("platform"), "`platform`") or _DEFAULT_PLATFORM,
        tags=parse_tags(reader, entries.get("tags")),
        vars=parse_vars(reader, entries.get("vars")) or {},
        expect=parse_expect(reader, entries.get("expect")),
        timeouts=parse_timeouts(reader, entries.get("timeouts")) or {},
        golden=parse_golden(reader, entries.get("golden"), None),
    )


# --- conversations --------------------------------------------------------------------------------


def _parse_conversation(
    shared: _File, node: Node, index: int, seen: dict[str, int]
) -> Conversation | InvalidConversation:
    defaults = shared.defaults
    name, first = _peek_name(node), None
    if name is not None and (first := seen.get(name)) is None:
        seen[name] = node.line
    label = f"#{index}" if name is None else name if first is None else f"{name} #{index}"
    reader = shared.reader(label)
    if first is not None:
        reader.error(f"duplicate conversation name `{name}` (first at line {first})", node.line)
    entries = reader.mapping(node, "conversation", CONVERSATION_KEYS, required=("name", "turns"))
    if entries is None:
        return InvalidConversation(label, reader.at(node.line), reader.sorted_errors())
    if "name" in entries:
        text = reader.string(entries["name"].value, "`name`", empty_ok=False)
        if text is not None and not text.strip():
            reader.error("`name` must not be blank (only white space)", entries["name"].value.line)
    own_vars = parse_vars(reader, entries.get("vars"))
    variables = {**defaults.vars, **(own_vars or {})}
    golden = parse_golden(reader, entries.get("golden"), defaults.golden)
    turns = _parse_turns(reader, entries.get("turns"), defaults, golden)
    expect = build_expectation(
        parse_expect(reader, entries.get("expect"), "conversation"), scope="conversation"
    )
    if own_vars is not None:  # with broken vars, every template would look undefined
        _check_template_variables(reader, turns, frozenset(variables) | RESERVED_NAMES, expect)
    own_target = reader.optional_string(entries.get("target"), "`target`")
    conversation = Conversation(
        name=label,
        location=reader.at(node.line),
        turns=tuple(turn for turn, _ in turns),
        tags=unique(defaults.tags + parse_tags(reader, entries.get("tags"))),
        target=own_target or shared.target,
        target_location=_target_location(reader, entries.get("target") if own_target else None, shared),
        platform=reader.optional_string(entries.get("platform"), "`platform`") or defaults.platform,
        vars=variables,
        skip=parse_marker(reader, entries.get("skip")),
        xfail=parse_marker(reader, entries.get("xfail")),
        golden=golden,
        expect=expect,
    )
    if reader.errors:
        return InvalidConversation(label, conversation.location, reader.sorted_errors())
    return conversation


def _peek_name(node: Node) -> str | None:
    """The conversation's name, read before validation so every error can carry it."""
    entry = node.entries.get("name") if node.kind == "mapping" else None
    if entry is None or entry.value.kind in ("mapping", "list", "null"):
        return None
    return (str(entry.value.value) if entry.value.kind == "string" else entry.value.text) or None


# --- turns ----------------------------------------------------------------------------------------


def _parse_turns(
    reader: Reader, entry: Entry | None, defaults: _Defaults, golden: GoldenSettings | None
) -> list[tuple[Turn, frozenset[str]]]:
    """Every turn with the names it saves; a broken turn still yields one, so later turns get checked."""
    items = [] if entry is None else reader.sequence(entry.value, "`turns`") or []
    turns = [_parse_turn(reader, item, index, defaults, golden) for index, item in enumerate(items, 1)]
    reader.turn = None
    return turns


def _parse_turn(
    reader: Reader, node: Node, index: int, defaults: _Defaults, golden: GoldenSettings | None
) -> tuple[Turn, frozenset[str]]:
    reader.turn = index
    entries = reader.mapping(node, "turn", TURN_KEYS, required=("user",)) or {}
    user = reader.operand(entries["user"].value, "`user`") if "user" in entries else None
    expect = build_expectation(defaults.expect, parse_expect(reader, entries.get("expect")))
    rules, saved = parse_save(reader, entries.get("save"))
    timeouts = {**defaults.timeouts, **(parse_timeouts(reader, entries.get("timeouts")) or {})}
    turn = Turn(
        index=index,
        user="" if user is None else user,
        location=reader.at(node.line),
        expect=expect,
        save=rules,
        timeouts=timeouts,
        golden=parse_golden(reader, entries.get("golden"), golden, turn=True),
    )
    return turn, saved


def parse_timeouts(reader: Reader, entry: Entry | None) -> dict[str, float] | None:
    """``timeouts: {first_token: 2, total: 30}``: seconds, overriding the target's for one turn."""
    if entry is None or entry.value.kind == "null":
        return None
    entries = reader.mapping(entry.value, "`timeouts`", TIMEOUT_KEYS)
    if entries is None:
        return None
    seconds: dict[str, float] = {}
    for key, item in entries.items():
        node = item.value
        if node.kind != "number" or not float(node.value) > 0:
            got = node.text if node.kind == "number" else f"a {node.kind}"
            reader.error(f"timeout `{key}` must be a number of seconds > 0, got {got}", node.line)
            continue
        seconds[key] = float(node.value)
    return seconds


# --- template variables ---------------------------------------------------------------------------


def _check_template_variables(
    reader: Reader, turns: Sequence[tuple[Turn, frozenset[str]]], base: frozenset[str], expect: Expectation
) -> None:
    """Every name a template reads must exist when the turn runs, so typos fail before anything is sent."""
    available = set(base)
    saved = [names for _, names in turns]
    for turn, names in turns:
        reader.turn = turn.index
        for template in _turn_templates(turn):
            for name in sorted(template_variables(template) - available):
                reader.error(_undefined_variable(name, available, turn.index, saved), template.location.line)
        available |= names
    reader.turn = None
    for template in _expectation_templates(expect):  # after the last turn: every saved name exists
        for name in sorted(template_variables(template) - available):
            reader.error(_undefined_variable(name, available, len(turns) + 1, saved), template.location.line)


def _undefined_variable(name: str, available: set[str], index: int, saved: Sequence[frozenset[str]]) -> str:
    for later, names in enumerate(saved[index - 1 :], index):
        if name in names and later == index:
            return f"`{name}` is saved by this turn; it can be used from the next turn on"
        if name in names:
            return f"`{name}` is saved by turn {later}; it can be used from turn {later + 1} on"
    match = suggest(name, available)
    hint = f" — did you mean `{match}`?" if match else ""
    return f"undefined template variable `{name}`{hint} (available: {', '.join(sorted(available))})"


def _turn_templates(turn: Turn) -> Iterator[Template]:
    if isinstance(turn.user, Template):
        yield turn.user
    yield from _expectation_templates(turn.expect)


def _expectation_templates(expect: Expectation) -> Iterator[Template]:
    for check in expect.checks:
        yield from check_templates(check)
