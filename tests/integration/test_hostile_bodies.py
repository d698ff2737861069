"""A hostile or broken bot never hangs a turn or exhausts memory: endless, huge, compressed and
deeply nested bodies each end in a named verdict, over real HTTP on 127.0.0.1, on both transports.

The raw server of ``test_robofy_adapter`` plays the bodies; an endless one is an endless
iterator of parts (with a zero pause between them, so the server can stop).
"""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_robofy_adapter import (
    FULL,
    HEL,
    JSON,
    START,
    RawServer,
    Reply,
    anyio_backend,
    client,
    fails,
    loop_in_thread,
    send,
    server,
    sse,
    transport,
)

from convtest.adapters.body import PIECE, decoded_body
from convtest.adapters.robofy_settings import RobofySettings
from convtest.exceptions import ProtocolError, TimeoutError
from convtest.targets import Timeouts

__all__ = ["anyio_backend", "client", "server", "transport"]  # fixtures shared with test_robofy_adapter

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
#: a deadline may fire this late, at most (issue 14: "nothing may hang past its timeout plus 1 s")
LATE = 1.0
DELTA = sse({"type": "text-delta", "id": "0", "delta": "x" * 400})
#: 64 KiB of ~450-byte events: what a fast bot pours out without end
DELTAS = DELTA * (64 * 1024 // len(DELTA))
COMMENTS = b": keep-alive\n\n" * (64 * 1024 // 14)


#: the target's settings for the non-streaming endpoint, which answers one JSON document
ANSWERS = RobofySettings(pid="p-1", chatbot_id="cb-1", stream=False)


def endless(blob: bytes, head: bytes = b"") -> Iterator[bytes | float]:
    """``head``, then ``blob`` forever; the zero pauses let a stopping server notice."""
    yield head
    yield from itertools.cycle([blob, 0.0])


def gzip_bomb(size: int, head: bytes, filler: bytes, *, wbits: int = zlib.MAX_WBITS | 16) -> bytes:
    """``head`` then ``filler`` repeated up to ``size`` bytes, compressed (about 1000:1)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = [packer.compress(head)]
    block = filler * (MiB // len(filler))
    parts += [packer.compress(block) for _ in range(size // len(block))]
    return b"".join([*parts, packer.flush()])


def quick(total: float = 10.0) -> Timeouts:
    return Timeouts(connect=2.0, first_byte=2.0, idle=2.0, total=total)


def url(server: RawServer, path: str = "/v1/ai-agent/chat/stream") -> str:
    return f"http://127.0.0.1:{server.port}{path}"


# --- 14.1: an endless body ends at its deadline, on both transports --------------------------------


@pytest.mark.parametrize(
    ("kind", "blob", "total"), [("text deltas", DELTAS, 1.0), ("comments", COMMENTS, 1.0)]
)
async def test_a_fast_endless_stream_ends_at_its_total_timeout(
    server: RawServer, client: httpx.AsyncClient, kind: str, blob: bytes, total: float
) -> None:
    # the turn limit is out of reach: only the deadline can end this turn in time
    start = time.monotonic()
    info = await fails(
        server,
        client,
        Reply(parts=endless(blob, START)),
        timeouts=quick(total=total),
        max_turn_bytes=2**40,
        max_events=2**40,
    )
    took = time.monotonic() - start

    error = info.value
    assert isinstance(error, TimeoutError) and error.kind == "total", error
    assert f"turn not finished within {total} s (total timeout)" in str(error)
    assert took < total + LATE, f"{kind}: the total timeout fired after {took:.2f} s"


async def test_a_fast_endless_json_answer_ends_at_its_total_timeout(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    parts = endless(b"x" * 65536, b'{"text": "')
    start = time.monotonic()
    info = await fails(
        server,
        client,
        Reply(headers=dict(JSON), parts=parts),
        settings=ANSWERS,
        timeouts=quick(total=1.0),
        max_turn_bytes=2**40,
        max_events=2**40,
    )
    assert isinstance(info.value, TimeoutError) and info.value.kind == "total", info.value
    assert time.monotonic() - start < 1.0 + LATE


async def test_an_endless_body_after_done_is_only_drained(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    # the drain that frees the connection has a deadline of its own, and counts nothing
    transcript = await send_ok(server, client, Reply(parts=endless(DELTAS, FULL)), max_turn_bytes=1024)
    assert transcript.text == "Hello 😀 grüße"


async def send_ok(server: RawServer, client: httpx.AsyncClient, reply: Reply, **changes: Any) -> Any:
    return await send(server, client, reply, timeouts=quick(), **changes)


# --- 13.7: limits on an event, a turn, the number of events -----------------------------------------


async def test_an_event_over_max_event_bytes_ends_the_turn_keeping_the_text_so_far(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    big = sse({"type": "text-delta", "id": "0", "delta": "y" * 2000})
    info = await fails(server, client, Reply(parts=[START + HEL + big + FULL]), max_event_bytes=1024)

    error = info.value
    assert isinstance(error, ProtocolError)
    assert str(error) == (
        f"target 'bot': event 5 from {url(server)} is larger than limits.max_event_bytes (1024 bytes); "
        "raise it in convtest.yaml"
    )
    assert error.transcript is not None and error.transcript.text == "Hel"


async def test_an_endless_line_is_stopped_at_max_event_bytes(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    # 50 MB and more without a line break: never buffered whole
    info = await fails(
        server, client, Reply(parts=endless(b"y" * 65536, START + HEL + b"data: ")), timeouts=quick()
    )
    assert str(info.value) == (
        f"target 'bot': event 5 from {url(server)} is larger than limits.max_event_bytes (1048576 bytes); "
        "raise it in convtest.yaml"
    )
    assert info.value.transcript is not None and info.value.transcript.text == "Hel"


async def test_a_stream_over_max_turn_bytes_ends_the_turn(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    info = await fails(
        server, client, Reply(parts=endless(DELTAS, START)), max_turn_bytes=MiB, timeouts=quick()
    )

    error = info.value
    assert isinstance(error, ProtocolError)
    message = str(error)
    assert message.startswith(
        f"target 'bot': stream from {url(server)} is larger than limits.max_turn_bytes (1048576 bytes) after "
    )
    assert message.endswith(" events; raise it in convtest.yaml")
    assert error.transcript is not None and error.transcript.text.startswith("x" * 1000)
    assert len(error.transcript.text) < MiB


async def test_a_stream_over_max_events_ends_the_turn(server: RawServer, client: httpx.AsyncClient) -> None:
    info = await fails(server, client, Reply(parts=endless(DELTAS, START)), max_events=100, timeouts=quick())

    assert str(info.value) == (
        f"target 'bot': stream from {url(server)} has more than limits.max_events (100) events; "
        "raise it in convtest.yaml"
    )
    transcript = info.value.transcript
    assert transcript is not None and transcript.text == "x" * 400 * 97  # 3 events of START first


async def test_done_as_the_event_past_max_events_still_ends_the_turn(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    transcript = await send_ok(server, client, Reply(parts=[FULL]), max_events=10)
    assert transcript.text == "Hello 😀 grüße"


async def test_a_json_answer_over_max_turn_bytes_ends_the_turn(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    reply = Reply(headers=dict(JSON), parts=endless(b"x" * 65536, b'{"text": "'))
    info = await fails(server, client, reply, settings=ANSWERS, max_turn_bytes=MiB, timeouts=quick())

    assert str(info.value) == (
        f"target 'bot': bad answer from {url(server, '/v1/ai-agent/chat')}: the answer is larger than "
        "limits.max_turn_bytes (1048576 bytes); raise it in convtest.yaml"
    )


# --- 14.2: a gzip bomb is stopped at max_turn_bytes, counted on the decoded bytes -------------------


@pytest.fixture(scope="module")
def stream_bomb() -> bytes:
    return gzip_bomb(256 * MiB, START, DELTA)


@pytest.fixture(scope="module")
def json_bomb() -> bytes:
    return gzip_bomb(256 * MiB, b'{"text": "', b"x")


async def test_a_gzip_bomb_stream_is_stopped_at_max_turn_bytes(
    server: RawServer, client: httpx.AsyncClient, stream_bomb: bytes
) -> None:
    reply = Reply(headers={**Reply().headers, "Content-Encoding": "gzip"}, parts=[stream_bomb])
    info = await fails(server, client, reply, timeouts=quick())

    assert len(stream_bomb) < 2 * MiB  # 256 MB once inflated
    assert "is larger than limits.max_turn_bytes (16777216 bytes) after " in str(info.value)
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


async def test_a_gzip_bomb_json_answer_is_stopped_at_max_turn_bytes(
    server: RawServer, client: httpx.AsyncClient, json_bomb: bytes
) -> None:
    reply = Reply(headers={**JSON, "Content-Encoding": "gzip"}, parts=[json_bomb])
    info = await fails(server, client, reply, settings=ANSWERS, timeouts=quick())

    assert str(info.value).endswith(
        ": the answer is larger than limits.max_turn_bytes (16777216 bytes); raise it in convtest.yaml"
    )


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate", "gzip, gzip"])
async def test_a_compressed_stream_is_read_as_before(
    server: RawServer, client: httpx.AsyncClient, encoding: str
) -> None:
    body, header = FULL, encoding
    if encoding == "raw deflate":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body, header = packer.compress(body) + packer.flush(), "deflate"
    else:
        for layer in encoding.split(", "):
            body = gzip.compress(body) if layer == "gzip" else zlib.compress(body)
    reply = Reply(headers={**Reply().headers, "Content-Encoding": header}, parts=[body[:7], 0.01, body[7:]])
    transcript = await send_ok(server, client, reply)
    assert transcript.text == "Hello 😀 grüße"


async def test_a_corrupt_gzip_body_is_an_unusable_response(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    reply = Reply(headers={**Reply().headers, "Content-Encoding": "gzip"}, parts=[b"not gzip at all"])
    info = await fails(server, client, reply, timeouts=quick())
    assert str(info.value).startswith(f"target 'bot': unusable response from {url(server)}: DecodingError: ")


# --- 14.4: JSON nested too deeply is a protocol verdict --------------------------------------------


def nested(depth: int) -> str:
    """Lists ``depth`` deep: past the recursion limit json.loads fails, below it the report would."""
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [101, 100_000])
async def test_an_event_nested_too_deeply_is_a_bad_event(
    server: RawServer, client: httpx.AsyncClient, depth: int
) -> None:
    deep = sse('{"type": "data-x", "data": ' + nested(depth) + "}")
    info = await fails(server, client, Reply(parts=[START + HEL + deep]), timeouts=quick())

    message = str(info.value)
    assert message.startswith(
        f"target 'bot': bad event stream from {url(server)}: event 5 is JSON nested more than 100 levels "
        'deep: \'{"type": "data-x", "data": [[[['
    )
    assert info.value.transcript is not None and info.value.transcript.text == "Hel"


async def test_an_event_nested_100_deep_is_kept(server: RawServer, client: httpx.AsyncClient) -> None:
    deep = sse('{"type": "data-x", "data": ' + nested(99) + "}")  # the event's object is level 1
    transcript = await send_ok(server, client, Reply(parts=[START + HEL + deep + FULL]))
    assert transcript.data_parts[0].data == json.loads(nested(99))


@pytest.mark.parametrize("depth", [100, 100_000])
async def test_a_json_answer_nested_too_deeply_is_a_bad_answer(
    server: RawServer, client: httpx.AsyncClient, depth: int
) -> None:
    deep = b'{"text": "hi", "x": ' + nested(depth).encode() + b"}"
    reply = Reply(headers=dict(JSON), parts=[deep])
    info = await fails(server, client, reply, settings=ANSWERS, timeouts=quick())

    assert str(info.value).startswith(
        f"target 'bot': bad answer from {url(server, '/v1/ai-agent/chat')}: "
        'the answer is JSON nested more than 100 levels deep: \'{"text": "hi", "x": [[[['
    )


async def test_an_error_body_nested_too_deeply_is_shown_as_it_is(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    deep = b"[" * 1020 + b"]" * 1020
    info = await fails(
        server, client, Reply(status="500 Internal Server Error", headers=dict(JSON), parts=[deep])
    )
    assert str(info.value).startswith(f"target 'bot': HTTP 500 from {url(server)}; server says: '[[[[")


# --- memory: peak RSS of a whole turn, measured in a process of its own ------------------------------

#: one turn against the port given, then its verdict and the growth of peak RSS, as JSON
TURN_IN_A_PROCESS = """
import asyncio, json, sys
from convtest.adapters import RobofyAdapter, TurnRequest
from convtest.adapters.robofy_settings import RobofySettings
from convtest.adapters.transport import new_client
from convtest.exceptions import TargetError
from convtest.targets import Target, Timeouts

port, blocking, stream = int(sys.argv[1]), sys.argv[2] == "blocking", sys.argv[3] == "stream"
target = Target(name="bot", base_url=f"http://127.0.0.1:{port}", settings=RobofySettings(stream=stream),
                timeouts=Timeouts(connect=2, first_byte=2, idle=2, total=10))

async def turn(query):
    async with new_client(verify=False, trust_env=False, blocking=blocking) as client:
        try:
            await RobofyAdapter(target, client).send_turn(TurnRequest(query=query, session_id=None))
        except TargetError as error:
            return str(error)
        return "passed"

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(field))

asyncio.run(turn("warm-up"))
# the peak so far (imports compiled without a bytecode cache, say) must not hide the turn's own
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
before = status("VmRSS:")
verdict = asyncio.run(turn("bomb"))
print(json.dumps({"verdict": verdict, "growth_kib": status("VmHWM:") - before}))
"""


#: the limit each body meets first: max_turn_bytes, or max_event_bytes for a line without end
LIMITS = {
    "endless deltas": 16 * MiB,
    "gzip bomb": 16 * MiB,
    "gzip bomb answer": 16 * MiB,
    "endless line": MiB,
}


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="resets the peak RSS through /proc")
@pytest.mark.parametrize("transport_", ["asyncio", "blocking"])
@pytest.mark.parametrize("body", ["endless deltas", "gzip bomb", "gzip bomb answer", "endless line"])
def test_peak_memory_of_a_hostile_turn_stays_near_the_limit(
    transport_: str, body: str, stream_bomb: bytes, json_bomb: bytes
) -> None:
    """Default limits: the turn's peak RSS grows by about twice the limit it meets, no more."""
    gzipped = {**Reply().headers, "Content-Encoding": "gzip"}
    replies = {
        "endless deltas": Reply(parts=endless(DELTAS, START)),
        "gzip bomb": Reply(headers=gzipped, parts=[stream_bomb]),
        "gzip bomb answer": Reply(headers={**JSON, "Content-Encoding": "gzip"}, parts=[json_bomb]),
        "endless line": Reply(parts=endless(b"y" * 65536, START + b"data: ")),
    }
    warm_up = (
        Reply(headers=dict(JSON), parts=[b'{"text": "ok"}'])
        if body.endswith("answer")
        else Reply(parts=[FULL])
    )
    with loop_in_thread() as run:
        raw = RawServer()
        run(raw.start())
        raw.script(warm_up, replies[body])
        try:
            mode = "json" if body.endswith("answer") else "stream"
            done = subprocess.run(
                [sys.executable, "-c", TURN_IN_A_PROCESS, str(raw.port), transport_, mode],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            run(raw.stop())
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "larger than limits.max_" in result["verdict"], result
    assert result["growth_kib"] * 1024 < 2.5 * LIMITS[body] + 4 * MiB, result


# --- the decoder of a compressed body: bounded pieces ---------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, deflate"])
async def test_a_compressed_body_is_inflated_in_pieces_no_larger_than_piece(encoding: str) -> None:
    plain = b"z" * (8 * MiB) + b"end"
    body = plain
    for layer in encoding.split(", "):
        body = gzip.compress(body) if layer == "gzip" else zlib.compress(body)
    response = httpx.Response(200, headers={"Content-Encoding": encoding}, stream=httpx.ByteStream(body))
    pieces = [piece async for piece in decoded_body(response)]

    assert b"".join(pieces) == plain
    assert max(map(len, pieces)) <= PIECE


async def test_a_body_in_an_encoding_of_its_own_keeps_httpx_decoding() -> None:
    response = httpx.Response(
        200, headers={"Content-Encoding": "unheard-of"}, stream=httpx.ByteStream(b"as is")
    )
    assert [piece async for piece in decoded_body(response)] == [b"as is"]


# --- the whole plugin: convtest.yaml's limits, at concurrency 1 (blocking) and 2 (asyncio) -----------

SUITE = "conversations:\n  - name: flood\n    turns: [{user: hi}]\n"


@pytest.fixture
def endless_bot() -> Iterator[int]:
    """A bot on 127.0.0.1 that answers every turn with text deltas without end; its port."""
    with loop_in_thread() as run:
        raw = RawServer()
        run(raw.start())
        raw.script(Reply(parts=endless(DELTAS, START)))
        try:
            yield raw.port
        finally:
            run(raw.stop())


@pytest.mark.parametrize("concurrency", ["1", "2"])
@pytest.mark.parametrize(
    ("limits", "total", "verdict"),
    [
        # the size limit must come first even on a loaded machine: the deadline is far off
        ("{}", 60, "is larger than limits.max_turn_bytes (16777216 bytes) after "),
        (
            "{max_turn_bytes: 1099511627776, max_events: 1000000000}",
            1,
            "turn not finished within 1.0 s (total timeout)",
        ),
    ],
)
def test_a_flooding_bot_fails_its_conversation_with_a_verdict_and_the_run_ends(
    pytester: pytest.Pytester,
    warm_imports: None,
    quiet_inner_runs: None,
    endless_bot: int,
    concurrency: str,
    limits: str,
    total: int,
    verdict: str,
) -> None:
    pytester.makefile(
        ".yaml",
        convtest=f"targets:\n  bot:\n    base_url: http://127.0.0.1:{endless_bot}\n"
        f"    timeouts: {{total: {total}}}\n    limits: {limits}\n",
        flood=SUITE,
    )
    result = pytester.runpytest(
        "flood.yaml", "--convtest-target", "bot", "--convtest-concurrency", concurrency
    )

    result.assert_outcomes(failed=1)
    assert verdict in result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
