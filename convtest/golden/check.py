"""The golden check of one conversation: compare the run with its golden transcript, or record it.

Plain Python, usable without pytest (``run_suite(path, update_goldens=True)``). The plugin calls it
in the process that ran the conversation, right after the run, so under pytest-xdist each golden
is read and written by exactly one worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from convtest.exceptions import GoldenError
from convtest.golden.compare import compare_turns
from convtest.golden.document import golden_document
from convtest.golden.paths import golden_path
from convtest.golden.result import GoldenResult, TurnChanges
from convtest.golden.store import dump_golden, load_golden, write_atomic
from convtest.golden.text import update_command
from convtest.models import Conversation, GoldenSettings

if TYPE_CHECKING:
    from convtest.runner import ConversationResult

__all__ = ["check_golden", "shown_golden_path"]


def shown_golden_path(conversation: Conversation) -> str:
    """The golden file as messages name it: beside the suite as the suite is named."""
    return golden_path(Path(conversation.location.file), conversation.name).as_posix()


def check_golden(
    result: ConversationResult, suite_path: str | Path, *, update: bool = False
) -> GoldenResult | None:
    """None when the conversation is not golden (``golden: true``).

    On update a golden is written only when the conversation passed and its golden is missing or
    does not match; one that matches (by similarity, or apart from ignored values) is left byte
    for byte as it is, so the review diff holds only the conversations that moved.
    """
    conversation, default = result.conversation, result.conversation.golden
    if default is None:
        return None
    try:  # the loader refuses such a conversation already; this holds without the loader too
        path = golden_path(Path(suite_path), conversation.name)
        shown_golden_path(conversation)
    except GoldenError as error:
        return GoldenResult("mismatch", conversation.location.file, str(error))
    document = golden_document(result)
    settings = [turn.golden or default for turn in conversation.turns]
    verdict = _verdict(path, document, conversation, settings)
    if not update:
        return verdict
    if not result.turns_passed:
        verdict.message = f"not written, the conversation failed; {verdict.message}"
        return verdict
    if verdict.status == "match":
        return GoldenResult("unchanged", verdict.path, f"{verdict.path} is up to date")
    try:
        write_atomic(path, dump_golden(document))
    except OSError as exc:
        verdict.message = f"could not write {verdict.path}: {exc.strerror or exc}"
        return verdict
    done = "wrote" if verdict.status == "missing" else "rewrote"
    return GoldenResult("written", verdict.path, f"{done} {verdict.path}", verdict.turns)


def _verdict(
    path: Path, document: dict[str, Any], conversation: Conversation, settings: list[GoldenSettings]
) -> GoldenResult:
    shown = shown_golden_path(conversation)
    try:
        stored = load_golden(path, shown)
    except GoldenError as error:
        return GoldenResult("mismatch", shown, f"{error}; rewrite it with: {update_command(conversation)}")
    if stored is None:
        message = f"no golden transcript {shown} yet; create it with: {update_command(conversation)}"
        return GoldenResult("missing", shown, message)
    complete = len(document["turns"]) == len(conversation.turns)
    turns = compare_turns(stored["turns"], document["turns"], settings, complete=complete)
    if not turns:
        return GoldenResult("match", shown, f"matches {shown}")
    return GoldenResult("mismatch", shown, f"does not match {shown}: {_summary(turns)}", turns)


def _summary(turns: list[TurnChanges]) -> str:
    count = sum(len(turn.changes) for turn in turns)
    numbers = [str(turn.index) for turn in turns]
    where = (
        f"turn {numbers[0]}" if len(numbers) == 1 else f"turns {', '.join(numbers[:-1])} and {numbers[-1]}"
    )
    return f"{count} change{'' if count == 1 else 's'} in {where}"
