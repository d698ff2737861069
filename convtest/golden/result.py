"""The outcome of one golden check, as plain data: the failure text, the run summary and the HTML
report all read it, and ``to_dict()`` carries it across pytest-xdist."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Change", "ChangeKind", "GoldenResult", "GoldenStatus", "TurnChanges", "WordOp"]

GoldenStatus = Literal["match", "mismatch", "missing", "written", "unchanged"]
ChangeKind = Literal["changed", "added", "removed"]
#: one piece of a word diff: ("equal" | "delete" | "insert", text)
WordOp = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between a golden turn and this run's turn.

    ``path`` is dotted, relative to the turn (``text``, ``tool_calls.0.input.order_id``); ``""`` is
    the whole turn. ``expected`` is the golden's value, ``actual`` this run's.
    """

    path: str
    kind: ChangeKind
    expected: Any = None
    actual: Any = None
    #: for prose (``user``, ``text``, text blocks) that changed: the word-level diff
    word_diff: tuple[WordOp, ...] | None = None
    #: the path in words for people: ``tool call 1 lookup_order input.order_id``
    subject: str = ""
    #: why a text that differs does not pass, e.g. ``similarity 0.62, needs 0.85``
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "expected": self.expected,
            "actual": self.actual,
            "word_diff": None if self.word_diff is None else [list(op) for op in self.word_diff],
        }


@dataclass(frozen=True, slots=True)
class TurnChanges:
    """The differences of one turn; ``index`` is 1-based like everywhere in reports."""

    index: int
    changes: tuple[Change, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "changes": [change.to_dict() for change in self.changes]}


@dataclass(slots=True)
class GoldenResult:
    """What the golden check of one conversation found or did."""

    status: GoldenStatus
    #: the golden file as people see it, e.g. ``suites/__goldens__/orders/order-status.yaml``
    path: str
    #: one line that says what happened and, when it failed, what to do
    message: str
    turns: list[TurnChanges] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in ("mismatch", "missing")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "path": self.path,
            "message": self.message,
            "turns": [turn.to_dict() for turn in self.turns],
        }
