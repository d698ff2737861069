"""The model of a target: which chatbot API to talk to, and how.

Loaded from ``convtest.yaml`` / ``[tool.convtest]`` by :mod:`convtest.config`; the built-in
``reference`` target points at the embedded reference agent once it is started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from convtest.exceptions import Location

__all__ = [
    "CHAT_PATH",
    "REFERENCE_TARGET",
    "STREAM_PATH",
    "TIMEOUT_KINDS",
    "Handshake",
    "ResponseFields",
    "RetryPolicy",
    "Target",
    "Timeouts",
]

REFERENCE_TARGET = "reference"
#: the Robofy endpoints "Send Message (Streaming)" and "Send Message (Non Streaming)"
STREAM_PATH = "/v1/ai-agent/chat/stream"
CHAT_PATH = "/v1/ai-agent/chat"
#: every timeout a target or a turn may set, in the order a turn meets them
TIMEOUT_KINDS = ("connect", "first_byte", "first_token", "idle", "total")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds; each names itself in the error when it fires."""

    #: establishing the TCP/TLS connection
    connect: float = 10.0
    #: from sending the request to the first byte of the response
    first_byte: float = 30.0
    #: from sending the request to the first text delta (``start`` and tool chunks come earlier);
    #: None: no limit of its own, idle and total still apply
    first_token: float | None = None
    #: longest silence between two chunks once the stream has started
    idle: float = 30.0
    #: the whole turn, from request to ``[DONE]``
    total: float = 120.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a fault that happened before any event arrived."""

    #: retries after the first attempt; 0 disables retrying
    max: int = 0
    #: first backoff in seconds, doubled per attempt, with ±50 % jitter
    backoff: float = 0.5
    #: no wait is longer than this, whatever Retry-After or the backoff say
    max_delay: float = 30.0

    def delay(self, error: Exception, attempt: int, jitter: float) -> float:
        """``Retry-After`` when the server sent one, else exponential backoff with jitter."""
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float):
            return min(max(float(retry_after), 0.0), self.max_delay)
        return min(self.backoff * (2.0**attempt) * (0.5 + jitter), self.max_delay)


@dataclass(frozen=True, slots=True)
class Handshake:
    """Client-token auth: a request made before the first turn whose JSON answer holds a token.

    The token (at the dotted ``token_path``) is sent as ``Authorization: Bearer ...`` with every
    turn, and obtained again, once, when a turn is answered 401.
    """

    url: str
    method: str = "POST"
    #: the JSON body; None sends ``{"pid": ..., "chatbot_id": ...}`` of the target
    body: Mapping[str, Any] | None = None
    token_path: str = "token"


@dataclass(frozen=True, slots=True)
class ResponseFields:
    """Dotted paths into a non-streaming JSON answer (``items.0.text``: numbers index lists).

    The ``tool_*`` paths are relative to one item of the ``tool_calls`` list.
    """

    text: str = "text"
    session_id: str = "session_id"
    message_id: str = "message_id"
    finish_reason: str = "finish_reason"
    #: model steps (a tool step, then a text step...): a stream counts them, an answer must say
    steps: str = "steps"
    error: str = "error"
    tool_calls: str = "tool_calls"
    tool_id: str = "id"
    tool_name: str = "name"
    tool_input: str = "input"
    tool_output: str = "output"
    tool_error: str = "error"


@dataclass(frozen=True, slots=True)
class Target:
    """A chatbot endpoint and the identifiers the Robofy API needs in every request."""

    name: str
    adapter: str = "robofy"
    base_url: str = ""
    #: None: the Robofy endpoint for ``stream`` (see :attr:`endpoint_path`)
    path: str | None = None
    #: False: one JSON answer per turn from the non-streaming endpoint, read with ``response_fields``
    stream: bool = True
    response_fields: ResponseFields = field(default_factory=ResponseFields)
    #: None: ``token`` (if any) is the bearer token of every turn
    handshake: Handshake | None = None
    token: str | None = None
    pid: str = ""
    chatbot_id: str = ""
    platform: str = "web"
    headers: Mapping[str, str] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    #: where the target was defined, for error messages; None for the built-in one
    location: Location | None = None
    #: names of the environment variables the token came from, to say which to fix on a 401
    token_env: tuple[str, ...] = ()
    #: values that must never be written to a report or golden (token, secret env values)
    secrets: tuple[str, ...] = ()
    #: conversations in flight at once against this target (each has one request in flight)
    max_in_flight: int | None = None
    #: request starts per second against this target
    requests_per_second: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def endpoint_path(self) -> str:
        """``path``, or the streaming / non-streaming chat endpoint, as ``stream`` says."""
        return self.path or (STREAM_PATH if self.stream else CHAT_PATH)
