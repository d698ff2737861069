"""What came back from the target: one typed record per turn, one list per conversation.

Adapters produce these; assertions, goldens and the report only read them. Every part of the AI
SDK UI message stream has a typed home here; chunk types convtest does not know are kept verbatim
in ``unknown_events``. Besides the typed lists (``text_blocks``, ``tool_calls``, ``sources``...),
``parts`` keeps the parts in the order and with the boundaries the ``ai`` client's message has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, TypeAlias

__all__ = [
    "DataPart",
    "Exchange",
    "FilePart",
    "Part",
    "ReasoningPart",
    "Source",
    "StepStart",
    "TextPart",
    "Timings",
    "ToolCall",
    "ToolState",
    "TurnTranscript",
]

#: the life of a tool call, named as the AI SDK names the states of a UI tool part
ToolState = Literal[
    "input-streaming",
    "input-available",
    "approval-requested",
    "output-available",
    "output-error",
    "output-denied",
]


@dataclass(slots=True)
class ToolCall:
    """One tool invocation, assembled from ``tool-input-*``, ``tool-output-*`` and approval chunks."""

    id: str
    name: str
    input: Any = None
    #: the final output; preliminary outputs are in ``preliminary_outputs``
    output: Any = None
    #: the raw concatenated ``tool-input-delta`` text, kept for debugging malformed input; while
    #: the input is still streaming, ``input`` is this text parsed as partial JSON, as the client does
    input_text: str = ""
    #: set by ``tool-input-error`` / ``tool-output-error``
    error: str | None = None
    #: the step (0-based) in which the call was made
    step: int = 0
    state: ToolState = "input-streaming"
    #: the provider ran the tool itself (e.g. a hosted web search), not the agent's code
    provider_executed: bool = False
    #: a tool not known in advance (MCP, user-defined at run time)
    dynamic: bool = False
    title: str | None = None
    #: outputs streamed with ``preliminary: true`` before the final one, in order
    preliminary_outputs: list[Any] = field(default_factory=list)
    #: set by ``tool-approval-request``: the tool waits for a user's approval
    approval_id: str | None = None
    #: ``output`` is a preliminary output (``preliminary: true``); a final one clears it
    preliminary: bool = False
    #: the ``input`` of a ``tool-input-error`` on a static tool: the client keeps the unusable
    #: value here and leaves ``input`` unset (a dynamic tool's goes to ``input``)
    raw_input: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Source:
    """A ``source-url`` (``kind == "url"``) or ``source-document`` the answer cites."""

    kind: Literal["url", "document"]
    id: str
    url: str | None = None
    title: str | None = None
    media_type: str | None = None
    filename: str | None = None


@dataclass(slots=True)
class FilePart:
    """A ``file`` chunk: a generated or attached file, by URL (often a data: URL)."""

    url: str
    media_type: str


@dataclass(slots=True)
class DataPart:
    """A custom ``data-<name>`` chunk; a later chunk with the same name and id replaces the data."""

    #: the type without its ``data-`` prefix: ``session`` for ``data-session``
    name: str
    data: Any
    id: str | None = None
    #: sent for the client only, not meant to be stored in the message history
    transient: bool = False


@dataclass(slots=True)
class TextPart:
    """One text block (``text-start`` ... ``text-end``): a new one at every ``text-start``, even
    when its id was used before, as the ``ai`` client does."""

    text: str = ""


@dataclass(slots=True)
class ReasoningPart:
    """One reasoning block, opened like a :class:`TextPart`."""

    text: str = ""


@dataclass(frozen=True, slots=True)
class StepStart:
    """A ``start-step`` boundary: the parts after it belong to the next model step."""


#: one part of the reply, in the union the ``ai`` client's ``UIMessage.parts`` holds
Part: TypeAlias = TextPart | ReasoningPart | ToolCall | Source | FilePart | DataPart | StepStart

#: the ``type`` of each part class in ``TurnTranscript.to_dict()["parts"]``
_PART_TYPES: dict[type, str] = {
    TextPart: "text",
    ReasoningPart: "reasoning",
    ToolCall: "tool",
    Source: "source",
    FilePart: "file",
    DataPart: "data",
}


@dataclass(slots=True)
class Timings:
    """Milliseconds since the request was sent; ``None`` when the moment never came."""

    first_byte_ms: float | None = None
    #: the first non-empty text delta: ``start`` and tool chunks come earlier and do not count
    first_token_ms: float | None = None
    total_ms: float | None = None


@dataclass(slots=True)
class TurnTranscript:
    """Everything one turn produced, reassembled from the event stream."""

    #: the user message as sent (after templating)
    user: str = ""
    #: the text of each text part, in stream order (a ``text-start`` opens a new one)
    text_blocks: list[str] = field(default_factory=list)
    #: the reasoning blocks, kept apart from the text the user reads
    reasoning_blocks: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)
    #: every stored ``data-*`` part in order of first appearance, ``data-session`` included; a
    #: transient one is not stored (the client only hands it to ``onData``): see ``transient_data``
    data_parts: list[DataPart] = field(default_factory=list)
    #: the ``transient: true`` data chunks, in order
    transient_data: list[DataPart] = field(default_factory=list)
    #: every part in stream order, step boundaries included, the same objects as in the typed
    #: lists; empty when an adapter does not know the order (a JSON answer)
    parts: list[Part] = field(default_factory=list)
    #: ``messageMetadata`` of ``start``, ``message-metadata`` and ``finish``, merged in order
    message_metadata: Any = None
    #: number of ``start-step`` chunks seen
    steps: int = 0
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    session_id: str | None = None
    message_id: str | None = None
    #: chunks whose type convtest does not know, kept verbatim and never fatal
    unknown_events: list[dict[str, Any]] = field(default_factory=list)
    #: ``errorText`` of every ``error`` chunk
    errors: list[str] = field(default_factory=list)
    #: an ``abort`` chunk arrived: the server gave up on this answer
    aborted: bool = False
    abort_reason: str | None = None
    #: true once ``data: [DONE]`` arrived (or a whole non-streaming answer was read)
    done: bool = False
    timings: Timings = field(default_factory=Timings)
    #: one line per attempt that failed before the stream started and was retried
    retries: list[str] = field(default_factory=list)
    #: fields a part should have set but could not, with why: ``{"session_id": "data-session
    #: (event 9) has data {...}, not a string"}``; only what needs the field fails on it
    invalid: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The reply as a user reads it: text blocks joined by a blank line (each block is a part
        of its own in the client's message, rendered as a paragraph of its own)."""
        return "\n\n".join(self.text_blocks)

    @property
    def reasoning(self) -> str:
        """The reasoning blocks joined by a blank line, as :attr:`text` joins the text."""
        return "\n\n".join(self.reasoning_blocks)

    def data(self, name: str) -> list[DataPart]:
        """The data parts called ``name`` (with or without the ``data-`` prefix): the stored ones,
        then the transient ones, which a client also received (through ``onData``)."""
        name = name.removeprefix("data-")
        return [part for part in (*self.data_parts, *self.transient_data) if part.name == name]

    def to_dict(self) -> dict[str, Any]:
        """Plain data; ``parts`` refers into the typed lists (``{"type": "tool", "index": 0}``)
        rather than copying them."""
        data = asdict(replace(self, parts=[]))
        data["parts"] = self.part_refs()
        data["text"] = self.text
        data["reasoning"] = self.reasoning
        return data

    def part_refs(self) -> list[dict[str, Any]]:
        """``parts`` as references: each part's type and its index in its typed list."""
        lists: dict[str, list[Any]] = {
            "text": [],
            "reasoning": [],
            "tool": self.tool_calls,
            "source": self.sources,
            "file": self.files,
            "data": self.data_parts,
        }
        where = {kind: {id(item): at for at, item in enumerate(items)} for kind, items in lists.items()}
        counts = dict.fromkeys(lists, 0)
        refs: list[dict[str, Any]] = []
        for part in self.parts:
            kind = _PART_TYPES.get(type(part))
            if kind is None:
                refs.append({"type": "step-start"})
                continue
            index = counts[kind] if kind in ("text", "reasoning") else where[kind].get(id(part))
            counts[kind] += 1
            if index is not None:
                refs.append({"type": kind, "index": index})
        return refs


@dataclass(frozen=True, slots=True)
class Exchange:
    """One turn as it happened: the message sent and the transcript of what came back.

    Checks see the conversation so far as these; an adapter for a stateless API (one that keeps
    no session) sends them again with every turn (``TurnRequest.history``).
    """

    user: str
    transcript: TurnTranscript
