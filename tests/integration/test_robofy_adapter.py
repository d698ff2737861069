"""The Robofy adapter over real HTTP on 127.0.0.1, against a raw server that controls every byte.

The server writes hand-made HTTP/1.1 responses piece by piece with pauses, so chunk boundaries,
stalls, cuts and misbehaviour are exactly what each test says.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import email.utils
import itertools
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from convtest.adapters import RobofyAdapter, TurnRequest, create_adapter, exchange
from convtest.adapters.robofy_settings import RobofySettings
from convtest.adapters.transport import new_client
from convtest.exceptions import (
    ConfigError,
    ConnectError,
    HTTPStatusError,
    ProtocolError,
    StreamCutError,
    TargetError,
    TimeoutError,
)
from convtest.targets import Target, Timeouts

pytestmark = pytest.mark.anyio

SSE = {"Content-Type": "text/event-stream; charset=utf-8"}
JSON = {"Content-Type": "application/json"}


@dataclass
class Reply:
    """What the server does with one request: a status line, headers, then body pieces."""

    status: str = "200 OK"
    headers: dict[str, str] = field(default_factory=lambda: dict(SSE))
    #: body pieces, each written (and, when chunked, framed) on its own; a float is a pause
    parts: list[bytes | float] = field(default_factory=list)
    #: finish the body properly, close the connection mid-body, or keep it open forever
    end: Literal["finish", "close", "hang"] = "finish"
    chunked: bool = True
    #: False: read the request and never answer
    answer: bool = True
    #: after a finished reply, close the kept-alive connection this many seconds later
    close_after: float | None = None


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class RawServer:
    """An HTTP/1.1 server on 127.0.0.1 that plays :class:`Reply` scripts, one per request."""

    def __init__(self) -> None:
        self.replies: list[Reply] = [Reply()]
        self.requests: list[Received] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._stopping = asyncio.Event()

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Let every handler return on its own: cancelled ones make asyncio log noise on 3.11."""
        assert self._server is not None
        self._server.close()
        self._stopping.set()
        for writer in self._handlers.values():
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def open_connections(self) -> int:
        return sum(not handler.done() for handler in self._handlers)

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies; the last one repeats."""
        self.replies = list(replies)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        self.connections += 1
        try:
            while (request := await _read_request(reader)) is not None:
                self.requests.append(request)
                reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
                if not await self._play(reply, writer):
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _play(self, reply: Reply, writer: asyncio.StreamWriter) -> bool:
        """Write one reply; true when the connection may serve another request."""
        if not reply.answer:
            await self._pause(None)
            return False
        writer.write(_head(reply))
        for part in reply.parts:
            if isinstance(part, float):
                if await self._pause(part):
                    return False
                continue
            writer.write(b"%x\r\n%s\r\n" % (len(part), part) if reply.chunked else part)
            await writer.drain()
        if reply.end == "hang":
            await self._pause(None)
        if reply.end != "finish":
            return False
        if reply.chunked:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        if reply.close_after is not None:
            await self._pause(reply.close_after)
            return False
        return True

    async def _pause(self, seconds: float | None) -> bool:
        """Wait ``seconds`` (None: forever); true if the server is stopping instead."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except builtins.TimeoutError:  # the name TimeoutError is convtest's here
            return False
        return True


