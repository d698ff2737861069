"""The model of a target: which chatbot API to talk to, and how.

Loaded from ``convtest.yaml`` / ``[tool.convtest]`` by :mod:`convtest.config`; the built-in
``reference`` target points at the embedded reference agent once it is started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from convtest.exceptions import Location

__all__ = ["REFERENCE_TARGET", "Target", "Timeouts"]

REFERENCE_TARGET = "reference"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds; each names itself in the error when it fires."""

    #: establishing the TCP/TLS connection
    connect: float = 10.0
    #: from sending the request to the first byte of the response
    first_byte: float = 30.0
    #: longest silence between two chunks once the stream has started
    idle: float = 30.0
    #: the whole turn, from request to ``[DONE]``
    total: float = 120.0


@dataclass(frozen=True, slots=True)
class Target:
    """A chatbot endpoint and the identifiers the Robofy API needs in every request."""

    name: str
    adapter: str = "robofy"
    base_url: str = ""
    path: str = "/v1/ai-agent/chat/stream"
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
