"""The report's view model: entries in, everything a reader should not have to work out, out.

Order (worst suites first, failures first inside each), which conversation is open, one headline
per conversation, what an unknown transcript field is, where each golden change goes, and the
latency chart. Plain dataclasses; the templates only lay them out.
"""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from convtest.report.chart import Chart, Sample, latency_chart
from convtest.report.entry import Entry

__all__ = ["OUTCOMES", "ConversationView", "ReportView", "RunInfo", "SuiteView", "TurnView", "build_view"]

#: display order, worst first: the order of suites, conversations and filter chips
OUTCOMES = ("failed", "error", "xpassed", "passed", "xfailed", "skipped")
_PROBLEMS = frozenset({"failed", "error", "xpassed"})
#: transcript fields the turn template shows in their own place; any other is shown generically
_KNOWN_TRANSCRIPT = frozenset(
    {
        "user",
        "text",
        "text_blocks",
        "tool_calls",
        "steps",
        "finish_reason",
        "raw_finish_reason",
        "session_id",
        "message_id",
        "unknown_events",
        "errors",
        "done",
        "timings",
    }
)
#: fields the turn template shows among the parts, when the transcript has them in order
_SHOWN_AS_PARTS = frozenset({"parts", "reasoning_blocks", "reasoning", "sources", "files", "data_parts"})
#: the typed list each kind of part reference points into
_PART_LISTS = {
    "text": "text_blocks",
    "reasoning": "reasoning_blocks",
    "tool": "tool_calls",
    "source": "sources",
    "file": "files",
    "data": "data_parts",
}
_KNOWN_TOOL = frozenset({"id", "name", "input", "output", "input_text", "error", "step"})


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the run was, as opposed to what each conversation did."""

    started: datetime
    duration_s: float
    #: the command-line target, for runs in which no conversation reported its own
    default_target: str | None = None


@dataclass(frozen=True, slots=True)
class ToolView:
    id: str
    name: str
    input: Any
    output: Any
    input_text: str
    error: str | None
    extras: list[tuple[str, Any]]


@dataclass(frozen=True, slots=True)
class PartView:
    """One part of the reply where it came: ``kind`` is text, reasoning, tool, source, file, data
    or step; ``value`` the text, a :class:`ToolView`, the part's fields, or the step's number."""

    kind: str
    value: Any


@dataclass(frozen=True, slots=True)
class Change:
    """One golden difference; ``*_parts`` are (op, text) runs when a word diff exists."""

    path: str
    kind: str
    expected: Any
    actual: Any
    expected_parts: list[tuple[str, str]] | None
    actual_parts: list[tuple[str, str]] | None
    #: the path in words and why the difference counts, when the golden check says so
    subject: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class TurnView:
    index: int
    location: str
    user: str | None
    passed: bool
    anchor: str
    text: str | None
    tools: list[ToolView]
    #: the reply part by part, in stream order; empty when the transcript has no order (then the
    #: template shows the tools, then the text)
    parts: list[PartView]
    finish_reason: str | None
    raw_finish_reason: str | None
    timings: dict[str, float | None]
    session_id: str | None
    message_id: str | None
    steps: int | None
    done: bool | None
    stream_errors: list[str]
    unknown_events: list[Any]
    extras: list[tuple[str, Any]]
    failures: list[dict[str, Any]]
    error: str | None
    error_type: str | None
    saved: dict[str, Any]
    golden_changes: list[Change]


@dataclass(frozen=True, slots=True)
class GoldenView:
    status: str
    path: str | None
    message: str | None
    #: changes of turns the conversation never reached, shown with the conversation
    other_turns: list[tuple[int, list[Change]]]


@dataclass(slots=True)
class ConversationView:
    anchor: str
    entry: Entry
    target: str | None
    turn_count: int
    turns: list[TurnView]
    golden: GoldenView | None
    headline: str
    #: the checks of the whole conversation (its own ``expect``) that did not hold
    failures: list[dict[str, Any]] = field(default_factory=list)
    open: bool = False

    @property
    def reason(self) -> str | None:
        """Why a conversation was skipped or expected to fail: the suite's own words."""
        if self.entry.outcome in ("skipped", "xfailed", "xpassed") and self.entry.messages:
            return self.entry.messages[0]
        return None

    @property
    def unsent(self) -> int:
        return max(0, self.turn_count - len(self.turns))


@dataclass(slots=True)
class SuiteView:
    file: str
    conversations: list[ConversationView]
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def outcome(self) -> str:
        return _worst(c.entry.outcome for c in self.conversations)


