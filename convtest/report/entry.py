"""What the report shows of one conversation: plain data, filled from pytest's reports by
:mod:`convtest.pytest_plugin.gather` and rendered by :mod:`convtest.report.html`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Entry"]


@dataclass(slots=True)
class Entry:
    """One conversation as the report shows it: what it is, how it ended, and why."""

    nodeid: str
    name: str
    #: the suite file, relative to the rootdir: the report groups by it
    file: str
    location: str
    #: ``conversation``, ``invalid`` (failed validation) or ``collect`` (collection error)
    kind: str
    tags: list[str] = field(default_factory=list)
    #: passed, failed, error, skipped, xfailed or xpassed
    outcome: str = "passed"
    duration_s: float = 0.0
    #: ``ConversationResult.to_dict()``; None for items that never ran a conversation
    data: dict[str, Any] | None = None
    #: pytest's own words: failure text, skip or xfail reason, errors in setup or teardown
    messages: list[str] = field(default_factory=list)
