"""The parsed form of a suite file: plain frozen dataclasses, no behaviour.

``convtest.suite`` builds them from YAML (with line numbers); the runner and the assertions read
them. String operands that contain Jinja2 syntax are :class:`~convtest.templating.Template`
objects, rendered per turn; the rest are plain ``str``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from convtest.exceptions import Location, SuiteError
from convtest.templating import Template

__all__ = [
    "Conversation",
    "Expectation",
    "InvalidConversation",
    "SaveRule",
    "Suite",
    "TextCheck",
    "TextOp",
    "ToolCallPattern",
    "ToolCheck",
    "ToolOp",
    "Turn",
    "Value",
]

#: a string operand: plain, or a template rendered against the turn's variables
Value = str | Template

TextOp = Literal[
    "equals",
    "contains",
    "not_contains",
    "contains_any",
    "contains_all",
    "matches",
    "not_matches",
    "starts_with",
    "ends_with",
    "min_length",
    "max_length",
    "all_of",
    "any_of",
    "not",
]


@dataclass(frozen=True, slots=True)
class TextCheck:
    """One predicate on the turn's reassembled text.

    - ``equals``/``contains``/``not_contains``/``starts_with``/``ends_with``: one operand in
      ``values``; ``contains_any``/``contains_all``: several.
    - ``matches``/``not_matches``: the regex source in ``values[0]``; ``pattern`` is compiled at
      load time unless the source is a template (then it is compiled after rendering).
    - ``min_length``/``max_length``: ``number``.
    - ``all_of``/``any_of``: ``children``; ``not``: exactly one child.
    """

    op: TextOp
    location: Location
    values: tuple[Value, ...] = ()
    number: int | None = None
    children: tuple[TextCheck, ...] = ()
    ignore_case: bool = False
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class ToolCallPattern:
    """A tool call a turn expects: its name, and optionally subsets of its input and output.

    ``input``/``output`` are nested YAML values whose string leaves may be templates; a dict
    matches any dict holding at least those keys with matching values, recursively.
    """

    name: str
    location: Location
    input: Any = None
    output: Any = None
    has_input: bool = False
    has_output: bool = False


ToolOp = Literal["sequence", "called", "not_called", "none", "count"]


@dataclass(frozen=True, slots=True)
class ToolCheck:
    """One predicate on the turn's tool calls.

    - ``sequence``: exactly these calls, in this order (``calls``).
    - ``called``: each of ``calls`` appears somewhere, in any order.
    - ``not_called``: none of ``names`` appears.
    - ``none``: no tool call at all.
    - ``count``: exactly ``number`` calls.
    """

    op: ToolOp
    location: Location
    calls: tuple[ToolCallPattern, ...] = ()
    names: tuple[str, ...] = ()
    number: int | None = None


@dataclass(frozen=True, slots=True)
class Expectation:
    """All checks of one turn; every one is evaluated so a failure report lists them all."""

    text: tuple[TextCheck, ...] = ()
    tool_calls: tuple[ToolCheck, ...] = ()
    #: accepted finish reasons; empty means not checked
    finish_reason: tuple[str, ...] = ()
    finish_reason_location: Location | None = None
    max_first_token_ms: float | None = None
    max_total_ms: float | None = None
    latency_location: Location | None = None


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


@dataclass(frozen=True, slots=True)
class Turn:
    """One user message and what must come back."""

    #: 1-based position in the conversation
    index: int
    user: Value
    location: Location
    expect: Expectation = field(default_factory=Expectation)
    save: tuple[SaveRule, ...] = ()


@dataclass(frozen=True, slots=True)
class Conversation:
    """A multi-turn conversation: one test item, turns run in order on one session."""

    name: str
    location: Location
    turns: tuple[Turn, ...]
    tags: tuple[str, ...] = ()
    #: target name from the suite or conversation; None means the run's default
    target: str | None = None
    platform: str = "web"
    #: initial template variables
    vars: Mapping[str, Any] = field(default_factory=dict)
    skip: str | None = None
    xfail: str | None = None


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