@dataclass(frozen=True, slots=True)
class ReportView:
    run: RunInfo
    targets: list[str]
    counts: dict[str, int]
    total: int
    outcome: str
    suites: list[SuiteView]
    tags: list[str]
    chart: Chart
    versions: str


def build_view(entries: Sequence[Entry], run: RunInfo) -> ReportView:
    """Order and shape the entries: worst suites first, and inside each, worst conversations."""
    conversations = [_conversation(i, entry) for i, entry in enumerate(entries)]
    suites: dict[str, SuiteView] = {}
    for view in conversations:
        suites.setdefault(view.entry.file, SuiteView(view.entry.file, [])).conversations.append(view)
    for suite in suites.values():
        # file order, not arrival order: under xdist conversations finish in any order
        suite.conversations.sort(key=lambda c: (_rank(c.entry.outcome), _line(c.entry.location)))
        suite.counts.update(c.entry.outcome for c in suite.conversations)
    ordered = sorted(suites.values(), key=lambda s: (_rank(s.outcome), s.file))
    first_problem = next((c for s in ordered for c in s.conversations if c.entry.outcome in _PROBLEMS), None)
    if first_problem is not None:
        first_problem.open = True
    counts = Counter(entry.outcome for entry in entries)
    targets = sorted({str(c.target) for c in conversations if c.target})
    return ReportView(
        run=run,
        targets=targets or [run.default_target or "default"],
        counts={outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        total=len(entries),
        outcome=_worst(entry.outcome for entry in entries),
        suites=ordered,
        tags=sorted({tag for entry in entries for tag in entry.tags}),
        chart=latency_chart(list(_samples(conversations))),
        versions=_versions(),
    )


def _conversation(position: int, entry: Entry) -> ConversationView:
    anchor = f"c{position + 1}"
    data = entry.data or {}
    golden = data.get("golden") if isinstance(data.get("golden"), dict) else None
    by_turn = _golden_changes(golden)
    turns = [_turn(anchor, turn, by_turn.pop(turn.get("index"), [])) for turn in data.get("turns") or []]
    failures = list(data.get("failures") or [])
    return ConversationView(
        anchor=anchor,
        entry=entry,
        target=data.get("target"),
        turn_count=int(data.get("turn_count") or len(turns)),
        turns=turns,
        golden=_golden(golden, by_turn) if golden else None,
        headline=_headline(entry, turns, golden, failures),
        failures=failures,
    )


def _turn(conversation_anchor: str, turn: dict[str, Any], changes: list[Change]) -> TurnView:
    transcript: dict[str, Any] = turn.get("transcript") or {}
    timings = transcript.get("timings") or {}
    tools = [_tool(call) for call in transcript.get("tool_calls") or []]
    parts = _parts(transcript, tools)
    known = _KNOWN_TRANSCRIPT | _SHOWN_AS_PARTS if parts else _KNOWN_TRANSCRIPT
    return TurnView(
        index=int(turn.get("index") or 0),
        location=str(turn.get("location") or ""),
        user=turn.get("user"),
        passed=bool(turn.get("passed")),
        anchor=f"{conversation_anchor}-t{turn.get('index')}",
        text=transcript.get("text") if transcript else None,
        tools=tools,
        parts=parts,
        finish_reason=transcript.get("finish_reason"),
        raw_finish_reason=transcript.get("raw_finish_reason"),
        timings={key: timings.get(key) for key in ("first_byte_ms", "first_token_ms", "total_ms")},
        session_id=transcript.get("session_id"),
        message_id=transcript.get("message_id"),
        steps=transcript.get("steps"),
        done=transcript.get("done") if transcript else None,
        stream_errors=[str(e) for e in transcript.get("errors") or []],
        unknown_events=list(transcript.get("unknown_events") or []),
        extras=_extras(transcript, known),
        failures=list(turn.get("failures") or []),
        error=turn.get("error"),
        error_type=turn.get("error_type"),
        saved=dict(turn.get("saved") or {}),
        golden_changes=changes,
    )


def _parts(transcript: dict[str, Any], tools: list[ToolView]) -> list[PartView]:
    """The part references of the transcript resolved into views; a reference that points
    nowhere (a hand-edited or older transcript) is left out rather than failing the report."""
    views, steps = [], 0
    for ref in transcript.get("parts") or []:
        kind = ref.get("type") if isinstance(ref, dict) else None
        if kind == "step-start":
            steps += 1
            views.append(PartView("step", steps))
            continue
        items = tools if kind == "tool" else transcript.get(_PART_LISTS.get(str(kind), ""))
        index = ref.get("index") if isinstance(ref, dict) else None
        if isinstance(items, list) and isinstance(index, int) and 0 <= index < len(items):
            views.append(PartView(str(kind), items[index]))
    return views


def _tool(call: dict[str, Any]) -> ToolView:
    return ToolView(
        id=str(call.get("id") or ""),
        name=str(call.get("name") or "?"),
        input=call.get("input"),
        output=call.get("output"),
        input_text=str(call.get("input_text") or ""),
        error=call.get("error"),
        extras=_extras(call, _KNOWN_TOOL),
    )


def _extras(data: dict[str, Any], known: frozenset[str]) -> list[tuple[str, Any]]:
    """Fields this report does not know yet (newer transcripts): shown as-is, never dropped."""
    return [(key, value) for key, value in data.items() if key not in known and _worth_showing(value)]


def _worth_showing(value: Any) -> bool:
    """Empty lists and false flags of a newer transcript field say nothing: leave them out."""
    return value is not False and value not in (None, [], {}, "")


def _golden_changes(golden: dict[str, Any] | None) -> dict[Any, list[Change]]:
    if not golden:
        return {}
    return {
        turn.get("index"): [_change(change) for change in turn.get("changes") or []]
        for turn in golden.get("turns") or []
    }


def _golden(golden: dict[str, Any], leftover: dict[Any, list[Change]]) -> GoldenView:
    return GoldenView(
        status=str(golden.get("status") or "unknown"),
        path=golden.get("path"),
        message=golden.get("message"),
        other_turns=[(int(index or 0), changes) for index, changes in sorted(leftover.items()) if changes],
    )


def _change(change: dict[str, Any]) -> Change:
    words = change.get("word_diff")
    expected_parts = actual_parts = None
    if isinstance(words, list):
        pairs = [(str(op), str(text)) for op, text in words]
        expected_parts = [(op, text) for op, text in pairs if op in ("equal", "delete")]
        actual_parts = [(op, text) for op, text in pairs if op in ("equal", "insert")]
    return Change(
        path=str(change.get("path") or ""),
        kind=str(change.get("kind") or "changed"),
        expected=change.get("expected"),
        actual=change.get("actual"),
        expected_parts=expected_parts,
        actual_parts=actual_parts,
        subject=str(change.get("subject") or ""),
        note=str(change.get("note") or ""),
    )


def _headline(
    entry: Entry, turns: Sequence[TurnView], golden: dict[str, Any] | None, failures: list[dict[str, Any]]
) -> str:
    """One line that says why a conversation did not pass, for the collapsed view."""
    failed = next((turn for turn in turns if not turn.passed), None)
    if failed is not None:
        if failed.error:
            return f"turn {failed.index}: {failed.error.splitlines()[0]}"
        if failed.failures:
            return f"turn {failed.index}: {_first_expected(failed.failures)}"
    if failures:
        return f"the whole conversation: {_first_expected(failures)}"
    if golden and golden.get("status") in ("mismatch", "missing") and golden.get("message"):
        return f"golden: {golden['message']}"
    if entry.outcome != "passed" and entry.messages:
        lines = [line.strip() for line in entry.messages[0].splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].endswith(":"):  # a header over a list of reasons
            return lines[1].removeprefix("✗ ")
        return lines[0] if lines else ""
    return ""


def _first_expected(failures: Sequence[dict[str, Any]]) -> str:
    more = len(failures) - 1
    return f"expected {failures[0].get('check')}" + (f" (+{more} more)" if more else "")


def _samples(conversations: Iterable[ConversationView]) -> Iterable[Sample]:
    for view in conversations:
        for turn in view.turns:
            yield Sample(
                anchor=turn.anchor,
                label=f"{view.entry.name} · turn {turn.index}",
                first_token_ms=turn.timings["first_token_ms"],
                total_ms=turn.timings["total_ms"],
                failed=not turn.passed,
            )


def _line(location: str) -> int:
    line = location.rpartition(":")[2]
    return int(line) if line.isdigit() else 0


def _rank(outcome: str) -> int:
    return OUTCOMES.index(outcome) if outcome in OUTCOMES else 0


def _worst(outcomes: Iterable[str]) -> str:
    return min(outcomes, key=_rank, default="passed")


def _versions() -> str:
    try:
        convtest_version = version("convtest")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        convtest_version = "?"
    return f"convtest {convtest_version} · pytest {version('pytest')} · Python {platform.python_version()}"
