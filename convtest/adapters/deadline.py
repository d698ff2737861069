"""Deadlines that hold whichever transport carries the turn.

An asyncio timeout fires when the event loop gets control back. Under the blocking transport
(:mod:`convtest.adapters.transport`, used when one conversation runs at a time) a socket wait
does not give it back, so every deadline is also published here, per task, and a blocking wait
never lasts past the earliest one in force: it then hands control to the loop, whose timeout
fires as it would have over asyncio streams.
"""

from __future__ import annotations

import asyncio
import math
from contextvars import ContextVar, Token
from types import TracebackType

__all__ = ["Deadline", "deadline_in", "earliest_deadline"]

_EARLIEST: ContextVar[float] = ContextVar("convtest_earliest_deadline", default=math.inf)


def earliest_deadline() -> float:
    """The earliest deadline in force in this task, on the event loop's clock; inf if none."""
    return _EARLIEST.get()


class Deadline:
    """``asyncio.timeout_at(when)`` that also publishes ``when`` for blocking socket waits."""

    __slots__ = ("_outer", "_timeout", "_token")

    def __init__(self, when: float) -> None:
        self._timeout = asyncio.timeout_at(when)
        self._outer = math.inf
        self._token: Token[float] | None = None

    async def __aenter__(self) -> Deadline:
        self._outer = _EARLIEST.get()
        self._token = _EARLIEST.set(min(self._outer, self._when()))
        await self._timeout.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _EARLIEST.reset(self._token)
        await self._timeout.__aexit__(exc_type, exc, tb)

    def reschedule(self, when: float) -> None:
        """Move the deadline, as :meth:`asyncio.Timeout.reschedule` does."""
        self._timeout.reschedule(when)
        if self._token is not None:
            _EARLIEST.set(min(self._outer, when))

    def expired(self) -> bool:
        return self._timeout.expired()

    def _when(self) -> float:
        when = self._timeout.when()
        return math.inf if when is None else when


def deadline_in(seconds: float) -> Deadline:
    """``asyncio.timeout(seconds)`` as a :class:`Deadline`."""
    return Deadline(asyncio.get_running_loop().time() + seconds)
