"""A golden check that failed, in words: per turn what the golden has and what came instead, the
text as a word diff, tool arguments by path, and the command that accepts the new transcript."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any, Final

from convtest.golden.result import Change
from convtest.golden.worddiff import mark_words
from convtest.models import Conversation

if TYPE_CHECKING:
    from convtest.runner import ConversationResult

__all__ = ["format_golden_failure", "golden_lines", "update_command"]

_VALUE_SHOWN: Final = 120
_INDENT: Final = " " * 8


def update_command(conversation: Conversation) -> str:
    """The command that records this conversation's golden and no other, quoted for a shell.

    Not a node id: pytest cuts one at every ``::`` and lets ``file::refund`` select ``refund [v2]``
    too; ``--convtest-conversation`` matches the whole name exactly.
    """
    file, name = shlex.quote(conversation.location.file), shlex.quote(conversation.name)
    return f"pytest {file} --convtest-conversation={name} --update-goldens"


def format_golden_failure(result: ConversationResult) -> str:
    """A conversation whose every turn held but whose golden check did not."""
    conversation, golden = result.conversation, result.golden
    missing = golden is not None and golden.status == "missing"
    what = "has no golden transcript yet" if missing else "does not match its golden transcript"
    header = f"conversation {conversation.name!r} {what} ({conversation.location})"
    return "\n".join([header, *golden_lines(result)])


def golden_lines(result: ConversationResult) -> list[str]:
    """The golden part of a failure report; nothing when the check passed or did not run."""
    golden = result.golden
    if golden is None or not golden.failed:
        return []
    lines = [f"  ✗ golden: {golden.message}"]
    for turn in golden.turns:
        for change in turn.changes:
            lines.extend(_change_lines(turn.index, change))
    if golden.turns and result.turns_passed:
        lines.append(f"  accept this run as the golden: {update_command(result.conversation)}")
    elif golden.turns:
        lines.append("  (--update-goldens rewrites the golden once the conversation passes)")
    return lines


def _change_lines(index: int, change: Change) -> list[str]:
    where = f"    turn {index}" + (f" {change.subject}" if change.subject else "")
    if not change.path:
        return [_whole_turn(where, change)]
    if change.word_diff is not None:
        note = f" ({change.note})" if change.note else ""
        marked = mark_words(change.word_diff).splitlines() or [""]
        return [f"{where} changed{note}:", *(_INDENT + line for line in marked)]
    if change.kind == "added":
        return [f"{where} added: {_value(change.actual)}"]
    if change.kind == "removed":
        return [f"{where} removed (was {_value(change.expected)})"]
    return [f"{where}: {_value(change.expected)} → {_value(change.actual)}"]


def _whole_turn(where: str, change: Change) -> str:
    added = change.kind == "added"
    turn = change.actual if added else change.expected
    what = "added (not in the golden)" if added else "removed (in the golden, not in this run)"
    facts = [f"{key} {_value(turn.get(key))}" for key in ("user", "text") if isinstance(turn, dict)]
    return f"{where} {what}: {', '.join(facts)}"


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _VALUE_SHOWN else text[: _VALUE_SHOWN - 1] + "…"
