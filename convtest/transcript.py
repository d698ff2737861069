"""What came back from the target: one typed record per turn, one list per conversation.

Adapters produce these; assertions, goldens and the report only read them. Every part of the AI
SDK UI message stream has a typed home here; chunk types convtest does not know are kept verbatim
in ``unknown_events``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "DataPart",
    "Exchange",
    "FilePart",
    "Source",
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
    #: the raw concatenated ``tool-input-delta`` text, kept for debugging malformed input
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
    #: the text blocks, in stream order; a block is keyed by step and id, since ids repeat
    text_blocks: list[str] = field(default_factory=list)
    #: the reasoning blocks, kept apart from the text the user reads
    reasoning_blocks: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)
    #: every ``data-*`` part in order of first appearance, ``data-session`` included
    data_parts: list[DataPart] = field(default_factory=list)
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

    @property
    def text(self) -> str:
        """The reply as a user reads it: text blocks joined by a blank line."""
        return "\n\n".join(self.text_blocks)

    @property
    def reasoning(self) -> str:
        """The reasoning blocks joined by a blank line, as :attr:`text` joins the text."""
        return "\n\n".join(self.reasoning_blocks)

    def data(self, name: str) -> list[DataPart]:
        """The data parts called ``name`` (with or without the ``data-`` prefix)."""
        name = name.removeprefix("data-")
        return [part for part in self.data_parts if part.name == name]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["text"] = self.text
        data["reasoning"] = self.reasoning
        return data


@dataclass(frozen=True, slots=True)
class Exchange:
    """One turn as it happened: the message sent and the transcript of what came back.

    Checks see the conversation so far as these; an adapter for a stateless API (one that keeps
    no session) sends them again with every turn (``TurnRequest.history``).
    """

    user: str
    transcript: TurnTranscript
