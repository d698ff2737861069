"""From pytest reports to report entries: one :class:`~convtest.report.entry.Entry` per
conversation, whatever its fate.

Runs in the controller. Everything it reads travels on the test reports as plain attributes
(``report.convtest`` for the result, ``report.convtest_item`` for what the item is), so under
pytest-xdist the workers' reports carry the same data as in-process ones.
"""

from __future__ import annotations

from typing import Any

import pytest

from convtest.pytest_plugin.collect import ConversationItem, InvalidItem
from convtest.report.entry import Entry

__all__ = ["ITEM_ATTR", "Gatherer", "describe_item"]

#: the report attribute that says which conversation (or invalid suite entry) a report is about
ITEM_ATTR = "convtest_item"


def describe_item(item: pytest.Item) -> dict[str, Any] | None:
    """What the report needs to know about an item before (or without) running it."""
    file = item.nodeid.split("::", 1)[0]
    if isinstance(item, ConversationItem):
        conversation = item.conversation
        return {
            "kind": "conversation",
            "name": conversation.name,
            "file": file,
            "location": str(conversation.location),
            "tags": list(conversation.tags),
        }
    if isinstance(item, InvalidItem):
        location = item.entry.location
        return {
            "kind": "invalid",
            "name": item.name,
            "file": file,
            "location": str(location) if location else file,
            "tags": [],
        }
    return None


class Gatherer:
    """Folds the setup, call and teardown reports of each conversation into one entry."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    @property
    def entries(self) -> list[Entry]:
        """In the order the first report of each arrived."""
        return list(self._entries.values())

    def add(self, report: pytest.TestReport) -> None:
        """Reports of items that are not conversations are ignored."""
        entry = self._entry_for(report)
        if entry is None:
            return
        entry.duration_s += report.duration
        data = getattr(report, "convtest", None)
        if isinstance(data, dict):
            entry.data = data
        outcome = _outcome(report)
        if outcome is not None and _replaces(entry.outcome, outcome):
            entry.outcome = outcome
        message = _message(report)
        if message:
            entry.messages.append(message)

    def add_collect_error(self, report: pytest.CollectReport) -> None:
        """A file that could not be collected: no conversation ran, so the report must say why."""
        if not report.failed:
            return
        nodeid = report.nodeid or "<collection>"
        self._entries[nodeid] = Entry(
            nodeid=nodeid,
            name="collection error",
            file=nodeid.split("::", 1)[0],
            location=nodeid,
            kind="collect",
            outcome="error",
            messages=[report.longreprtext],
        )

    def _entry_for(self, report: pytest.TestReport) -> Entry | None:
        entry = self._entries.get(report.nodeid)
        meta = getattr(report, ITEM_ATTR, None)
        if entry is None and isinstance(meta, dict):
            entry = self._entries[report.nodeid] = Entry(
                nodeid=report.nodeid,
                name=str(meta["name"]),
                file=str(meta["file"]),
                location=str(meta["location"]),
                kind=str(meta["kind"]),
                tags=[str(tag) for tag in meta["tags"]],
            )
        return entry


def _outcome(report: pytest.TestReport) -> str | None:
    """The verdict a phase gives, or None when it leaves the verdict as it was."""
    xfail = hasattr(report, "wasxfail")
    if report.when == "setup":
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        return "error" if report.failed else None
    if report.when == "teardown":
        return "error" if report.failed else None
    if xfail:
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome


def _replaces(current: str, new: str) -> bool:
    """A failing teardown after a passing call is an error; it does not hide a failure."""
    return not (new == "error" and current == "failed")


def _message(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail") and report.skipped:
        return f"expected to fail: {report.wasxfail}" if report.wasxfail else "expected to fail"
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if report.failed:
        text = report.longreprtext
        return text if report.when == "call" else f"error in {report.when}:\n{text}"
    return ""
