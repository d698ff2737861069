"""A run compared with its golden transcript, turn by turn, under the suite's comparison settings.

The text is compared by its own mode (exact, whitespace-normalised or by similarity); deepdiff
finds what differs in the rest of the turn (user message, tool calls, finish reason, error chunks).
Every difference becomes a :class:`~convtest.golden.result.Change` named by its path in the turn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from convtest.golden.document import TURN_FIELDS
from convtest.golden.result import Change, ChangeKind, TurnChanges
from convtest.golden.worddiff import normalize_space, similarity, word_diff
from convtest.models import GoldenSettings

__all__ = ["compare_turns", "path_matches", "turn_changes"]

#: stands in for an ignored list item, so the items after it keep their index
_IGNORED: Final = "<ignored>"
_KINDS: Final[dict[str, ChangeKind]] = {
    "values_changed": "changed",
    "type_changes": "changed",
    "dictionary_item_added": "added",
    "iterable_item_added": "added",
    "dictionary_item_removed": "removed",
    "iterable_item_removed": "removed",
}
#: list fields whose items are named by number in messages
_ITEM_WORDS: Final = {"text_blocks": "text block", "errors": "error chunk"}
#: values whose word diff is worth showing: prose, not identifiers
_PROSE: Final = frozenset({"user", "text", "text_blocks"})


def compare_turns(
    expected: Sequence[Mapping[str, Any]],
    actual: Sequence[Mapping[str, Any]],
    settings: Sequence[GoldenSettings],
    *,
    complete: bool,
) -> list[TurnChanges]:
    """The turns that differ. ``settings[i]`` applies to turn ``i + 1``; a run that stopped early
    (``complete`` false) is not blamed for the golden turns it never reached."""
    found = []
    for index in range(max(len(expected), len(actual))):
        if index >= len(actual):
            changes = [Change("", "removed", expected=expected[index])] if complete else []
        elif index >= len(expected):
            changes = [Change("", "added", actual=actual[index])]
        else:
            changes = turn_changes(expected[index], actual[index], settings[index])
        if changes:
            found.append(TurnChanges(index + 1, tuple(changes)))
    return found


def turn_changes(
    expected: Mapping[str, Any], actual: Mapping[str, Any], settings: GoldenSettings
) -> list[Change]:
    """Every difference of one turn that the settings do not forgive, in file order."""
    patterns = [pattern.split(".") for pattern in settings.ignore]
    old = _prune(_comparable(expected), patterns, [])
    new = _prune(_comparable(actual), patterns, [])
    changes = _text_changes(old, new, settings)
    if settings.tool_input == "subset" and "tool_calls" in new:
        new["tool_calls"] = _project_inputs(old.get("tool_calls"), new.get("tool_calls"))
    for path, kind, before, after in _deep_differences(old, new, settings.ignore_order):
        if not _ignored(path, patterns):
            changes.append(_change(path, kind, before, after, old if kind != "added" else new))
    return sorted(changes, key=_position)


def path_matches(pattern: Sequence[str], path: Sequence[str]) -> bool:
    """``*`` matches one segment, ``**`` any number of them (none included)."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(path_matches(rest, path[start:]) for start in range(len(path) + 1))
    return bool(path) and head in ("*", path[0]) and path_matches(rest, path[1:])


def _comparable(turn: Mapping[str, Any]) -> dict[str, Any]:
    """Both sides in one shape: absent lists are empty, a single text block is the text itself."""
    text = "" if turn.get("text") is None else str(turn.get("text"))
    return {
        "user": turn.get("user"),
        "text": text,
        "text_blocks": turn.get("text_blocks", [text] if text else []),
        "tool_calls": turn.get("tool_calls", []),
        "finish_reason": turn.get("finish_reason"),
        "errors": turn.get("errors", []),
    }


def _prune(value: Any, patterns: Sequence[Sequence[str]], path: list[str]) -> Any:
    """A copy without the ignored parts: object keys are dropped (so a key present on one side
    only is forgiven too), list items replaced by a marker (so later items keep their place)."""
    if not patterns:
        return value
    if isinstance(value, dict):
        kept = ((str(key), item) for key, item in value.items())
        return {
            key: _prune(item, patterns, [*path, key])
            for key, item in kept
            if not _hit(patterns, [*path, key])
        }
    if isinstance(value, list):
        places = [[*path, str(index)] for index in range(len(value))]
        return [
            _IGNORED if _hit(patterns, place) else _prune(item, patterns, place)
            for place, item in zip(places, value, strict=True)
        ]
    return value


def _hit(patterns: Sequence[Sequence[str]], path: Sequence[str]) -> bool:
    return any(path_matches(pattern, path) for pattern in patterns)


def _ignored(path: Sequence[str], patterns: Sequence[Sequence[str]]) -> bool:
    """A change inside an ignored value (or a list item present on one side only) is forgiven."""
    return any(_hit(patterns, path[:end]) for end in range(1, len(path) + 1))


