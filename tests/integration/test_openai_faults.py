"""Every fault of a Robofy target has its verdict with `adapter: openai` too: a raw server on
127.0.0.1 commits each one byte by byte, over both transports, and the reference agent's chat
completions commit them on request (``[[fault:...]]``), streamed and whole.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from openai_helpers import (
    DONE,
    ROLE,
    answer,
    chunk,
    openai_target,
    plain_settings,
    text_stream,
    tool_stream,
)
from test_robofy_adapter import JSON, Reply, serving

from convtest.adapters import TurnRequest, create_adapter
from convtest.adapters.limits import RateLimiter, RetryingAdapter
from convtest.adapters.transport import new_client
from convtest.exceptions import (
    ConnectError,
    HTTPStatusError,
    ProtocolError,
    StreamCutError,
    TargetError,
    TimeoutError,
)
from convtest.server import ReferenceServer
from convtest.targets import RetryPolicy, Target, Timeouts

pytestmark = pytest.mark.anyio

CALM = Timeouts(connect=2.0, first_byte=3.0, idle=3.0, total=5.0)
HEL = chunk({"content": "Hel"})
ERROR_401 = b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}'


@dataclass(frozen=True)
class Case:
    """A fault: what the server does, the target's limits, and the verdict the turn must end in."""

    id: str
    replies: tuple[Reply, ...] = ()
    error: type[TargetError] = TargetError
    words: tuple[str, ...] = ()
    kind: str | None = None
    retryable: bool | None = None
    timeouts: dict[str, float] = field(default_factory=dict)
    base_url: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    #: what of the answer the error must carry
    text_so_far: str | None = None
    #: the target's size limits (max_event_bytes, max_turn_bytes, max_events)
    limits: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.id


