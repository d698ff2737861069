"""Deadlines published for the blocking transport: the earliest one in force, per task."""

from __future__ import annotations

import asyncio
import math

import pytest

from convtest.adapters.deadline import Deadline, deadline_in, earliest_deadline
from convtest.adapters.transport import _sync_trace


def test_the_earliest_of_nested_deadlines_is_published_and_restored_on_exit() -> None:
    async def main() -> list[float]:
        now = asyncio.get_running_loop().time()
        seen = [earliest_deadline()]
        async with Deadline(now + 10) as outer:
            seen.append(earliest_deadline())
            async with Deadline(now + 20):  # later than the outer one: the outer still rules
                seen.append(earliest_deadline())
            async with Deadline(now + 5):
                seen.append(earliest_deadline())
            outer.reschedule(now + 3)
            seen.append(earliest_deadline())
        seen.append(earliest_deadline())
        return [value - now for value in seen]

    assert asyncio.run(main()) == [math.inf, 10, 10, 5, 3, math.inf]


def test_a_deadline_fires_as_asyncio_timeout_does_and_is_gone_after_it() -> None:
    async def other_task() -> float:
        return earliest_deadline()

    async def main() -> tuple[bool, float]:
        deadline = deadline_in(0.05)
        with pytest.raises(TimeoutError):
            async with deadline:
                assert await asyncio.create_task(other_task()) < math.inf  # a copy of the context
                await asyncio.sleep(1)
        return deadline.expired(), earliest_deadline()

    assert asyncio.run(main()) == (True, math.inf)


def test_a_trace_hook_that_awaits_cannot_run_under_the_blocking_transport() -> None:
    calls: list[str] = []

    async def quiet(name: str, info: dict[str, object]) -> None:
        calls.append(name)

    async def waits(name: str, info: dict[str, object]) -> None:
        await asyncio.sleep(0)

    _sync_trace(quiet)("connection.connect_tcp.started", {})
    assert calls == ["connection.connect_tcp.started"]
    with pytest.raises(RuntimeError, match="cannot run in blocking mode"):
        _sync_trace(waits)("connection.connect_tcp.started", {})