def _text_changes(old: dict[str, Any], new: dict[str, Any], settings: GoldenSettings) -> list[Change]:
    """The text by its mode. Text blocks are compared only when the text is exactly the same, to
    show a reply split differently; otherwise the text's own diff says it all."""
    before, after = old.pop("text", None), new.pop("text", None)
    if before is None or after is None:  # ignored, and its blocks with it
        _drop_blocks(old, new)
        return []
    same, note = _same_text(before, after, settings)
    if not same or before != after:
        _drop_blocks(old, new)
    if same:
        return []
    return [Change("text", "changed", before, after, word_diff(before, after), subject="text", note=note)]


def _drop_blocks(*turns: dict[str, Any]) -> None:
    for turn in turns:
        turn.pop("text_blocks", None)


def _same_text(before: str, after: str, settings: GoldenSettings) -> tuple[bool, str]:
    if settings.text == "normalized":
        return normalize_space(before) == normalize_space(after), "white space aside"
    if settings.text == "similarity":
        ratio = similarity(before, after)
        return ratio >= settings.similarity, f"similarity {ratio:.2f}, needs {settings.similarity:g}"
    return before == after, ""


def _project_inputs(expected: Any, actual: Any) -> Any:
    """``tool_input: subset``: this run's inputs keep only the keys its golden call has, so extra
    keys pass and every missing or different one is still reported. The k-th call of a tool is
    matched with the golden's k-th call of that tool, whatever the order."""
    if not isinstance(expected, list) or not isinstance(actual, list):
        return actual
    golden: dict[Any, list[Any]] = {}
    for call in expected:
        if isinstance(call, dict):
            golden.setdefault(call.get("name"), []).append(call.get("input"))
    seen: Counter[Any] = Counter()
    projected = []
    for call in actual:
        if isinstance(call, dict) and "input" in call:
            name = call.get("name")
            inputs = golden.get(name, [])
            if seen[name] < len(inputs):
                call = {**call, "input": _project(inputs[seen[name]], call["input"])}
            seen[name] += 1
        projected.append(call)
    return projected


def _project(expected: Any, actual: Any) -> Any:
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {key: _project(expected[key], value) for key, value in actual.items() if key in expected}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [_project(old, new) for old, new in zip(expected, actual, strict=True)]
    return actual


def _deep_differences(
    old: Mapping[str, Any], new: Mapping[str, Any], ignore_order: bool
) -> Iterator[tuple[list[str], ChangeKind, Any, Any]]:
    """deepdiff's findings as (path, kind, golden value, this run's value)."""
    from deepdiff import DeepDiff  # ~0.5 s to import: paid only by runs that compare goldens

    diff = DeepDiff(old, new, ignore_order=ignore_order, view="tree")
    for report, levels in diff.items():
        kind = _KINDS.get(report, "changed")
        for level in levels:
            path = [str(part) for part in level.path(output_format="list", use_t2=kind == "added")]
            yield path, kind, None if kind == "added" else level.t1, None if kind == "removed" else level.t2


def _change(path: list[str], kind: ChangeKind, before: Any, after: Any, side: Mapping[str, Any]) -> Change:
    """``side`` is the turn the path indexes into: this run's for an addition, else the golden's."""
    prose = kind == "changed" and path[0] in _PROSE and isinstance(before, str) and isinstance(after, str)
    return Change(
        ".".join(path),
        kind,
        before,
        after,
        word_diff(before, after) if prose else None,
        subject=_subject(path, side),
    )


def _subject(path: Sequence[str], turn: Mapping[str, Any]) -> str:
    """The path in words: ``tool call 1 lookup_order input.order_id``, ``text block 2``."""
    head, rest = path[0], list(path[1:])
    if not rest or not rest[0].isdigit():
        return ".".join(path).replace("tool_calls", "tool calls")
    number = int(rest[0])
    if head != "tool_calls":
        return " ".join([f"{_ITEM_WORDS.get(head, head)} {number + 1}", ".".join(rest[1:])]).strip()
    calls = turn.get("tool_calls")
    call = calls[number] if isinstance(calls, list) and number < len(calls) else None
    name = call.get("name") if isinstance(call, dict) and rest[1:] != ["name"] else None
    words = f"tool call {number + 1}" + (f" {name}" if name else "")
    return " ".join([words, ".".join(rest[1:])]).strip()


def _position(change: Change) -> tuple[Any, ...]:
    """File order: by turn field, then numerically by list index."""
    head, *rest = change.path.split(".")
    rank = TURN_FIELDS.index(head) if head in TURN_FIELDS else len(TURN_FIELDS)
    return (rank, *((0, int(part), "") if part.isdigit() else (1, 0, part) for part in rest))
