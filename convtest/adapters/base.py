"""The public adapter API: the protocol every target adapter implements, and how one registers.

An adapter turns one user message into one :class:`~convtest.transcript.TurnTranscript`. It
owns the transport (HTTP client, auth, stream decoding) and nothing else: templating, checks and
session bookkeeping belong to the runner, so adding an adapter never touches the runner.

A kind of adapter is an :class:`AdapterKind` that a package registers under the entry-point
group ``convtest.adapters`` (the built-in ``robofy`` does too); docs/writing-adapters.md shows a
whole third-party one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from convtest.adapters.options import TargetOptions
from convtest.targets import Target
from convtest.transcript import Exchange, TurnTranscript

if TYPE_CHECKING:
    import httpx

__all__ = ["ENTRY_POINT_GROUP", "Adapter", "AdapterKind", "Exchange", "TurnRequest"]

#: the entry-point group an adapter package registers its :class:`AdapterKind` in
ENTRY_POINT_GROUP = "convtest.adapters"


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
    #: the earlier turns of this conversation, oldest first: what a stateless API (one that
    #: keeps no session, like OpenAI's chat completions) must be sent again with every turn
    history: tuple[Exchange, ...] = ()


class Adapter(Protocol):
    """Send one turn and return its transcript; raise a ``TargetError`` on a transport fault.

    A ``TargetError`` carries the partial transcript, so nothing that arrived is lost. One
    adapter serves one conversation at a time, and is reused for the next one.
    """

    #: the target's name, shown in verdicts and reports
    name: str

    async def send_turn(self, request: TurnRequest) -> TurnTranscript: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class AdapterKind:
    """One kind of adapter, as a package registers it (entry-point name = :attr:`name`).

    convtest checks a target's keys against the common ones plus :attr:`options`, calls
    :attr:`configure` when the target is resolved, and :attr:`create` for every conversation slot.
    """

    #: the value of a target's ``adapter:`` key
    name: str
    #: the adapter of one target over one HTTP client (an in-process adapter may ignore it);
    #: ``target.settings`` is what :attr:`configure` returned
    create: Callable[[Target, httpx.AsyncClient], Adapter]
    #: the target keys this adapter reads beyond the common ones (``base_url``, ``token``...)
    options: Collection[str] = frozenset()
    #: reads the options into this adapter's settings (stored as ``Target.settings``) and raises
    #: ``ConfigError`` (``options.error(...)``) for a bad one; None: the adapter has no settings
    configure: Callable[[TargetOptions], object] | None = None

    def __post_init__(self) -> None:
        # a lone string is one option, not its letters
        options = (self.options,) if isinstance(self.options, str) else self.options
        object.__setattr__(self, "options", frozenset(options))