async def _read_request(reader: asyncio.StreamReader) -> Received | None:
    """The next request, or None once the client has gone (between requests or mid-request)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {
            name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return Received(method, path, headers, body)


def _head(reply: Reply) -> bytes:
    headers = dict(reply.headers)
    if reply.chunked:
        headers["Transfer-Encoding"] = "chunked"
    elif reply.end == "finish":
        headers["Content-Length"] = str(sum(len(part) for part in reply.parts if isinstance(part, bytes)))
    else:
        headers["Connection"] = "close"
    lines = [f"HTTP/1.1 {reply.status}", *(f"{name}: {value}" for name, value in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def sse(*chunks: dict[str, Any] | str) -> bytes:
    texts = (c if isinstance(c, str) else json.dumps(c, ensure_ascii=False) for c in chunks)
    return b"".join(b"data: %s\n\n" % text.encode() for text in texts)


def split(data: bytes, *cuts: int, pause: float = 0.01) -> list[bytes | float]:
    """``data`` cut at the given offsets, with a pause after each piece so each is its own read."""
    edges = [0, *sorted(cuts), len(data)]
    parts: list[bytes | float] = []
    for start, end in itertools.pairwise(edges):
        parts += [data[start:end], pause]
    return parts


START = sse({"type": "start", "messageId": "m1"}, {"type": "start-step"}, {"type": "text-start", "id": "0"})
HEL = sse({"type": "text-delta", "id": "0", "delta": "Hel"})
REST = sse(
    {"type": "text-delta", "id": "0", "delta": "lo 😀 grüße"},
    {"type": "text-end", "id": "0"},
    {"type": "finish-step"},
    {"type": "finish", "finishReason": "stop"},
    {"type": "data-session", "data": "sess-42"},
    {"type": "data-finish-reason", "data": {"finishReason": "stop", "rawFinishReason": "STOP"}},
    "[DONE]",
)
FULL = START + HEL + REST


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["asyncio", "blocking"])
def transport(request: pytest.FixtureRequest) -> str:
    """Every test with a client runs over both transports: asyncio streams (concurrent runs) and
    the blocking one (one conversation at a time)."""
    return str(request.param)


@contextmanager
def loop_in_thread() -> Iterator[Callable[[Awaitable[Any]], Any]]:
    """An event loop in a thread of its own, and a function that runs a coroutine there."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(awaitable: Awaitable[Any]) -> Any:
        async def wrapped() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), loop).result(10)

    try:
        yield run
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@asynccontextmanager
async def serving(transport: str, tls: ssl.SSLContext | None = None) -> AsyncIterator[RawServer]:
    """A started :class:`RawServer`; for the blocking transport on a loop in its own thread,
    since the client's socket waits hold the test's loop."""
    raw = RawServer()
    if transport == "asyncio":
        await raw.start(tls)
        try:
            yield raw
        finally:
            await raw.stop()
        return
    with loop_in_thread() as run:
        run(raw.start(tls))
        try:
            yield raw
        finally:
            run(raw.stop())


@pytest.fixture
async def server(transport: str) -> AsyncIterator[RawServer]:
    async with serving(transport) as raw:
        yield raw


@pytest.fixture
async def client(transport: str) -> AsyncIterator[httpx.AsyncClient]:
    # plain HTTP on 127.0.0.1: verify=False skips loading CA certificates (~45 ms a client)
    async with new_client(verify=False, trust_env=False, blocking=transport == "blocking") as shared:
        yield shared


def make_target(port: int, **changes: Any) -> Target:
    values: dict[str, Any] = {
        "name": "bot",
        "base_url": f"http://127.0.0.1:{port}",
        "token": "tok-123",
        "token_env": ("ROBOFY_TOKEN",),
        "settings": RobofySettings(pid="p-1", chatbot_id="cb-1"),
        "headers": {"X-Suite": "orders"},
        "timeouts": Timeouts(connect=2.0, first_byte=2.0, idle=2.0, total=10.0),
        **changes,
    }
    return Target(**values)


async def send(
    server: RawServer,
    client: httpx.AsyncClient,
    *replies: Reply,
    request: TurnRequest | None = None,
    **changes: Any,
) -> Any:
    server.script(*replies)
    adapter = RobofyAdapter(make_target(server.port, **changes), client)
    return await adapter.send_turn(request or TurnRequest(query="Hi there", session_id=None))


async def fails(
    server: RawServer, client: httpx.AsyncClient, *replies: Reply, **changes: Any
) -> pytest.ExceptionInfo[TargetError]:
    with pytest.raises(TargetError) as info:
        await send(server, client, *replies, **changes)
    return info


@contextmanager
def takes_at_most(seconds: float) -> Iterator[None]:
    start = time.monotonic()
    yield
    assert time.monotonic() - start < seconds


