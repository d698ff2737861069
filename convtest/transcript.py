"""What came back from the target: one typed record per turn, one list per conversation.

Adapters produce these; assertions, goldens and the report only read them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Timings", "ToolCall", "TurnTranscript"]


@dataclass(slots=True)
class ToolCall:
    """One tool invocation, assembled from ``tool-input-*`` and ``tool-output-*`` chunks."""

    id: str
    name: str
    input: Any = None
    output: Any = None
    #: the raw concatenated ``tool-input-delta`` text, kept for debugging malformed input
    input_text: str = ""
    #: set by ``tool-input-error`` / ``tool-output-error``
    error: str | None = None
    #: the step (0-based) in which the call was made
    step: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Timings:
    """Milliseconds since the request was sent; ``None`` when the moment never came."""

    first_byte_ms: float | None = None
    first_token_ms: float | None = None
    total_ms: float | None = None


@dataclass(slots=True)
class TurnTranscript:
    """Everything one turn produced, reassembled from the event stream."""

    #: the user message as sent (after templating)
    user: str = ""
    #: the text blocks, in stream order; a block is keyed by step and id, since ids repeat
    text_blocks: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
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
    #: true once ``data: [DONE]`` arrived
    done: bool = False
    timings: Timings = field(default_factory=Timings)

    @property
    def text(self) -> str:
        """The reply as a user reads it: text blocks joined by a blank line."""
        return "\n\n".join(self.text_blocks)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["text"] = self.text
        return data
