"""The model of a target: which chatbot API to talk to, and how.

Loaded from ``convtest.yaml`` / ``[tool.convtest]`` by :mod:`convtest.config`; the built-in
``reference`` target points at the embedded reference agent once it is started, and the
built-in ``reference-openai`` at the same agent's OpenAI-compatible chat completions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from convtest.exceptions import Location

__all__ = [
    "REFERENCE_OPENAI_TARGET",
    "REFERENCE_TARGET",
    "REFERENCE_TARGETS",
    "TIMEOUT_KINDS",
    "RetryPolicy",
    "Target",
    "Timeouts",
]

REFERENCE_TARGET = "reference"
#: the reference agent through ``adapter: openai``
REFERENCE_OPENAI_TARGET = "reference-openai"
#: the built-in targets, served by the embedded reference agent
REFERENCE_TARGETS = (REFERENCE_TARGET, REFERENCE_OPENAI_TARGET)
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
class Target:
    """A chatbot endpoint: what every target has, whatever its adapter, plus the adapter's own
    settings (:attr:`settings`, parsed from its declared options by its ``configure`` hook)."""

    name: str
    adapter: str = "robofy"
    #: "" when not given (an in-process adapter needs none); else http(s), without trailing slash
    base_url: str = ""
    token: str | None = None
    platform: str = "web"
    headers: Mapping[str, str] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    #: the adapter's own settings (e.g. ``RobofySettings``); None when it has none
    settings: object = None
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
    #: the largest event of a stream (its lines' bytes); past it the turn ends with a verdict
    max_event_bytes: int = 1024 * 1024
    #: the largest body of a turn, counted once decoded (a gzip body expands before it counts)
    max_turn_bytes: int = 16 * 1024 * 1024
    #: the most events one turn's stream may send
    max_events: int = 100_000
    retry: RetryPolicy = field(default_factory=RetryPolicy)
