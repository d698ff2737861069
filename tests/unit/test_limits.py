"""Retries of early faults and request spacing, with a fake transport and a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from convtest.adapters.base import TurnRequest
from convtest.adapters.fake import FakeAdapter
from convtest.adapters.limits import RateLimiter, RetryingAdapter
from convtest.exceptions import ConnectError, HTTPStatusError, StreamCutError, TargetError
from convtest.targets import RetryPolicy
from convtest.transcript import TurnTranscript

REQUEST = TurnRequest(query="hello", session_id=None)


def busy(retry_after: float | None = None) -> HTTPStatusError:
    error = HTTPStatusError("HTTP 429 Too Many Requests", status=429, body="{}")
    error.retry_after = retry_after  # type: ignore[attr-defined]
    return error


def retrying(
    responses: list[TurnTranscript | TargetError], policy: RetryPolicy
) -> tuple[RetryingAdapter, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    adapter = RetryingAdapter(
        FakeAdapter(responses), limiter=RateLimiter(None), policy=policy, sleep=sleep, jitter=lambda: 0.5
    )
    return adapter, slept


def test_a_429_is_retried_after_its_retry_after_and_the_retry_is_recorded() -> None:
    adapter, slept = retrying([busy(retry_after=2.0), TurnTranscript(text_blocks=["hi"])], RetryPolicy(max=2))
    transcript = asyncio.run(adapter.send_turn(REQUEST))
    assert transcript.text == "hi"
    assert slept == [2.0]
    assert transcript.retries == ["attempt 1: HTTP 429 Too Many Requests — retried after 2.00 s"]


def test_without_retry_after_the_backoff_doubles_per_attempt() -> None:
    refused = ConnectError("connection refused")
    adapter, slept = retrying([refused, refused, refused, TurnTranscript()], RetryPolicy(max=3, backoff=0.5))
    asyncio.run(adapter.send_turn(REQUEST))
    assert slept == [0.5, 1.0, 2.0]  # jitter 0.5 is the middle of the ±50 % band


def test_retry_after_and_backoff_never_exceed_max_delay() -> None:
    adapter, slept = retrying([busy(retry_after=600), TurnTranscript()], RetryPolicy(max=1, max_delay=3))
    asyncio.run(adapter.send_turn(REQUEST))
    assert slept == [3]


def test_when_retries_run_out_the_error_carries_the_history() -> None:
    adapter, slept = retrying([busy(), busy(), busy()], RetryPolicy(max=2, backoff=0.1))
    with pytest.raises(HTTPStatusError) as caught:
        asyncio.run(adapter.send_turn(REQUEST))
    assert caught.value.transcript is not None
    assert len(caught.value.transcript.retries) == 2
    assert caught.value.transcript.user == "hello"
    assert len(slept) == 2


def test_a_stream_that_already_delivered_events_is_never_retried() -> None:
    cut = StreamCutError("stream ended before [DONE]", transcript=TurnTranscript(text_blocks=["Hel"]))
    adapter, slept = retrying([cut, TurnTranscript()], RetryPolicy(max=3))
    with pytest.raises(StreamCutError):
        asyncio.run(adapter.send_turn(REQUEST))
    assert slept == []


def test_retrying_is_off_by_default() -> None:
    adapter, slept = retrying([busy(retry_after=1), TurnTranscript()], RetryPolicy())
    with pytest.raises(HTTPStatusError):
        asyncio.run(adapter.send_turn(REQUEST))
    assert slept == []


def test_rate_limiter_spaces_request_starts() -> None:
    """Five requests at once at 20 per second: each waits 50 ms more than the one before (a
    fake clock: scheduling, not the machine's load, is what is checked)."""
    now = 100.0
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def starts() -> None:
        limiter = RateLimiter(requests_per_second=20, clock=lambda: now, sleep=sleep)
        await asyncio.gather(*(limiter.wait() for _ in range(5)))

    asyncio.run(starts())
    assert waits == pytest.approx([0.05, 0.10, 0.15, 0.20])  # the first starts at once