CASES = [
    Case(
        "connection refused",
        base_url="http://127.0.0.1:{closed_port}/v1",
        error=ConnectError,
        words=("cannot connect to http://127.0.0.1:", "/v1/chat/completions: connection refused"),
        retryable=True,
    ),
    Case(
        "connect timeout",
        base_url="http://127.0.0.1:{unaccepting_port}/v1",
        timeouts={"connect": 0.3},
        error=TimeoutError,
        words=("within 0.3 s (connect timeout)",),
        kind="connect",
        retryable=True,
    ),
    Case(
        "401 names the env var",
        replies=(Reply("401 Unauthorized", dict(JSON), [ERROR_401], chunked=False),),
        error=HTTPStatusError,
        words=(
            "HTTP 401 from http://127.0.0.1:",
            "/v1/chat/completions; the token was rejected (it comes from $OPENAI_API_KEY)",
            "server says: 'Incorrect API key provided'",
        ),
        retryable=False,
    ),
    Case(
        "429 rate limited",
        replies=(
            Reply(
                "429 Too Many Requests",
                {**JSON, "Retry-After": "2"},
                [b'{"error": {"message": "slow down"}}'],
            ),
        ),
        error=HTTPStatusError,
        words=("HTTP 429 from", "Retry-After: 2", "server says: 'slow down'"),
        retryable=True,
    ),
    *(
        Case(
            f"{status} server error",
            replies=(Reply(f"{status} Oops", dict(JSON), [b'{"error": {"message": "upstream failed"}}']),),
            error=HTTPStatusError,
            words=(f"HTTP {status} from", "server says: 'upstream failed'"),
            retryable=status != 500,
        )
        for status in (500, 502, 503)
    ),
    Case(
        "html instead of an event stream",
        replies=(Reply(headers={"Content-Type": "text/html"}, parts=[b"<!DOCTYPE html><p>Sign in</p>"]),),
        error=ProtocolError,
        words=("expected text/event-stream from", "'text/html'", "body starts: '<!DOCTYPE html>"),
    ),
    Case(
        "cut stream",
        replies=(Reply(parts=[ROLE + HEL], end="close"),),
        error=StreamCutError,
        words=("/v1/chat/completions ended before [DONE] after 2 chunks", "text so far: 'Hel'"),
        retryable=False,
        text_so_far="Hel",
    ),
    Case(
        "malformed chunk",
        replies=(Reply(parts=[ROLE + HEL + b'data: {"choices": [{"delta": {"content": "oops\n\n']),),
        error=ProtocolError,
        words=("bad event stream from http://127.0.0.1:", "chunk 3 is not valid JSON", "oops"),
        retryable=False,
        text_so_far="Hel",
    ),
    Case(
        "server that never answers",
        replies=(Reply(answer=False),),
        timeouts={"first_byte": 0.3},
        error=TimeoutError,
        words=("no response from", "within 0.3 s of sending (first_byte timeout)"),
        kind="first_byte",
        retryable=True,
    ),
    Case(
        "slow first token",
        replies=(Reply(parts=[ROLE, 5.0, HEL]),),
        timeouts={"first_token": 0.3},
        error=TimeoutError,
        words=("no text from", "within 0.3 s (first_token timeout)", "after 1 chunks"),
        kind="first_token",
        retryable=False,
    ),
    Case(
        "first token across tool rounds",
        replies=(Reply(parts=[tool_stream(("c1", "calc", "{}"))]), Reply(parts=[ROLE, 5.0, HEL])),
        settings={"tool_results": {"calc": 1}},
        timeouts={"first_token": 0.5},
        error=TimeoutError,
        words=("within 0.5 s (first_token timeout)",),
        kind="first_token",
    ),
    Case(
        "stall mid-stream",
        replies=(Reply(parts=[ROLE + HEL, 5.0, text_stream("lo")]),),
        timeouts={"idle": 0.3},
        error=TimeoutError,
        words=("no data for 0.3 s (idle timeout)", "text so far: 'Hel'"),
        kind="idle",
        retryable=False,
        text_so_far="Hel",
    ),
    Case(
        "trickle past the total",
        replies=(Reply(parts=[ROLE, *[part for _ in range(50) for part in (HEL, 0.1)], DONE]),),
        timeouts={"idle": 2.0, "total": 0.5},
        error=TimeoutError,
        words=("turn not finished within 0.5 s (total timeout)", "text so far: 'Hel"),
        kind="total",
    ),
    Case(
        "event past limits.max_event_bytes",
        replies=(Reply(parts=[ROLE + HEL + chunk({"content": "x" * 5000}) + DONE]),),
        limits={"max_event_bytes": 1000},
        error=ProtocolError,
        words=(
            "event 3 from http://127.0.0.1:",
            "is larger than limits.max_event_bytes (1000 bytes); raise it",
        ),
        text_so_far="Hel",
    ),
    Case(
        "stream past limits.max_events",
        replies=(Reply(parts=[ROLE + HEL * 20 + DONE]),),
        limits={"max_events": 5},
        error=ProtocolError,
        words=("/v1/chat/completions has more than limits.max_events (5) chunks; raise it in convtest.yaml",),
        text_so_far="Hel" * 4,
    ),
    Case(
        "stream past limits.max_turn_bytes",
        replies=(Reply(parts=[ROLE, *[HEL] * 100, DONE]),),
        limits={"max_turn_bytes": 2000},
        error=ProtocolError,
        words=("/v1/chat/completions is larger than limits.max_turn_bytes (2000 bytes) after",),
    ),
    Case(
        "json: answer past limits.max_turn_bytes",
        replies=(Reply(headers=dict(JSON), parts=[answer("x" * 5000)]),),
        settings={"stream": False},
        limits={"max_turn_bytes": 2000},
        error=ProtocolError,
        words=("is larger than limits.max_turn_bytes (2000 bytes); raise it in convtest.yaml",),
    ),
    Case(
        "json: nested too deeply",
        replies=(Reply(headers=dict(JSON), parts=[b"[" * 500 + b"]" * 500]),),
        settings={"stream": False},
        error=ProtocolError,
        words=("bad answer from", "the answer is JSON nested more than 100 levels deep"),
    ),
    Case(
        "json: answer cut in half",
        replies=(
            Reply(
                headers=dict(JSON),
                parts=[b'{"choices": [{"message": {"content": "Hel'],
                end="close",
                chunked=False,
            ),
        ),
        settings={"stream": False},
        error=ProtocolError,
        words=("bad answer from http://127.0.0.1:", "/v1/chat/completions: the answer is not valid JSON"),
    ),
    Case(
        "json: not a completion",
        replies=(Reply(headers=dict(JSON), parts=[b'{"choices": []}'], chunked=False),),
        settings={"stream": False},
        error=ProtocolError,
        words=("bad answer from", "the answer has no `choices`"),
    ),
    Case(
        "json: stall mid-answer",
        replies=(Reply(headers=dict(JSON), parts=[b'{"choices": ', 5.0, b"[]}"]),),
        settings={"stream": False},
        timeouts={"idle": 0.3},
        error=TimeoutError,
        words=("no data for 0.3 s (idle timeout)", "after 12 bytes of the answer"),
        kind="idle",
    ),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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


def target_for(case: Case, port: int, unaccepting: int) -> Target:
    base_url = (case.base_url or "http://127.0.0.1:{port}/v1").format(
        port=port, closed_port=closed_port(), unaccepting_port=unaccepting
    )
    target = openai_target(base_url)
    return dataclasses.replace(
        target,
        timeouts=dataclasses.replace(CALM, **case.timeouts),
        settings=plain_settings(**case.settings),
        **case.limits,
    )


@pytest.mark.parametrize("transport", ["asyncio", "blocking"])
@pytest.mark.parametrize("case", CASES, ids=str)
async def test_every_fault_ends_in_its_verdict(case: Case, transport: str, unaccepting_port: int) -> None:
    async with (
        serving(transport) as server,
        new_client(verify=False, trust_env=False, blocking=transport == "blocking") as client,
    ):
        server.script(*case.replies or (Reply(),))
        adapter = create_adapter(target_for(case, server.port, unaccepting_port), client)
        with pytest.raises(TargetError) as info:
            await adapter.send_turn(TurnRequest("Hi there", None))

    error = info.value
    assert type(error) is case.error, error
    message = str(error)
    assert message.startswith("target 'gpt': ")
    for words in case.words:
        assert words in message, message
    assert "tok-123" not in message
    if case.kind is not None:
        assert isinstance(error, TimeoutError) and error.kind == case.kind
    if case.retryable is not None:
        assert error.retryable is case.retryable
    assert error.transcript is not None and error.transcript.user == "Hi there"
    if case.text_so_far is not None:
        assert error.transcript.text == case.text_so_far and not error.transcript.done


async def test_a_429_is_retried_after_the_time_the_server_asks(unaccepting_port: int) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with serving("asyncio") as server, new_client(verify=False, trust_env=False) as client:
        server.script(
            Reply("429 Too Many Requests", {**JSON, "Retry-After": "2"}, [b"{}"]),
            Reply(parts=[text_stream("Hi!")]),
        )
        target = target_for(Case("retry"), server.port, unaccepting_port)
        adapter = RetryingAdapter(
            create_adapter(target, client), limiter=RateLimiter(None), policy=RetryPolicy(max=2), sleep=sleep
        )
        transcript = await adapter.send_turn(TurnRequest("Hi there", None))

    assert (transcript.text, waits, len(server.requests)) == ("Hi!", [2.0], 2)
    [retry] = transcript.retries
    assert retry.startswith("attempt 1: HTTP 429 from http://127.0.0.1:") and "retried after 2.00 s" in retry


# --- the reference agent's chat completions, faults on request ------------------------------------

REFERENCE_CASES = [
    ("status:503", HTTPStatusError, "server says: 'Simulated failure (fault status:503).'"),
    ("cut", StreamCutError, "ended before [DONE] after 2 chunks; text so far: 'Hello! How'"),
    ("malformed", ProtocolError, "chunk 3 is not valid JSON"),
    ("no-done", StreamCutError, "text so far: 'Hello! How can I help you today?'"),
    ("non-sse", ProtocolError, "expected text/event-stream from"),
    (
        "abort",
        HTTPStatusError,
        "server says: \"Fault 'abort' has no equivalent in the chat completions API.\"",
    ),
    ("stall:5000", TimeoutError, "no data for 0.3 s (idle timeout)"),
    ("slow-first-token:5000", TimeoutError, "within 0.3 s (first_token timeout) (first byte after"),
    ("silent:5000", TimeoutError, "within 0.3 s of sending (first_byte timeout)"),
    ("hold-open", TimeoutError, "no data for 0.3 s (idle timeout)"),
]
JSON_REFERENCE_CASES = [
    ("cut", ProtocolError, "the answer is not valid JSON"),
    ("error-chunk", HTTPStatusError, "HTTP 500 from"),
    ("stall:5000", TimeoutError, "bytes of the answer"),
    ("slow-first-token:5000", TimeoutError, "within 0.3 s of sending (first_byte timeout)"),
]


@pytest.mark.parametrize(
    ("stream", "fault", "error", "words"),
    [(True, *case) for case in REFERENCE_CASES] + [(False, *case) for case in JSON_REFERENCE_CASES],
    ids=[f"stream-{c[0]}" for c in REFERENCE_CASES] + [f"json-{c[0]}" for c in JSON_REFERENCE_CASES],
)
async def test_the_reference_agent_commits_each_fault_on_request(
    reference_server: ReferenceServer, stream: bool, fault: str, error: type[TargetError], words: str
) -> None:
    target = dataclasses.replace(
        openai_target(f"{reference_server.url}/v1", stream=stream),
        token=reference_server.token,
        # first_token only where it is the fault: it would fire before first_byte otherwise
        timeouts=Timeouts(
            connect=2.0,
            first_byte=0.3,
            first_token=0.3 if "first-token" in fault and stream else None,
            idle=0.3,
            total=5.0,
        ),
    )
    async with new_client(verify=False, trust_env=False) as client:
        with pytest.raises(TargetError) as info:
            await create_adapter(target, client).send_turn(TurnRequest(f"Hello [[fault:{fault}]]", None))
    assert type(info.value) is error, info.value
    assert words in str(info.value)


async def test_a_fault_after_a_tool_round_keeps_the_tool_calls(reference_server: ReferenceServer) -> None:
    target = dataclasses.replace(openai_target(f"{reference_server.url}/v1"), token=reference_server.token)
    async with new_client(verify=False, trust_env=False) as client:
        with pytest.raises(StreamCutError) as info:
            await create_adapter(target, client).send_turn(
                TurnRequest("Where is order 1234? [[fault:cut]]", None)
            )
    transcript = info.value.transcript
    assert transcript is not None and transcript.steps == 2
    assert [(c.name, c.output["status"]) for c in transcript.tool_calls] == [("lookup_order", "shipped")]
    assert transcript.text == "Your order"


def test_the_cases_cover_every_timeout_kind() -> None:
    kinds = {case.kind for case in CASES} - {None}
    assert kinds == {"connect", "first_byte", "first_token", "idle", "total"}
