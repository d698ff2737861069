"""Conversations in flight at once, over real HTTP: the bounds hold, turns stay in order, and
Ctrl-C and closing the session cancel what is still running."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from convtest.config import load_config
from convtest.exceptions import ConvtestError
from convtest.report.text import format_failure
from convtest.session import RunSession
from convtest.suite import load_suite_text


class CountingServer:
    """Answers every turn after ``delay`` seconds with a one-line reply echoing the query, and
    counts how many requests it holds at once. Sets a cookie naming the conversation and notes
    the cookie each request brings. Runs its own loop in a thread."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals: list[float] = []
        self.queries: list[tuple[str | None, str]] = []
        self.cookies: dict[str, str | None] = {}
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> CountingServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _close(self) -> None:
        self._server.close()
        handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def _serve(self) -> None:
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = dict(
                    line.decode().lower().split(":", 1) for line in head.split(b"\r\n")[1:] if b":" in line
                )
                body = json.loads(await reader.readexactly(int(headers["content-length"])))
                self.cookies[str(body["query"])] = headers["cookie"].strip() if "cookie" in headers else None
                await self._answer(body, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def _answer(self, body: dict[str, object], writer: asyncio.StreamWriter) -> None:
        self.arrivals.append(time.monotonic())
        context = body["user_context"]
        assert isinstance(context, dict)
        session, query = context.get("session_id"), str(body["query"])
        self.queries.append((session, query))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.delay)
        self.in_flight -= 1
        events = [
            {"type": "start", "messageId": "m"},
            {"type": "text-delta", "id": "0", "delta": f"echo {query}"},
            {"type": "finish", "finishReason": "stop"},
            {"type": "data-session", "data": session or f"s-{query.split()[0]}"},
        ]
        payload = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        data = payload.encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nset-cookie: visitor=%s\r\n"
            b"content-length: %d\r\n\r\n%s" % (query.split()[0].encode(), len(data), data)
        )
        await writer.drain()


