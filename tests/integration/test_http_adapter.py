"""``adapter: http`` over real HTTP on 127.0.0.1, against the raw server of the Robofy adapter's
tests: the request as rendered from its templates, the three answer formats split at awkward
places, the session id from the body, a header or a cookie, and every fault verdict."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import socket
from typing import Any

import httpx
import pytest
import test_robofy_adapter as raw
from test_robofy_adapter import JSON, SSE, RawServer, Reply, split

from convtest.adapters import TargetOptions, TurnRequest
from convtest.adapters.http_settings import configure_http
from convtest.adapters.http_target import HTTPAdapter
from convtest.exceptions import (
    ConnectError,
    HTTPStatusError,
    ProtocolError,
    StreamCutError,
    TargetError,
    TimeoutError,
)
from convtest.targets import Target, Timeouts
from convtest.transcript import Exchange, TurnTranscript

pytestmark = pytest.mark.anyio

# the raw server's fixtures: every test runs over both transports, as the Robofy adapter's do
anyio_backend = raw.anyio_backend
transport = raw.transport
server = raw.server
client = raw.client

NDJSON = {"Content-Type": "application/x-ndjson"}
QUICK = Timeouts(connect=2.0, first_byte=2.0, idle=2.0, total=10.0)


def make_target(port: int, options: dict[str, Any], **changes: Any) -> Target:
    base_url = f"http://127.0.0.1:{port}"
    where = "convtest.yaml:2: target 'bot'"
    settings = configure_http(
        TargetOptions(name="bot", where=where, raw=options, base_url=base_url, environ={})
    )
    values: dict[str, Any] = {
        "name": "bot",
        "adapter": "http",
        "base_url": base_url,
        "token": "tok-123",
        "token_env": ("BOT_TOKEN",),
        "settings": settings,
        "timeouts": QUICK,
        **changes,
    }
    return Target(**values)


async def send(
    server: RawServer,
    client: httpx.AsyncClient,
    options: dict[str, Any],
    *replies: Reply,
    request: TurnRequest | None = None,
    **changes: Any,
) -> TurnTranscript:
    server.script(*replies)
    adapter = HTTPAdapter(make_target(server.port, options, **changes), client)
    return await adapter.send_turn(request or TurnRequest(query="Hi there", session_id=None))


async def fails(
    server: RawServer, client: httpx.AsyncClient, options: dict[str, Any], *replies: Reply, **changes: Any
) -> TargetError:
    with pytest.raises(TargetError) as info:
        await send(server, client, options, *replies, **changes)
    return info.value


JSON_TARGET: dict[str, Any] = {
    "request": {
        "method": "PUT",
        "path": "/bots/{{ platform }}/turn/{{ turn }}",
        "headers": {"X-Session": "{{ session_id }}", "X-Static": "yes"},
        "body": {"input": {"text": "{{ user }}"}, "messages": "{{ messages }}", "sid": "{{ session_id }}"},
    },
    "response_fields": {"text": "data.answer", "tool_calls": "data.tools", "finish_reason": "data.end"},
    "session_id": {"header": "X-Next-Session"},
}
EARLIER = Exchange("Hello", TurnTranscript(user="Hello", text_blocks=["Hi! Who are you?"]))


async def test_json_request_is_rendered_from_the_turn_and_the_answer_read_by_paths(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    answer = {"data": {"answer": "Grüße 😀", "end": "stop", "tools": [{"name": "find", "input": {"q": 1}}]}}
    body = json.dumps(answer, ensure_ascii=False).encode()
    reply = Reply(headers={**JSON, "X-Next-Session": "s-2"}, parts=split(body, 10, body.index(b"\xf0") + 2))
    request = TurnRequest(query="I'm Ada", session_id="s-1", platform="app", history=(EARLIER,))
    transcript = await send(server, client, JSON_TARGET, reply, request=request)

    [received] = server.requests
    assert (received.method, received.path) == ("PUT", "/bots/app/turn/2")
    assert (received.headers["x-session"], received.headers["x-static"]) == ("s-1", "yes")
    assert received.headers["authorization"] == "Bearer tok-123"
    assert received.json() == {
        "input": {"text": "I'm Ada"},
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! Who are you?"},
            {"role": "user", "content": "I'm Ada"},
        ],
        "sid": "s-1",
    }
    assert (transcript.text, transcript.finish_reason, transcript.session_id) == ("Grüße 😀", "stop", "s-2")
    assert [(call.name, call.input) for call in transcript.tool_calls] == [("find", {"q": 1})]


async def test_first_turn_sends_no_empty_header_and_an_empty_session_id(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    await send(server, client, JSON_TARGET, Reply(headers=dict(JSON), parts=[b'{"data": {"answer": "hi"}}']))
    [received] = server.requests
    assert "x-session" not in received.headers
    assert received.json()["sid"] == ""


async def test_a_string_body_is_sent_as_written(server: RawServer, client: httpx.AsyncClient) -> None:
    options = {
        "request": {
            "path": "/chat",
            "headers": {"Content-Type": "application/json"},
            "body": '{"q": {{ user | tojson }}, "n": {{ turn }}}',
        }
    }
    await send(server, client, options, Reply(headers=dict(JSON), parts=[b'{"text": "ok"}']))
    [received] = server.requests
    assert received.json() == {"q": "Hi there", "n": 1}
    assert received.headers["content-type"] == "application/json"


SSE_TARGET: dict[str, Any] = {
    "request": {"path": "/stream", "body": {"q": "{{ user }}"}},
    "format": "sse",
    "events": {
        "text": {"path": "data.t", "when": {"event": "token"}},
        "tool_call": {"path": "data", "when": {"event": ["tool", "tool_result"]}},
        "finish_reason": {"path": "data.reason", "when": {"event": "end"}},
        "done": {"when": {"event": "end"}},
    },
    "session_id": {"cookie": "sid"},
}


def sse_events(*events: tuple[str, Any]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode() for name, data in events
    )


SSE_BODY = sse_events(
    ("tool", {"id": "c1", "name": "lookup", "input": {"order": "1234"}}),
    ("tool_result", {"id": "c1", "output": {"status": "shipped"}}),
    ("token", {"t": "Your order "}),
    ("token", {"t": "has shipped 🚚"}),
    ("end", {"reason": "stop"}),
)


async def test_sse_events_are_mapped_by_event_name_whatever_the_split(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    cuts = (7, SSE_BODY.index(b"tool_result") + 3, SSE_BODY.index("🚚".encode()) + 1)
    headers = {**SSE, "Set-Cookie": "sid=cookie-7; Path=/"}
    transcript = await send(server, client, SSE_TARGET, Reply(headers=headers, parts=split(SSE_BODY, *cuts)))

    assert server.requests[0].headers["accept"] == "text/event-stream"
    assert transcript.text == "Your order has shipped 🚚"
    [call] = transcript.tool_calls
    assert (call.name, call.input, call.output, call.state) == (
        "lookup",
        {"order": "1234"},
        {"status": "shipped"},
        "output-available",
    )
    assert (transcript.finish_reason, transcript.session_id, transcript.steps) == ("stop", "cookie-7", 2)
    assert transcript.done
    assert (
        0
        < transcript.timings.first_byte_ms
        <= transcript.timings.first_token_ms
        <= transcript.timings.total_ms
    )


NDJSON_TARGET: dict[str, Any] = {
    "request": {"path": "/ndjson", "body": {"q": "{{ user }}"}},
    "format": "ndjson",
}
NDJSON_BODY = (
    b'{"text": "Hel"}\n\n{"text": "lo"}\r\n{"session_id": "n-1", "finish_reason": "stop"}\n'
    b'{"tool_call": {"name": "t", "input": {}}}\n{"text": "Bye"}'
)


async def test_ndjson_lines_are_read_by_the_default_rules_to_the_end_of_the_body(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    reply = Reply(headers=dict(NDJSON), parts=split(NDJSON_BODY, 3, 17, 40))
    transcript = await send(server, client, NDJSON_TARGET, reply)
    assert transcript.text_blocks == ["Hello", "Bye"]
    assert [call.name for call in transcript.tool_calls] == ["t"]
    assert (transcript.session_id, transcript.finish_reason, transcript.done) == ("n-1", "stop", True)


# --- faults ----------------------------------------------------------------------------------


async def test_connection_refused_names_the_url(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = HTTPAdapter(make_target(port, NDJSON_TARGET), client)
    with pytest.raises(ConnectError) as info:
        await adapter.send_turn(TurnRequest(query="hi", session_id=None))
    assert (
        str(info.value)
        == f"target 'bot': cannot connect to http://127.0.0.1:{port}/ndjson: connection refused"
    )


async def test_rejected_token_names_its_env_var(server: RawServer, client: httpx.AsyncClient) -> None:
    body = b'{"message": "Unauthorized"}'
    error = await fails(
        server, client, SSE_TARGET, Reply("401 Unauthorized", dict(JSON), [body], chunked=False)
    )
    assert isinstance(error, HTTPStatusError) and error.status == 401
    assert str(error).startswith("target 'bot': HTTP 401 from http://127.0.0.1:")
    assert "token was rejected (it comes from $BOT_TOKEN); server says: 'Unauthorized'" in str(error)
    assert "tok-123" not in str(error)


async def test_sse_cut_before_its_done_event_keeps_the_text(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    cut = SSE_BODY[: SSE_BODY.index(b"event: end")]
    error = await fails(server, client, SSE_TARGET, Reply(headers=dict(SSE), parts=[cut], end="close"))
    assert isinstance(error, StreamCutError)
    assert "ended before its done event after 4 events" in str(error)
    assert error.transcript is not None and error.transcript.text == "Your order has shipped 🚚"


async def test_ndjson_cut_mid_line_shows_the_cut_line(server: RawServer, client: httpx.AsyncClient) -> None:
    reply = Reply(headers=dict(NDJSON), parts=[b'{"text": "Hel"}\n{"text": "l'], end="close", chunked=False)
    error = await fails(server, client, NDJSON_TARGET, reply)
    assert isinstance(error, StreamCutError)
    assert "was cut after 1 events" in str(error) and 'last line cut: \'{"text": "l\'' in str(error)
    assert error.transcript is not None and error.transcript.text == "Hel"


@pytest.mark.parametrize(
    ("options", "reply", "verdict", "text"),
    [
        (
            NDJSON_TARGET,
            Reply(headers=dict(NDJSON), parts=[b'{"text": "Hel"}\n{"text": oops}\n']),
            "bad NDJSON stream from http://127.0.0.1:*/ndjson: line 2 is not valid JSON",
            "Hel",
        ),
        (
            SSE_TARGET,
            Reply(
                headers=dict(SSE),
                parts=[sse_events(("token", {"t": "Hel"})) + b"event: token\ndata: {bad\n\n"],
            ),
            "bad event stream from http://127.0.0.1:*/stream: event 2 is not valid JSON",
            "Hel",
        ),
        (
            SSE_TARGET,
            Reply(headers=dict(SSE), parts=[sse_events(("token", {"t": ["not", "text"]}))]),
            "bad event stream from http://127.0.0.1:*/stream: event 1: `data.t` must be a string",
            "",
        ),
        (
            JSON_TARGET,
            Reply(headers=dict(JSON), parts=[b'{"data": {"answer": "cut'], chunked=False),
            "bad answer from http://127.0.0.1:*/bots/web/turn/1: the answer is not valid JSON",
            "",
        ),
        (
            NDJSON_TARGET,
            Reply(headers={"Content-Type": "text/html"}, parts=[b"<html>"], chunked=False),
            "expected ndjson from http://127.0.0.1:*/ndjson, got content type 'text/html'",
            "",
        ),
    ],
    ids=["ndjson-line", "sse-event", "sse-field", "json", "content-type"],
)
async def test_malformed_answers_are_protocol_errors_keeping_what_came_before(
    server: RawServer,
    client: httpx.AsyncClient,
    options: dict[str, Any],
    reply: Reply,
    verdict: str,
    text: str,
) -> None:
    error = await fails(server, client, options, reply)
    assert isinstance(error, ProtocolError)
    assert fnmatch.fnmatch(str(error), f"target 'bot': {verdict}*"), str(error)
    assert error.transcript is not None and error.transcript.text == text


@pytest.mark.parametrize(
    ("reply", "timeouts", "kind", "verdict"),
    [
        (
            Reply(answer=False),
            {"first_byte": 0.2},
            "first_byte",
            "no response from * within 0.2 s of sending (first_byte timeout)",
        ),
        (
            Reply(headers=dict(SSE), parts=[sse_events(("token", {"t": "Hel"}))], end="hang"),
            {"idle": 0.2},
            "idle",
            "no data for 0.2 s (idle timeout) from * after 1 events; text so far: 'Hel'",
        ),
        (
            Reply(headers=dict(SSE), parts=[sse_events(("tool", {"id": "1", "name": "x"}))], end="hang"),
            {"first_token": 0.2},
            "first_token",
            "no text from * within 0.2 s (first_token timeout)*",
        ),
        (
            Reply(headers=dict(SSE), parts=[b": keep-alive\n\n", 0.1] * 20),
            {"total": 0.3},
            "total",
            "turn not finished within 0.3 s (total timeout) at *",
        ),
    ],
    ids=["first_byte", "idle", "first_token", "total"],
)
async def test_each_timeout_names_itself(
    server: RawServer,
    client: httpx.AsyncClient,
    reply: Reply,
    timeouts: dict[str, float],
    kind: str,
    verdict: str,
) -> None:
    error = await fails(server, client, SSE_TARGET, reply, timeouts=dataclasses.replace(QUICK, **timeouts))
    assert isinstance(error, TimeoutError) and error.kind == kind
    assert fnmatch.fnmatch(str(error), f"target 'bot': {verdict}"), str(error)


@pytest.mark.parametrize(
    ("options", "reply", "limits", "verdict"),
    [
        (
            NDJSON_TARGET,
            Reply(headers=dict(NDJSON), parts=[b'{"text": "Hel"}\n{"text": "' + b"x" * 64 + b'"}\n']),
            {"max_event_bytes": 32},
            "line 2 from * is larger than limits.max_event_bytes (32 bytes); raise it in convtest.yaml",
        ),
        (
            SSE_TARGET,
            Reply(headers=dict(SSE), parts=[sse_events(*[("token", {"t": "Hel"})] * 5)]),
            {"max_events": 3},
            "stream from * has more than limits.max_events (3) events; raise it in convtest.yaml",
        ),
        (
            NDJSON_TARGET,
            Reply(headers=dict(NDJSON), parts=[b'{"text": "Hel"}\n', b" " * 200]),
            {"max_turn_bytes": 100},
            "stream from * is larger than limits.max_turn_bytes (100 bytes) after 1 events; raise it*",
        ),
    ],
    ids=["max_event_bytes", "max_events", "max_turn_bytes"],
)
async def test_a_stream_past_the_targets_limits_ends_keeping_what_came_before(
    server: RawServer,
    client: httpx.AsyncClient,
    options: dict[str, Any],
    reply: Reply,
    limits: dict[str, int],
    verdict: str,
) -> None:
    error = await fails(server, client, options, reply, **limits)
    assert isinstance(error, ProtocolError)
    assert fnmatch.fnmatch(str(error), f"target 'bot': {verdict}"), str(error)
    assert error.transcript is not None and error.transcript.text.startswith("Hel")


async def test_a_request_that_renders_to_no_url_is_a_verdict(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    options = {"request": {"url": "{{ session_id }}"}}
    error = await fails(server, client, options, Reply())
    assert (
        str(error) == "target 'bot': cannot build the request: `request.url` rendered '', not an http(s) URL"
    )
    assert not server.requests
