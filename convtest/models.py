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
from typing import TYPE_CHECKING, Any, Literal

from convtest.exceptions import Location, SuiteError
from convtest.templating import Template

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "NO_ERRORS",
    "Conversation",
    "Count",
    "DataCheck",
    "ErrorsCheck",
    "Expectation",
    "GoldenSettings",
    "GoldenText",
    "GoldenToolInput",
    "InvalidConversation",
    "SaveRule",
    "SourcesCheck",
    "Suite",
    "TextCheck",
    "TextOp",
    "ToolCallPattern",
    "ToolCheck",
    "ToolOp",
    "Turn",
    "UnknownEventsCheck",
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
    #: True: the call failed; False: it did not; a string: its error contains it; None: not checked
    error: bool | str | None = None
    #: compiled when the file is loaded; the call's input must be valid against it
    input_schema: Validator | None = None


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
class Count:
    """How many: at least ``min`` and at most ``max`` (None: no upper bound)."""

    location: Location | None
    min: int = 0
    max: int | None = None


@dataclass(frozen=True, slots=True)
class SourcesCheck:
    """The turn's cited sources (``source-url`` / ``source-document``)."""

    location: Location
    count: Count | None = None
    #: each is part of some source's URL
    urls: tuple[str, ...] = ()
    #: each is part of some source's title
    titles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DataCheck:
    """A ``data-<name>`` part must have arrived with data matching ``expected`` as a subset."""

    #: without the ``data-`` prefix
    name: str
    #: a nested YAML value whose string leaves may be templates
    expected: Any
    location: Location


@dataclass(frozen=True, slots=True)
class ErrorsCheck:
    """The turn's ``error`` chunks: how many, and what they say."""

    #: None for the implicit check every turn has
    location: Location | None
    count: Count | None = None
    #: each is part of some error's text
    contains: tuple[str, ...] = ()


#: a turn that says nothing about errors fails on an ``error`` chunk: never a silent pass
NO_ERRORS = ErrorsCheck(None, Count(None, max=0))


@dataclass(frozen=True, slots=True)
class UnknownEventsCheck:
    """Chunks of types convtest does not know (kept verbatim, never fatal): how many, which."""

    location: Location
    count: Count | None = None
    #: each must be the type of some unknown chunk
    types: tuple[str, ...] = ()


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
    #: text checks on the reasoning text
    reasoning: tuple[TextCheck, ...] = ()
    sources: SourcesCheck | None = None
    data: tuple[DataCheck, ...] = ()
    #: ``expect.errors: null`` turns the default off and lets error chunks pass
    errors: ErrorsCheck | None = NO_ERRORS
    steps: Count | None = None
    #: True: the stream must be aborted; False (the default): it must not; None: not checked
    aborted: bool | None = False
    aborted_location: Location | None = None
    unknown_events: UnknownEventsCheck | None = None


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
    platform: str = "web"
    #: initial template variables
    vars: Mapping[str, Any] = field(default_factory=dict)
    skip: str | None = None
    xfail: str | None = None
    #: None: no golden transcript; else the conversation-level comparison settings
    golden: GoldenSettings | None = None


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
