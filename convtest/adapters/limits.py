"""Politeness toward a target: a request rate, and retries of faults that happened before the
stream started.

It wraps any adapter, so the transports stay ignorant of it; a stream that already delivered
events is never retried (its ``TargetError`` is not ``retryable``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from convtest.adapters.base import Adapter, TurnRequest
from convtest.exceptions import TargetError
from convtest.targets import RetryPolicy
from convtest.transcript import TurnTranscript

__all__ = ["RateLimiter", "RetryPolicy", "RetryingAdapter"]


class RateLimiter:
    """Spaces request starts at least ``1 / requests_per_second`` apart, across all the
    conversations talking to one target."""

    def __init__(
        self,
        requests_per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()
        self._clock = clock
        self._sleep = sleep

    async def wait(self) -> None:
        if not self._interval:
            return
        async with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            await self._sleep(start - now)


class RetryingAdapter:
    """An adapter that waits for its turn under the target's rate and retries early faults."""

    def __init__(
        self,
        inner: Adapter,
        *,
        limiter: RateLimiter,
        policy: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self._limiter = limiter
        self._policy = policy
        self._sleep = sleep
        self._jitter = jitter

    async def send_turn(self, request: TurnRequest) -> TurnTranscript:
        retries: list[str] = []
        for attempt in range(self._policy.max + 1):
            await self._limiter.wait()
            try:
                transcript = await self.inner.send_turn(request)
            except TargetError as error:
                if not error.retryable or attempt == self._policy.max:
                    _attach(error, request, retries)
                    raise
                delay = self._policy.delay(error, attempt, self._jitter())
                retries.append(f"attempt {attempt + 1}: {error.message} — retried after {delay:.2f} s")
                await self._sleep(delay)
            else:
                transcript.retries = retries
                return transcript
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def aclose(self) -> None:
        await self.inner.aclose()


def _attach(error: TargetError, request: TurnRequest, retries: list[str]) -> None:
    """Keep the retry history on the error's transcript, so the failure text shows it."""
    if not retries:
        return
    if error.transcript is None:
        error.transcript = TurnTranscript(user=request.query)
    error.transcript.retries = retries
