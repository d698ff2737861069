"""The one exception tree of convtest.

Every error a user can cause derives from :class:`ConvtestError` and renders as a few plain
lines through ``str()``; anything else escaping convtest is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convtest.transcript import TurnTranscript

__all__ = [
    "ConfigError",
    "ConnectError",
    "ConvtestError",
    "GoldenError",
    "HTTPStatusError",
    "Location",
    "PluginError",
    "ProtocolError",
    "StreamCutError",
    "SuiteError",
    "TargetError",
    "TemplateRenderError",
    "TimeoutError",
]


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a user's file, shown as ``file:line``."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class ConvtestError(Exception):
    """Base of every error convtest reports to a user without a traceback."""


class SuiteError(ConvtestError):
    """A suite file cannot be used as written: syntax, unknown key, wrong type, bad regex..."""

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        *,
        conversation: str | None = None,
        turn: int | None = None,
    ) -> None:
        self.message = message
        self.location = location
        self.conversation = conversation
        self.turn = turn
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [str(self.location)] if self.location else []
        if self.conversation is not None:
            where.append(f"conversation {self.conversation!r}")
        if self.turn is not None:
            where.append(f"turn {self.turn}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigError(ConvtestError):
    """Target configuration (convtest.yaml / [tool.convtest]) is invalid or incomplete."""


class PluginError(ConvtestError):
    """A registered plugin (entry point) cannot be used: it fails to import, is of the wrong
    type, or two distributions claim the same name."""


class GoldenError(ConvtestError):
    """A golden transcript file cannot be read (not convtest's YAML) or written (disk, permissions)."""


class TemplateRenderError(ConvtestError):
    """A Jinja2 template in a turn could not be rendered (unset env var, failing filter...)."""


class TargetError(ConvtestError):
    """The target misbehaved during a turn.

    ``transcript`` keeps whatever arrived before the fault, so nothing is lost in the report.
    ``retryable`` is true only when nothing of the response body had arrived yet, so sending the
    turn again cannot duplicate anything the bot already did; the class sets the default and an
    adapter that knows better passes ``retryable=``.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        target: str = "",
        transcript: TurnTranscript | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.message = message
        self.target = target
        self.transcript = transcript
        if retryable is not None:
            self.retryable = retryable
        super().__init__(message)

    def __str__(self) -> str:
        return f"target {self.target!r}: {self.message}" if self.target else self.message


class ConnectError(TargetError):
    """The target could not be reached (refused, DNS, TLS)."""

    retryable = True


class TimeoutError(TargetError):
    """A named timeout fired: ``kind`` is connect, first_byte, first_token, idle or total."""

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        target: str = "",
        transcript: TurnTranscript | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.kind = kind
        super().__init__(message, target=target, transcript=transcript, retryable=retryable)


class HTTPStatusError(TargetError):
    """The target answered with a non-2xx status; the body is kept for the message.

    ``retry_after`` is the server's ``Retry-After`` in seconds (an HTTP date is converted), for a
    retry layer to honour; None when the header is absent or unreadable.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: str,
        target: str = "",
        transcript: TurnTranscript | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.retry_after = retry_after
        super().__init__(message, target=target, transcript=transcript)

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status in (429, 502, 503, 504)


class ProtocolError(TargetError):
    """The response is not a valid UI message stream (content type, malformed event)."""


class StreamCutError(TargetError):
    """The stream ended before ``data: [DONE]``."""