async def test_reply_split_mid_json_and_mid_utf8_is_reassembled(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    mid_emoji = FULL.index("😀".encode()) + 2
    mid_eszett = FULL.index("ß".encode()) + 1
    mid_json = FULL.index(b'"delta"') + 3
    transcript = await send(server, client, Reply(parts=split(FULL, 5, mid_json, mid_emoji, mid_eszett)))

    assert transcript.user == "Hi there"
    assert transcript.text == "Hello 😀 grüße"
    assert transcript.done and transcript.session_id == "sess-42"
    assert (transcript.finish_reason, transcript.raw_finish_reason) == ("stop", "STOP")
    timings = transcript.timings
    assert 0 < timings.first_byte_ms <= timings.first_token_ms <= timings.total_ms


@pytest.mark.parametrize(
    ("session_id", "expected_context"),
    [
        (None, {"platform": "web", "locale": "de"}),
        ("sess-1", {"platform": "web", "session_id": "sess-1", "locale": "de"}),
    ],
)
async def test_request_carries_query_ids_context_and_headers(
    server: RawServer, client: httpx.AsyncClient, session_id: str | None, expected_context: dict[str, str]
) -> None:
    request = TurnRequest(
        query="Wo ist meine Bestellung?", session_id=session_id, user_context={"locale": "de"}
    )
    await send(server, client, Reply(parts=[FULL]), request=request)

    [received] = server.requests
    assert (received.method, received.path) == ("POST", "/v1/ai-agent/chat/stream")
    assert received.headers["authorization"] == "Bearer tok-123"
    assert received.headers["accept"] == "text/event-stream"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["x-suite"] == "orders"
    assert received.json() == {
        "query": "Wo ist meine Bestellung?",
        "pid": "p-1",
        "chatbot_id": "cb-1",
        "user_context": expected_context,
    }


async def test_next_turn_reuses_the_connection(server: RawServer, client: httpx.AsyncClient) -> None:
    adapter = create_adapter(make_target(server.port), client)
    server.script(Reply(parts=split(FULL, 100)))
    for _ in range(2):
        await adapter.send_turn(TurnRequest(query="Hi", session_id=None))
    assert (len(server.requests), server.connections) == (2, 1)


async def test_done_with_the_connection_kept_open_returns_promptly(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    with takes_at_most(0.5):
        transcript = await send(server, client, Reply(parts=[FULL], end="hang"))
    assert transcript.done and transcript.text == "Hello 😀 grüße"


async def test_rejected_token_names_its_env_var(server: RawServer, client: httpx.AsyncClient) -> None:
    body = b'{"message":"Unauthorized","error":{"detail":"Authentication token is invalid."}}'
    info = await fails(server, client, Reply("401 Unauthorized", dict(JSON), [body], chunked=False))

    assert isinstance(info.value, HTTPStatusError) and info.value.status == 401
    message = str(info.value)
    assert message.startswith("target 'bot': HTTP 401 from http://127.0.0.1:")
    assert "token was rejected (it comes from $ROBOFY_TOKEN)" in message
    assert "Authentication token is invalid." in message
    assert "tok-123" not in message


async def test_unauthorized_without_a_token_says_none_is_configured(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    info = await fails(server, client, Reply("403 Forbidden", dict(JSON), [b"{}"]), token=None, token_env=())
    assert "no token is configured" in str(info.value)
    assert "authorization" not in server.requests[0].headers


async def test_server_error_shows_status_and_the_start_of_the_body(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    body = b"boom: database down " + b"x" * 5000
    info = await fails(
        server, client, Reply("500 Internal Server Error", {"Content-Type": "text/plain"}, [body])
    )

    error = info.value
    assert isinstance(error, HTTPStatusError) and error.status == 500
    assert "HTTP 500 from" in str(error) and "boom: database down" in str(error)
    assert error.body.startswith("boom: database down") and len(error.body) == 2048
    assert error.transcript is not None and error.transcript.user == "Hi there"


async def test_bad_request_shows_the_servers_detail(server: RawServer, client: httpx.AsyncClient) -> None:
    body = b'{"message":"Bad Request","error":{"code":"BAD_REQUEST","detail":"missing field pid"}}'
    info = await fails(server, client, Reply("400 Bad Request", dict(JSON), [body], chunked=False))
    assert "HTTP 400 from" in str(info.value) and "server says: 'missing field pid'" in str(info.value)


async def test_rate_limit_shows_retry_after(server: RawServer, client: httpx.AsyncClient) -> None:
    info = await fails(server, client, Reply("429 Too Many Requests", {**JSON, "Retry-After": "7"}, [b"{}"]))
    assert "HTTP 429" in str(info.value) and "Retry-After: 7" in str(info.value)
    assert info.value.retryable


async def test_success_that_is_not_an_event_stream_is_a_protocol_error(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    info = await fails(server, client, Reply(headers=dict(JSON), parts=[b'{"answer": "hi"}'], chunked=False))
    assert isinstance(info.value, ProtocolError)
    assert "expected text/event-stream" in str(info.value) and "'application/json'" in str(info.value)
    assert '{"answer": "hi"}' in str(info.value)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked-body-cut", "connection-closed"])
async def test_stream_cut_before_done_keeps_the_partial_text(
    server: RawServer, client: httpx.AsyncClient, chunked: bool
) -> None:
    info = await fails(server, client, Reply(parts=[START, 0.01, HEL], end="close", chunked=chunked))

    error = info.value
    assert isinstance(error, StreamCutError)
    assert "ended before [DONE]" in str(error) and "after 4 events" in str(error)
    assert "text so far: 'Hel'" in str(error)
    assert error.transcript is not None and error.transcript.text == "Hel" and not error.transcript.done


async def test_cut_mid_line_shows_the_cut_line(server: RawServer, client: httpx.AsyncClient) -> None:
    info = await fails(server, client, Reply(parts=[START, HEL[:20]], end="close", chunked=False))
    assert isinstance(info.value, StreamCutError)
    assert "last line cut: 'data: " in str(info.value)


# --- the end of a stream (README, "The protocol, and where convtest differs from the client") ------


async def test_done_without_its_blank_line_ends_the_turn(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    body = FULL.removesuffix(b"\n")
    for cut in (len(body) - 3, len(body) - 1):
        transcript = await send(server, client, Reply(parts=split(body, cut), end="close", chunked=False))
        assert transcript.done and transcript.text == "Hello 😀 grüße"


async def test_a_last_event_without_its_blank_line_is_dropped_and_named(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    tail = b'data: {"type":"text-delta","id":"0","delta":"lo"}\n'
    info = await fails(server, client, Reply(parts=[START, HEL, tail], end="close", chunked=False))
    assert isinstance(info.value, StreamCutError)
    assert "ended before [DONE] after 4 events" in str(info.value)
    assert 'last event never ended (no blank line): \'{"type":"text-delta"' in str(info.value)
    assert info.value.transcript is not None and info.value.transcript.text == "Hel"


async def test_events_after_done_are_not_read_into_the_transcript(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    after = sse({"type": "text-delta", "id": "0", "delta": " (late)"}, {"type": "error", "errorText": "x"})
    for parts in ([FULL + after], [FULL, 0.01, after]):
        transcript = await send(server, client, Reply(parts=parts))
        assert transcript.done and transcript.text == "Hello 😀 grüße" and transcript.errors == []


async def test_malformed_event_is_a_protocol_error_with_the_partial_transcript(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    info = await fails(server, client, Reply(parts=[START, HEL, b'data: {"type":"text-delta",\n\n']))

    error = info.value
    assert isinstance(error, ProtocolError)
    assert "event 5 is not valid JSON" in str(error) and "/v1/ai-agent/chat/stream" in str(error)
    assert error.target == "bot"
    assert error.transcript is not None and error.transcript.text == "Hel"


async def test_stalled_stream_fails_with_idle_timeout(server: RawServer, client: httpx.AsyncClient) -> None:
    timeouts = Timeouts(connect=2.0, first_byte=2.0, idle=0.3, total=10.0)
    with takes_at_most(0.3 + 0.5):
        info = await fails(server, client, Reply(parts=[START, HEL], end="hang"), timeouts=timeouts)

    error = info.value
    assert isinstance(error, TimeoutError) and error.kind == "idle"
    assert "no data for 0.3 s (idle timeout)" in str(error) and "after 4 events; text so far: 'Hel'" in str(
        error
    )
    assert error.transcript is not None and error.transcript.text == "Hel"


async def test_server_that_never_answers_fails_with_first_byte_timeout(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    timeouts = Timeouts(connect=2.0, first_byte=0.3, idle=2.0, total=10.0)
    with takes_at_most(0.3 + 0.5):
        info = await fails(server, client, Reply(answer=False), timeouts=timeouts)

    assert isinstance(info.value, TimeoutError) and info.value.kind == "first_byte"
    assert "within 0.3 s" in str(info.value) and "(first_byte timeout)" in str(info.value)
    assert server.requests, "the request reached the server"


async def test_trickling_stream_fails_with_total_timeout(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    timeouts = Timeouts(connect=2.0, first_byte=2.0, idle=1.0, total=0.5)
    parts: list[bytes | float] = [START]
    parts += [HEL, 0.1] * 20
    with takes_at_most(0.5 + 0.5):
        info = await fails(server, client, Reply(parts=parts), timeouts=timeouts)

    assert isinstance(info.value, TimeoutError) and info.value.kind == "total"
    assert "within 0.5 s (total timeout)" in str(info.value)
    assert info.value.transcript is not None and info.value.transcript.text.startswith("HelHel")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_refused_connection_is_a_connect_error(client: httpx.AsyncClient) -> None:
    port = free_port()
    adapter = RobofyAdapter(make_target(port), client)
    with pytest.raises(ConnectError) as info:
        await adapter.send_turn(TurnRequest(query="Hi", session_id=None))

    expected = (
        f"target 'bot': cannot connect to http://127.0.0.1:{port}/v1/ai-agent/chat/stream: connection refused"
    )
    assert str(info.value) == expected
    assert info.value.retryable and info.value.transcript is not None


async def test_a_kept_alive_connection_the_server_closed_meanwhile_is_replaced(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    server.script(Reply(parts=[FULL], close_after=0.0))
    adapter = RobofyAdapter(make_target(server.port), client)
    await adapter.send_turn(TurnRequest(query="Hi", session_id=None))
    await asyncio.sleep(0.1)  # the server has closed the idle connection by now
    transcript = await adapter.send_turn(TurnRequest(query="Again", session_id="sess-42"))
    assert transcript.text == "Hello 😀 grüße"
    assert (len(server.requests), server.connections) == (2, 2)


def through_proxy(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request goes through the raw server on ``port``, as a proxy from the environment."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def bot_url(via: str, port: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """The raw server on ``port`` itself, or (``via="proxy"``) a host only it can reach, as a proxy."""
    if via == "direct":
        return f"http://127.0.0.1:{port}"
    through_proxy(port, monkeypatch)
    return "http://bot.invalid"


async def test_a_proxy_from_the_environment_carries_the_request(
    server: RawServer, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    through_proxy(server.port, monkeypatch)
    server.script(Reply(parts=[FULL]))
    with socket.socket() as closed:  # the bot's own port refuses: only the proxy can answer
        closed.bind(("127.0.0.1", 0))
        bot = f"http://127.0.0.1:{closed.getsockname()[1]}"
    async with new_client(verify=False, trust_env=True, blocking=transport == "blocking") as proxied:
        adapter = RobofyAdapter(make_target(server.port, base_url=bot), proxied)
        transcript = await adapter.send_turn(TurnRequest(query="Hi", session_id=None))
    assert transcript.text == "Hello 😀 grüße"
    assert server.requests[0].path == f"{bot}/v1/ai-agent/chat/stream"  # a proxy's request form


@pytest.mark.parametrize("via", ["direct", "proxy"])
async def test_a_deadline_that_fires_while_the_body_closes_leaves_the_connection_usable(
    server: RawServer, transport: str, via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a drain with no time to spare: its deadline fires at the first wait, which is inside
    # httpx's close of the body it has just read to the end (encode/httpcore#1115)
    monkeypatch.setattr(exchange, "DRAIN_GRACE", 0.0)
    base_url = bot_url(via, server.port, monkeypatch)
    server.script(Reply(parts=[FULL], chunked=False))
    async with new_client(verify=False, trust_env=via == "proxy", blocking=transport == "blocking") as fresh:
        adapter = RobofyAdapter(make_target(server.port, base_url=base_url), fresh)
        for query in ("Hi", "Again"):  # a stranded connection: turn 2 times out waiting for it
            transcript = await adapter.send_turn(TurnRequest(query=query, session_id=None))
            assert transcript.text == "Hello 😀 grüße"
    assert (len(server.requests), server.connections) == (2, 1)  # one connection, reused


def cancel_after(task: asyncio.Task[Any], rounds: int) -> None:
    """Cancel ``task`` once the event loop has gone round ``rounds`` times: wherever it waits then."""
    loop = asyncio.get_running_loop()

    def tick(left: int) -> None:
        if task.done():
            return
        if left:
            loop.call_soon(tick, left - 1)
        else:
            task.cancel()

    loop.call_soon(tick, rounds)


@pytest.mark.parametrize("via", ["direct", "proxy"])
async def test_a_turn_cancelled_at_any_moment_leaves_the_client_usable(
    via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every moment a deadline, Ctrl-C or -x can cancel a turn at: connecting, the lock that marks
    # a new connection busy, sending, awaiting the answer, the body, its close; asyncio's
    # cancellation at two of them left httpcore's pool holding a connection for good. (A turn on
    # the blocking transport gives the loop no round to cancel it in; a proxy's pool is async
    # under both transports.)
    timeouts = Timeouts(connect=1.0, first_byte=1.0, idle=1.0, total=5.0)
    outcomes = []
    async with serving("asyncio") as raw:
        raw.script(Reply(parts=[FULL]))
        target = make_target(raw.port, base_url=bot_url(via, raw.port, monkeypatch), timeouts=timeouts)
        for rounds in itertools.count():
            async with new_client(verify=False, trust_env=via == "proxy") as fresh:
                adapter = RobofyAdapter(target, fresh)
                first = asyncio.create_task(adapter.send_turn(TurnRequest(query="Hi", session_id=None)))
                cancel_after(first, rounds)
                with contextlib.suppress(asyncio.CancelledError):
                    await first
                outcomes.append("cancelled" if first.cancelled() else "done")
                transcript = await adapter.send_turn(TurnRequest(query="Again", session_id=None))
                assert transcript.text == "Hello 😀 grüße", f"after a cancel at round {rounds}"
                # and the cancelled turn's connection is closed by now, not left open until the end
                for _ in range(100):
                    if raw.open_connections() <= 1:
                        break
                    await asyncio.sleep(0.01)
                assert raw.open_connections() == 1, f"after a cancel at round {rounds}"
            if outcomes[-1] == "done":
                break
    assert outcomes.count("cancelled") >= 10  # the turn was cut at every moment before it ran through


async def test_a_request_that_never_got_a_connection_says_it_was_not_sent() -> None:
    # the slot's client has one connection; a stream still open on it keeps a second turn waiting
    async with serving("asyncio") as raw, new_client(verify=False, trust_env=False) as one:
        raw.script(Reply(parts=[START], end="hang"), Reply(parts=[FULL]))
        timeouts = Timeouts(connect=0.1, first_byte=0.2, idle=5.0, total=10.0)
        adapter = RobofyAdapter(make_target(raw.port, timeouts=timeouts), one)
        held = asyncio.create_task(adapter.send_turn(TurnRequest(query="Hold", session_id=None)))
        while not (raw.requests or held.done()):
            await asyncio.sleep(0.01)
        with pytest.raises(TimeoutError) as info:
            await adapter.send_turn(TurnRequest(query="Hi", session_id=None))
        held.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await held
    assert info.value.kind == "first_byte" and info.value.retryable
    assert str(info.value) == (
        f"target 'bot': request to http://127.0.0.1:{raw.port}/v1/ai-agent/chat/stream not sent "
        "within 0.3 s: the client had no free connection to send it on "
        "(connect + first_byte timeout)"
    )
    assert len(raw.requests) == 1


async def test_connect_timeout_is_a_timeout_of_kind_connect() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as mock:
        adapter = RobofyAdapter(make_target(9, timeouts=Timeouts(connect=1.5)), mock)
        with pytest.raises(TimeoutError) as info:
            await adapter.send_turn(TurnRequest(query="Hi", session_id=None))
    assert info.value.kind == "connect" and "within 1.5 s (connect timeout)" in str(info.value)


async def test_unknown_adapter_name_lists_the_known_ones(client: httpx.AsyncClient) -> None:
    with pytest.raises(ConfigError, match=r"unknown adapter 'pigeon'; known adapters: .*robofy"):
        create_adapter(make_target(9, adapter="pigeon"), client)


async def test_base_url_without_scheme_is_a_config_error(client: httpx.AsyncClient) -> None:
    with pytest.raises(ConfigError, match="base_url must be an http"):
        RobofyAdapter(make_target(9, base_url="127.0.0.1:9"), client)


# --- TLS, first token, per-turn timeouts, Retry-After, retryable --------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (made by the openssl CLI); its key beside it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    command = (
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1"
    )
    subprocess.run([openssl, *command.split(), "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert


@pytest.fixture
def self_signed(certificate: Path) -> ssl.SSLContext:
    """A server TLS context with a certificate no client trusts."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, certificate.with_name("key.pem"))
    return context


async def test_https_to_a_trusted_certificate_streams_the_answer(
    certificate: Path, self_signed: ssl.SSLContext, transport: str
) -> None:
    trusting = ssl.create_default_context(cafile=str(certificate))
    blocking = transport == "blocking"
    async with serving(transport, tls=self_signed) as raw:
        raw.script(Reply(parts=[FULL]))
        async with new_client(verify=trusting, trust_env=False, blocking=blocking) as client:
            adapter = RobofyAdapter(make_target(raw.port, base_url=f"https://127.0.0.1:{raw.port}"), client)
            first = await adapter.send_turn(TurnRequest(query="Hi", session_id=None))
            second = await adapter.send_turn(TurnRequest(query="Again", session_id="sess-42"))
    assert first.text == second.text == "Hello 😀 grüße"
    assert (len(raw.requests), raw.connections) == (2, 1)  # one TLS connection, kept alive


async def test_a_self_signed_certificate_is_a_tls_connect_error(
    self_signed: ssl.SSLContext, transport: str
) -> None:
    async with (
        serving(transport, tls=self_signed) as raw,
        new_client(verify=True, trust_env=False, blocking=transport == "blocking") as verifying,
    ):
        adapter = RobofyAdapter(make_target(raw.port, base_url=f"https://127.0.0.1:{raw.port}"), verifying)
        with takes_at_most(2.0), pytest.raises(ConnectError) as info:
            await adapter.send_turn(TurnRequest(query="Hi", session_id=None))
    assert f"cannot connect to https://127.0.0.1:{raw.port}/v1/ai-agent/chat/stream: " in str(info.value)
    assert "TLS certificate rejected (self-signed certificate)" in str(info.value)
    assert info.value.retryable and not raw.requests


TOOL_STEP = sse(
    {"type": "start", "messageId": "m1"},
    {"type": "start-step"},
    {"type": "tool-input-available", "toolCallId": "c1", "toolName": "lookup", "input": {}},
    {"type": "tool-output-available", "toolCallId": "c1", "output": {"ok": True}},
    {"type": "finish-step"},
    {"type": "start-step"},
)


async def test_first_token_timeout_fires_although_tool_events_keep_the_stream_busy(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    timeouts = Timeouts(connect=2.0, first_byte=2.0, first_token=0.4, idle=0.3, total=10.0)
    parts: list[bytes | float] = [TOOL_STEP, *[b": keep-alive\n\n", 0.1] * 20]
    with takes_at_most(0.4 + 0.5):
        info = await fails(server, client, Reply(parts=parts), timeouts=timeouts)

    error = info.value
    assert isinstance(error, TimeoutError) and error.kind == "first_token"
    assert "no text from http://127.0.0.1:" in str(error) and "within 0.4 s (first_token timeout)" in str(
        error
    )
    assert "after 6 events; text so far: ''" in str(error)
    assert not error.retryable, "events had arrived"
    assert error.transcript is not None and error.transcript.tool_calls[0].output == {"ok": True}


async def test_once_the_first_text_arrives_only_idle_and_total_apply(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    timeouts = Timeouts(connect=2.0, first_byte=2.0, first_token=0.3, idle=2.0, total=10.0)
    transcript = await send(server, client, Reply(parts=[START + HEL, 0.5, REST]), timeouts=timeouts)
    assert transcript.done and transcript.text == "Hello 😀 grüße"


async def test_a_turn_overrides_the_targets_timeouts(server: RawServer, client: httpx.AsyncClient) -> None:
    request = TurnRequest(query="Hi", session_id=None, timeouts={"idle": 0.3})
    with takes_at_most(0.3 + 0.5), pytest.raises(TimeoutError) as info:
        await send(server, client, Reply(parts=[START, HEL], end="hang"), request=request)
    assert info.value.kind == "idle" and "no data for 0.3 s (idle timeout)" in str(info.value)


async def test_retry_after_as_an_http_date_becomes_seconds(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    headers = {**JSON, "Retry-After": when}
    info = await fails(server, client, Reply("503 Service Unavailable", headers, [b"{}"], chunked=False))
    error = info.value
    assert isinstance(error, HTTPStatusError) and error.retryable
    assert error.retry_after is not None and 115 < error.retry_after <= 120
    assert f"Retry-After: {when}" in str(error)


async def test_a_timeout_before_any_byte_of_the_body_is_retryable_and_after_it_is_not(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    quick = Timeouts(connect=2.0, first_byte=0.3, idle=0.3, total=10.0)
    silent = await fails(server, client, Reply(answer=False), timeouts=quick)
    headers_only = await fails(server, client, Reply(parts=[], end="hang"), timeouts=quick)
    stalled = await fails(server, client, Reply(parts=[START], end="hang"), timeouts=quick)
    assert [info.value.retryable for info in (silent, headers_only, stalled)] == [True, True, False]
    assert isinstance(stalled.value, TimeoutError) and stalled.value.kind == "idle"
