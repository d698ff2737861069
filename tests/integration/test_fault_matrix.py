"""Every fault a chat server can commit, over real HTTP against the reference agent: each ends in
a clear verdict (the failure text a user reads) within its timeout, never in a hang or a pass.

Each case runs a one-turn conversation through the runner, with the fault asked for in the
message (``[[fault:...]]``) and the turn's own ``timeouts``, so per-turn timeouts are exercised
end to end as well.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from convtest.adapters import create_adapter
from convtest.adapters.robofy_settings import RobofySettings
from convtest.adapters.transport import new_client
from convtest.exceptions import ConnectError, HTTPStatusError, ProtocolError, StreamCutError, TimeoutError
from convtest.report.text import format_failure
from convtest.runner import ConversationResult, run_conversation
from convtest.server import ReferenceServer
from convtest.suite import load_suite_text
from convtest.targets import Target, Timeouts

#: what a run may take beyond the timeout that ends it (event loop, sockets, a loaded machine)
MARGIN = 0.75
#: generous limits for the faults that are not about time: they must not be the ones that fire
CALM = {"connect": 2, "first_byte": 3, "idle": 3, "total": 5}


@dataclass(frozen=True)
class Case:
    """One fault: what to send, which limits apply, and the verdict it must end in."""

    id: str
    user: str = "hi"
    timeouts: dict[str, float] = field(default_factory=lambda: dict(CALM))
    #: changes to the target (base_url, token, path...); "{url}" and "{port}" are filled in
    target: dict[str, Any] = field(default_factory=dict)
    verdict: tuple[str, ...] = ()
    error: type[Exception] | None = None
    kind: str | None = None
    retryable: bool | None = None
    #: the run must end within this many seconds (plus MARGIN)
    within: float = 1.0

    def __str__(self) -> str:
        return self.id


def quick(**limits: float) -> dict[str, float]:
    return {**CALM, **limits}


JSON = {"stream": False}
#: the same faults against the non-streaming endpoint, which answers one JSON document
JSON_CASES = [
    Case(
        "json: 503",
        user="[[fault:status:503]] hi",
        target=JSON,
        verdict=("HTTP 503 from http://127.0.0.1:", "/v1/ai-agent/chat; server says: 'Simulated failure"),
        error=HTTPStatusError,
        retryable=True,
    ),
    Case(
        "json: html instead of json",
        user="[[fault:non-sse]] hi",
        target=JSON,
        verdict=("expected application/json from", "got content type 'text/html; charset=utf-8'"),
        error=ProtocolError,
    ),
    Case(
        "json: answer cut in half",
        user="[[fault:cut]] hi",
        target=JSON,
        verdict=("bad answer from", "/v1/ai-agent/chat: the answer is not valid JSON"),
        error=ProtocolError,
    ),
    Case(
        "json: stall mid-answer",
        user="[[fault:stall:5000]] hi",
        target=JSON,
        timeouts=quick(idle=0.3),
        verdict=("no data for 0.3 s (idle timeout)", "after ", "bytes of the answer"),
        error=TimeoutError,
        kind="idle",
        retryable=False,
        within=0.3,
    ),
    Case(
        "json: slow model",
        user="[[fault:slow-first-token:5000]] hi",
        target=JSON,
        timeouts=quick(first_token=0.3),
        verdict=("no text from", "within 0.3 s (first_token timeout)"),
        error=TimeoutError,
        kind="first_token",
        retryable=True,
        within=0.3,
    ),
    Case(
        "json: error in the answer",
        user="[[fault:error-chunk]] hi",
        target=JSON,
        verdict=('but error chunks were ["Simulated model failure"]',),
    ),
]

CASES = [
    Case(
        "connection refused",
        target={"base_url": "http://127.0.0.1:{closed_port}"},
        verdict=("cannot connect to http://127.0.0.1:", "/v1/ai-agent/chat/stream: connection refused"),
        error=ConnectError,
        retryable=True,
    ),
    Case(
        "dns failure",
        target={"base_url": "http://convtest-no-such-host.invalid"},
        timeouts=quick(connect=1),
        verdict=("cannot connect to http://convtest-no-such-host.invalid/", "cannot resolve the host name"),
        error=ConnectError,
        retryable=True,
        within=1.0,
    ),
    Case(
        "connect timeout",
        target={"base_url": "http://127.0.0.1:{unaccepting_port}"},
        timeouts=quick(connect=0.3),
        verdict=("within 0.3 s (connect timeout)",),
        error=TimeoutError,
        kind="connect",
        retryable=True,
        within=0.3,
    ),
    Case(
        "tls to a plain http server",
        target={"base_url": "https://127.0.0.1:{port}"},
        verdict=("cannot connect to https://127.0.0.1:", "TLS handshake failed"),
        error=ConnectError,
        retryable=True,
    ),
    Case(
        "400 bad request",
        user="[[fault:status:400]] hi",
        verdict=("HTTP 400 from", "server says: 'Simulated failure (fault status:400).'"),
        error=HTTPStatusError,
        retryable=False,
    ),
    Case(
        "401 rejected token",
        target={"token": "wrong-token"},
        verdict=(
            "HTTP 401 from",
            "the token was rejected (it is set in the target's configuration)",
            "server says: 'Authentication token is missing or invalid.'",
        ),
        error=HTTPStatusError,
        retryable=False,
    ),
    Case(
        "403 forbidden",
        user="[[fault:status:403]] hi",
        verdict=("HTTP 403 from", "server says: 'Simulated failure (fault status:403).'"),
        error=HTTPStatusError,
    ),
    Case(
        "404 wrong path",
        target={"path": "/v1/ai-agent/chat/strem"},
        verdict=("HTTP 404 from http://127.0.0.1:", "/v1/ai-agent/chat/strem; server says: 'Not Found'"),
        error=HTTPStatusError,
    ),
    Case(
        "429 rate limited",
        user="[[fault:status:429]] hi",
        verdict=("HTTP 429 from", "Retry-After: 1", "server says: 'Simulated failure (fault status:429).'"),
        error=HTTPStatusError,
        retryable=True,
    ),
    *(
        Case(
            f"{status} server error",
            user=f"[[fault:status:{status}]] hi",
            verdict=(f"HTTP {status} from", f"server says: 'Simulated failure (fault status:{status}).'"),
            error=HTTPStatusError,
            retryable=status != 500,
        )
        for status in (500, 502, 503)
    ),
    Case(
        "html instead of an event stream",
        user="[[fault:non-sse]] hi",
        verdict=(
            "expected text/event-stream from",
            "'text/html; charset=utf-8'",
            "body starts: '<!DOCTYPE html>",
        ),
        error=ProtocolError,
    ),
    Case(
        "malformed json in one event",
        user="[[fault:malformed]] hi",
        verdict=("bad event stream from", "event 5 is not valid JSON", "oops"),
        error=ProtocolError,
        retryable=False,
    ),
    Case(
        "cut before done",
        user="[[fault:cut]] hi",
        verdict=("ended before [DONE] after 4 events", "text so far: 'Hello! How'", "bot:  Hello! How"),
        error=StreamCutError,
        retryable=False,
    ),
    Case(
        "no done, connection closed",
        user="[[fault:no-done]] hi",
        verdict=("ended before [DONE] after 11 events", "text so far: 'Hello! How can I help you today?'"),
        error=StreamCutError,
    ),
    Case(
        "no done, connection held open",
        user="[[fault:hold-open]] hi",
        timeouts=quick(idle=0.3),
        verdict=("no data for 0.3 s (idle timeout)", "after 11 events", "Hello! How can I help you today?"),
        error=TimeoutError,
        kind="idle",
        retryable=False,
        within=0.3,
    ),
    Case(
        "stall mid-stream",
        user="[[fault:stall:5000]] hi",
        timeouts=quick(idle=0.3),
        verdict=("no data for 0.3 s (idle timeout)", "after 4 events; text so far: 'Hello! How'"),
        error=TimeoutError,
        kind="idle",
        within=0.3,
    ),
    Case(
        "trickle past the total",
        user="[[fault:stall:5000]] hi",
        timeouts=quick(idle=2, total=0.5),
        verdict=("turn not finished within 0.5 s (total timeout)", "text so far: 'Hello! How'"),
        error=TimeoutError,
        kind="total",
        within=0.5,
    ),
    Case(
        "slow first token after a fast start",
        user="[[fault:slow-first-token:5000]] hi",
        timeouts=quick(first_token=0.4),
        verdict=("no text from", "within 0.4 s (first_token timeout) (first byte after", "after 3 events"),
        error=TimeoutError,
        kind="first_token",
        retryable=False,
        within=0.4,
    ),
    Case(
        "server that never answers",
        user="[[fault:silent]] hi",
        timeouts=quick(first_byte=0.3),
        verdict=("no response from", "within 0.3 s of sending (first_byte timeout)"),
        error=TimeoutError,
        kind="first_byte",
        retryable=True,
        within=0.3,
    ),
    Case(
        "error chunk",
        user="[[fault:error-chunk]] hi",
        verdict=(
            "expected no error chunks (set `expect.errors` to expect them)",
            'but error chunks were ["Simulated model failure"]',
            "finish error",
        ),
    ),
    *JSON_CASES,
    Case(
        "abort chunk",
        user="[[fault:abort]] hi",
        verdict=("expected the stream is not aborted", 'an abort chunk arrived (reason "Simulated abort")'),
    ),
]


@pytest.fixture(scope="module")
def unaccepting_port() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops new SYNs, so connecting times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def run_case(
    case: Case, server: ReferenceServer, unaccepting: int, *, blocking: bool = False
) -> tuple[ConversationResult, float]:
    ports = {"port": server.port, "closed_port": closed_port(), "unaccepting_port": unaccepting}
    changes = {
        key: value.format(**ports) if isinstance(value, str) else value for key, value in case.target.items()
    }
    values: dict[str, Any] = {"base_url": server.url, "token": server.token, **changes}
    robofy = {key: values.pop(key) for key in ("path", "stream") if key in values}
    settings = RobofySettings(pid="convtest", chatbot_id="reference", **robofy)
    target = Target(name="reference", timeouts=Timeouts(**CALM), settings=settings, **values)
    suite = load_suite_text(
        "conversations:\n  - name: fault\n    turns:\n"
        f"      - user: {json.dumps(case.user)}\n        timeouts: {json.dumps(case.timeouts)}\n",
        "suites/faults.yaml",
    )

    async def run() -> ConversationResult:
        async with new_client(verify=False, trust_env=False, blocking=blocking) as client:
            return await run_conversation(suite.conversations[0], create_adapter(target, client))

    start = time.monotonic()
    result = asyncio.run(run())
    return result, time.monotonic() - start


@pytest.mark.parametrize("transport", ["asyncio", "blocking"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_fault_ends_in_a_clear_verdict_within_its_timeout(
    case: Case, transport: str, reference_server: ReferenceServer, unaccepting_port: int
) -> None:
    blocking = transport == "blocking"
    result, took = run_case(case, reference_server, unaccepting_port, blocking=blocking)

    assert not result.passed
    verdict = format_failure(result)
    for words in case.verdict:
        assert words in verdict, verdict
    assert took < case.within + MARGIN, f"took {took:.2f} s"
    (turn,) = result.turns
    if case.error is None:
        assert turn.error is None and turn.failures, "a content fault is a failed expectation"
        return
    assert isinstance(turn.error, case.error), turn.error
    assert str(turn.error).startswith("target 'reference': ")
    assert turn.transcript is not None, "every fault carries what arrived before it"
    if case.kind is not None:
        assert isinstance(turn.error, TimeoutError) and turn.error.kind == case.kind
    if case.retryable is not None:
        assert turn.error.retryable is case.retryable


def test_a_cut_stream_keeps_what_arrived_in_the_transcript(
    reference_server: ReferenceServer, unaccepting_port: int
) -> None:
    result, _ = run_case(
        Case("cut", user="where is my order 1234 [[fault:cut]]"), reference_server, unaccepting_port
    )
    (turn,) = result.turns
    assert isinstance(turn.error, StreamCutError)
    transcript = turn.error.transcript
    assert transcript is not None and not transcript.done
    assert [call.name for call in transcript.tool_calls] == ["lookup_order"]
    assert transcript.tool_calls[0].output is not None and transcript.text == "Your order"


def test_a_429_tells_a_retry_layer_when_to_come_back(
    reference_server: ReferenceServer, unaccepting_port: int
) -> None:
    result, _ = run_case(Case("429", user="[[fault:status:429]] hi"), reference_server, unaccepting_port)
    error = result.turns[0].error
    assert isinstance(error, HTTPStatusError)
    assert (error.status, error.retry_after, error.retryable) == (429, 1.0, True)