def suite_of(conversations: int, turns: int) -> str:
    lines = ["conversations:"]
    for c in range(conversations):
        lines += [f"  - name: c{c}", "    turns:"]
        lines += [
            f"      - {{user: 'c{c} turn {t}', expect: {{text: {{equals: 'echo c{c} turn {t}'}}}}}}"
            for t in range(turns)
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def config_for(tmp_path: Path) -> Iterator[object]:
    def make(port: int, limits: str = "") -> object:
        (tmp_path / "convtest.yaml").write_text(
            f"default_target: counting\ntargets:\n  counting:\n    base_url: http://127.0.0.1:{port}\n{limits}"
        )
        return load_config(tmp_path)

    yield make


def run_all(config: object, concurrency: int, conversations: int = 8, turns: int = 2) -> list[bool]:
    suite = load_suite_text(suite_of(conversations, turns), "suite.yaml")
    with RunSession(config, concurrency=concurrency) as session:  # type: ignore[arg-type]
        futures = [session.submit(c) for c in suite.conversations]
        results = [session.result(future) for future in futures]
    failures = [format_failure(result) for result in results if not result.passed]
    assert not failures, "\n\n".join(failures)  # what went wrong, not only that something did
    return [result.passed for result in results]


def test_concurrency_bounds_conversations_in_flight_and_keeps_turns_in_order(config_for) -> None:  # type: ignore[no-untyped-def]
    with CountingServer(delay=0.05) as server:
        assert run_all(config_for(server.port), concurrency=4) == [True] * 8
    assert server.max_in_flight == 4
    for c in range(8):  # each conversation's turns arrived in order, on its own session
        turns = [(s, q) for s, q in server.queries if q.startswith(f"c{c} ")]
        assert [q for _, q in turns] == [f"c{c} turn 0", f"c{c} turn 1"]
        assert turns[0][0] is None and turns[1][0] == f"s-c{c}"


def test_a_target_limit_caps_in_flight_below_the_run_concurrency(config_for) -> None:  # type: ignore[no-untyped-def]
    with CountingServer(delay=0.05) as server:
        config = config_for(server.port, "    limits: {max_in_flight: 2}\n")
        assert all(run_all(config, concurrency=8))
    assert server.max_in_flight == 2


def test_sequential_by_default(config_for) -> None:  # type: ignore[no-untyped-def]
    with CountingServer(delay=0.01) as server:
        assert all(run_all(config_for(server.port), concurrency=1, conversations=4))
    assert server.max_in_flight == 1


def test_cookies_last_one_conversation_not_the_next_on_the_same_client(config_for) -> None:  # type: ignore[no-untyped-def]
    with CountingServer(delay=0.0) as server:
        assert all(run_all(config_for(server.port), concurrency=1, conversations=2, turns=2))
    assert server.cookies == {
        "c0 turn 0": None,
        "c0 turn 1": "visitor=c0",
        "c1 turn 0": None,  # the same client, a new conversation: no cookie from c0
        "c1 turn 1": "visitor=c1",
    }


def test_a_conversation_granted_its_slot_as_the_loop_stops_times_only_its_own_turns(config_for) -> None:  # type: ignore[no-untyped-def]
    with CountingServer(delay=0.0) as server:
        suite = load_suite_text(suite_of(2, 1), "suite.yaml")
        with RunSession(config_for(server.port), concurrency=1) as session:  # type: ignore[arg-type]
            first, second = (session.submit(c) for c in suite.conversations)
            session.result(first)
            time.sleep(0.3)  # the caller is busy between results, as pytest is between items
            result = session.result(second)
    timings = result.turns[0].transcript.timings  # type: ignore[union-attr]
    assert timings.total_ms is not None and timings.total_ms < 250


def test_requests_per_second_spaces_request_starts(config_for) -> None:  # type: ignore[no-untyped-def]
    with CountingServer(delay=0.0) as server:
        config = config_for(server.port, "    limits: {requests_per_second: 25}\n")
        assert all(run_all(config, concurrency=4, conversations=4, turns=2))
    arrivals = sorted(server.arrivals)
    gaps = sorted(b - a for a, b in itertools.pairwise(arrivals))
    assert len(gaps) == 7
    # starts are spaced 40 ms apart; a first connection's set-up may bunch one pair on the wire
    assert gaps[1] >= 0.03, gaps
    assert arrivals[-1] - arrivals[0] >= 6 * 0.04, gaps


@pytest.mark.parametrize("concurrency", [1, 4], ids=["blocking transport", "asyncio streams"])
def test_ctrl_c_stops_the_wait_and_closing_cancels_what_is_in_flight(config_for, concurrency: int) -> None:  # type: ignore[no-untyped-def]
    with CountingServer(delay=30.0) as server:
        suite = load_suite_text(suite_of(4, 1), "suite.yaml")
        session = RunSession(config_for(server.port), concurrency=concurrency)  # type: ignore[arg-type]
        futures = [session.submit(c) for c in suite.conversations]

        def press_ctrl_c() -> None:
            while server.in_flight < concurrency:
                time.sleep(0.01)
            # a real SIGINT, as a terminal sends: it wakes the loop out of its wait for sockets
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            session.result(futures[0])
        started = time.monotonic()
        session.close()
        assert time.monotonic() - started < 5
        # none finished: each was cancelled, or ended by the interrupt itself if it was running
        # Python code (not waiting for its socket) the moment the signal arrived
        assert all(
            future.cancelled() or isinstance(future.exception(), KeyboardInterrupt) for future in futures
        )
        session.close()  # twice is harmless


def test_calling_from_a_running_event_loop_is_a_clear_error(config_for) -> None:  # type: ignore[no-untyped-def]
    suite = load_suite_text(suite_of(1, 1), "suite.yaml")

    async def inside_a_loop() -> None:
        with RunSession(config_for(1)) as session:  # type: ignore[arg-type]
            session.run(suite.conversations[0])

    with pytest.raises(ConvtestError, match=r"asyncio\.to_thread"):
        asyncio.run(inside_a_loop())
