"""The one small protocol every target adapter implements.

An adapter turns one user message into one :class:`~convtest.transcript.TurnTranscript`. It
owns the transport (HTTP client, auth, stream decoding) and nothing else: templating, checks and
session bookkeeping belong to the runner, so adding an adapter never touches the runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from convtest.transcript import TurnTranscript

__all__ = ["Adapter", "TurnRequest"]


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """What the runner asks an adapter to send for one turn."""

    query: str
    #: the session to continue; None on the first turn, so the target issues one
    session_id: str | None
    platform: str = "web"
    #: extra fields merged into ``user_context``
    user_context: dict[str, Any] = field(default_factory=dict)
    #: this turn's overrides of the target's timeouts, in seconds by kind (``idle``, ``total``...)
    timeouts: Mapping[str, float] = field(default_factory=dict)


class Adapter(Protocol):
    """Send one turn and return its transcript; raise a ``TargetError`` on a transport fault.

    A ``TargetError`` carries the partial transcript, so nothing that arrived is lost.
    """

    name: str

    async def send_turn(self, request: TurnRequest) -> TurnTranscript: ...

    async def aclose(self) -> None: ...
