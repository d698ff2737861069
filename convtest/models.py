"""The parsed form of a suite file: plain frozen dataclasses, no behaviour.

``convtest.suite`` builds them from YAML (with line numbers); the runner and the checks read
them. String operands that contain Jinja2 syntax are :class:`~convtest.templating.Template`
objects, rendered per turn; the rest are plain ``str``. The checks themselves are each check
kind's own objects (:mod:`convtest.checks`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from convtest.exceptions import Location, SuiteError
from convtest.suite.limits import DEFAULT_LIMITS
from convtest.templating import Value

if TYPE_CHECKING:
    from convtest.checks.base import Check

__all__ = [
    "Conversation",
    "Expectation",
    "GoldenSettings",
    "GoldenText",
    "GoldenToolInput",
    "InvalidConversation",
    "SaveRule",
    "SaveSource",
    "Suite",
    "Turn",
]


@dataclass(frozen=True, slots=True)
class Expectation:
    """The checks of one turn (or of a conversation), in the order their failures are listed.

    Each was built by the check kind registered for its ``expect`` key; every one is evaluated
    so a failure report lists them all.
    """

    checks: tuple[Check, ...] = ()


SaveSource = Literal["text", "tool_input", "tool_output", "session_id", "message_id"]


@dataclass(frozen=True, slots=True)
class SaveRule:
    """Where to take a value from a turn's transcript, to use as ``{{ name }}`` later.

    - ``text``: group ``group`` of the first match of ``regex`` (whole text when no regex).
    - ``tool_input``/``tool_output``: the first call named ``tool`` (the last call of the turn
      when ``tool`` is None), then the dotted ``path`` (``items.0.sku``) into its input/output.
    """

    name: str
    source: SaveSource
    location: Location
    regex: re.Pattern[str] | None = None
    group: int | str = 0
    tool: str | None = None
    path: str | None = None
    #: how long ``regex`` may run on one reply (``suite_limits.regex_seconds``)
    regex_seconds: float = DEFAULT_LIMITS.regex_seconds


GoldenText = Literal["exact", "normalized", "similarity"]
GoldenToolInput = Literal["exact", "subset"]


@dataclass(frozen=True, slots=True)
class GoldenSettings:
    """How a turn is compared with its golden transcript (``golden:`` in defaults, conversation, turn).

    ``ignore`` holds dotted paths into a golden turn (``tool_calls.*.output.eta``); ``*`` is one
    segment, ``**`` any number of them.
    """

    ignore: tuple[str, ...] = ()
    text: GoldenText = "exact"
    #: the least word-level similarity ratio (0-1) that passes with ``text: similarity``
    similarity: float = 0.9
    tool_input: GoldenToolInput = "exact"
    ignore_order: bool = False


@dataclass(frozen=True, slots=True)
class Turn:
    """One user message and what must come back."""

    #: 1-based position in the conversation
    index: int
    user: Value
    location: Location
    expect: Expectation = field(default_factory=Expectation)
    save: tuple[SaveRule, ...] = ()
    #: overrides of the target's timeouts for this turn, in seconds by kind (``idle``, ``total``...)
    timeouts: Mapping[str, float] = field(default_factory=dict)
    #: how this turn is compared with the golden transcript; None: the conversation is not golden
    golden: GoldenSettings | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    """A multi-turn conversation: one test item, turns run in order on one session."""

    name: str
    location: Location
    turns: tuple[Turn, ...]
    tags: tuple[str, ...] = ()
    #: target name from the suite or conversation; None means the run's default
    target: str | None = None
    #: where that name is written (the conversation's or the file's ``target:``), for messages
    target_location: Location | None = field(default=None, compare=False)
    platform: str = "web"
    #: initial template variables
    vars: Mapping[str, Any] = field(default_factory=dict)
    skip: str | None = None
    xfail: str | None = None
    #: None: no golden transcript; else the conversation-level comparison settings
    golden: GoldenSettings | None = None
    #: checks of the whole conversation, evaluated once after its last turn
    expect: Expectation = field(default_factory=Expectation)


@dataclass(frozen=True, slots=True)
class InvalidConversation:
    """A conversation that failed validation; it becomes a failing item, the others still run."""

    name: str
    location: Location
    errors: tuple[SuiteError, ...]


@dataclass(frozen=True, slots=True)
class Suite:
    """One suite file, fully validated except for the conversations listed in ``invalid``."""

    name: str
    path: Path
    conversations: tuple[Conversation, ...]
    invalid: tuple[InvalidConversation, ...] = ()
