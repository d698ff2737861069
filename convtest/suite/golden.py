"""Loading ``golden:`` (in ``defaults``, a conversation or a turn) and keeping golden file names apart.

:mod:`convtest.suite.loader` owns the file's structure and calls these with its line-aware context, whose
readers record every mistake at its YAML line and let loading go on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, get_args

from convtest.exceptions import SuiteError
from convtest.golden.document import TURN_FIELDS
from convtest.golden.paths import GOLDENS_DIR, golden_folder_problem, golden_slug
from convtest.models import Conversation, GoldenSettings, GoldenText, GoldenToolInput, InvalidConversation
from convtest.suite.reader import Reader
from convtest.suite.tree import Entry

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "GOLDEN_KEYS",
    "GOLDEN_TEXT_MODES",
    "GOLDEN_TOOL_INPUT_MODES",
    "GoldenClaims",
    "claim_golden_file",
    "parse_golden",
]

GOLDEN_KEYS: Final = frozenset({"ignore", "text", "similarity", "tool_input", "ignore_order"})
GOLDEN_TEXT_MODES: Final = frozenset(get_args(GoldenText))
GOLDEN_TOOL_INPUT_MODES: Final = frozenset(get_args(GoldenToolInput))
_WILDCARDS: Final = ("*", "**")


def parse_golden(
    reader: Reader, entry: Entry | None, base: GoldenSettings | None, *, turn: bool = False
) -> GoldenSettings | None:
    """``golden``: ``true``/``false`` switches the golden check on or off; a mapping switches it on
    and changes the inherited settings key by key, ``ignore`` lists adding up. A turn can only
    refine the settings of a golden conversation."""
    if entry is None or entry.value.kind == "null":
        return base
    node = entry.value
    if node.kind == "boolean" and not turn:
        return (base or GoldenSettings()) if node.value else None
    if node.kind != "mapping":
        expected = "a mapping of comparison settings" if turn else "true, false or a mapping of settings"
        reader.type_error(node, "`golden`", expected)
        return base
    if base is None and turn:
        reader.error(
            "`golden` settings of a turn need a golden conversation: "
            "set `golden: true` on the conversation or in `defaults`",
            entry.line,
        )
        return None
    entries = reader.mapping(node, "`golden`", GOLDEN_KEYS) or {}
    start = base or GoldenSettings()
    changes = {
        key: value for key, item in entries.items() if (value := _PARSERS[key](reader, item)) is not None
    }
    if "ignore" in changes:
        changes["ignore"] = tuple(dict.fromkeys((*start.ignore, *changes["ignore"])))
    settings = dataclasses.replace(start, **changes)
    if "similarity" in entries and settings.text != "similarity":
        reader.error("`similarity` only applies with `text: similarity`", entries["similarity"].line)
    return settings


@dataclass(slots=True)
class GoldenClaims:
    """The golden files of one suite file's golden folder, claimed conversation by conversation."""

    #: the suite file as messages name it
    suite: Path
    #: the golden conversations of the other suite file with this stem (``orders.yml`` beside
    #: ``orders.yaml``): both files' goldens live in one folder
    neighbour: dict[str, Conversation] = field(default_factory=dict)
    claimed: dict[str, Conversation] = field(default_factory=dict)

    @classmethod
    def beside(cls, suite: Path, neighbour: Iterable[Conversation] = ()) -> GoldenClaims:
        golden = (entry for entry in neighbour if entry.golden is not None)
        return cls(suite, {golden_slug(entry.name): entry for entry in golden})


def claim_golden_file(
    entry: Conversation | InvalidConversation, claims: GoldenClaims
) -> Conversation | InvalidConversation:
    """A golden conversation's file must be its own, inside its suite's golden folder: two names
    that give one file name would overwrite each other's golden."""
    if not isinstance(entry, Conversation) or entry.golden is None:
        return entry
    slug = golden_slug(entry.name)
    message = golden_folder_problem(claims.suite) or _taken(slug, entry, claims)
    if message is None:
        return entry
    error = SuiteError(message, entry.location, conversation=entry.name)
    return InvalidConversation(entry.name, entry.location, (error,))


def _taken(slug: str, entry: Conversation, claims: GoldenClaims) -> str | None:
    other = claims.neighbour.get(slug)
    if other is not None:
        shown = (claims.suite.parent / GOLDENS_DIR / claims.suite.stem / f"{slug}.yaml").as_posix()
        names = f"`{claims.suite.name}` and `{Path(other.location.file).name}`"
        return (
            f"golden file `{shown}` is also the golden of conversation `{other.name}` in "
            f"{other.location}: {names} share one golden folder; rename one of the two suite files"
        )
    first = claims.claimed.setdefault(slug, entry)
    if first is entry:
        return None
    return (
        f"golden file `{slug}.yaml` is already the golden of conversation `{first.name}` "
        f"(line {first.location.line}); rename one of them"
    )


def _ignore(reader: Reader, entry: Entry) -> tuple[str, ...] | None:
    paths = reader.strings(entry.value, "`ignore`", single_ok=True)
    if paths is None:
        return None
    return tuple(path for path, line in paths if _valid_path(reader, path, line))


def _valid_path(reader: Reader, path: str, line: int) -> bool:
    """A dotted path into a golden turn, so a typo is caught here and not silently ignoring nothing."""
    segments = path.split(".")
    if not all(segments):
        reader.error(f"`ignore` path {path!r} must be dotted keys like `tool_calls.*.output.eta`", line)
        return False
    first = segments[0]
    if first in TURN_FIELDS or first in _WILDCARDS:
        return True
    if first == "turns" and len(segments) > 2:
        shown = ".".join(segments[2:])
        reader.error(f"`ignore` paths are relative to a turn: write `{shown}`, not {path!r}", line)
        return False
    hint = reader.suggestion(first, TURN_FIELDS)
    fields = ", ".join(TURN_FIELDS)
    reader.error(
        f"`ignore` path {path!r} starts with `{first}`, not a field of a golden turn{hint} ({fields})", line
    )
    return False


def _similarity(reader: Reader, entry: Entry) -> float | None:
    node, expected = entry.value, "a number above 0 and at most 1 (e.g. 0.85)"
    if node.kind != "number":
        reader.type_error(node, "`similarity`", expected)
        return None
    if not 0 < node.value <= 1:
        reader.error(f"`similarity` must be {expected}, got {node.text}", node.line)
        return None
    return float(node.value)


_PARSERS: Final[dict[str, Callable[[Reader, Entry], Any]]] = {
    "ignore": _ignore,
    "text": lambda reader, entry: reader.choice(entry.value, "`text`", GOLDEN_TEXT_MODES, noun="mode"),
    "similarity": _similarity,
    "tool_input": lambda reader, entry: reader.choice(
        entry.value, "`tool_input`", GOLDEN_TOOL_INPUT_MODES, noun="mode"
    ),
    "ignore_order": lambda reader, entry: reader.boolean(entry.value, "`ignore_order`"),
}
