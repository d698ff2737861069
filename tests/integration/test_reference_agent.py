"""The reference agent over real HTTP on 127.0.0.1: wire format, auth, sessions, faults, timing."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from convtest.cli import main
from convtest.server import DEFAULT_TOKEN, ReferenceServer
from convtest.server.app import HANDSHAKE_PATH

PATH = "/v1/ai-agent/chat/stream"
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
GREETING = "Hello! How can I help you today?"
SHIPPED_1234 = (
    "Your order 1234 has shipped and is on its way with UPS. The tracking number is ZX81TRACK. "
    "It should arrive by 2026-12-02."
)
#: what the lookup_order tool answers for order 1234
ORDER_1234 = {
    "found": True,
    "order_id": "1234",
    "status": "shipped",
    "carrier": "UPS",
    "tracking_number": "ZX81TRACK",
    "eta": "2026-12-02",
}
#: a text-only reply, with runs of text-delta squashed to one entry
TEXT_SEQUENCE = [
    "start",
    "start-step",
    "text-start",
    "text-delta",
    "text-end",
    "finish-step",
    "finish",
    "data-session",
    "data-finish-reason",
]
ROOT = Path(__file__).parents[2]


@dataclass
class Stream:
    """One response as the client saw it: each ``data:`` payload with its arrival time."""

    status: int
    headers: httpx.Headers
    body: bytes = b""
    #: (seconds since the request was sent, payload) for every ``data:`` line, ``[DONE]`` included
    data: list[tuple[float, str]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    #: bytes of an event not complete yet
    pending: bytes = b""

    def feed(self, chunk: bytes, at: float) -> None:
        """Split complete events out of the bytes so far; UTF-8 is decoded per complete event."""
        self.body += chunk
        *blocks, self.pending = (self.pending + chunk).split(b"\n\n")
        for block in blocks:
            for line in block.decode("utf-8").split("\n"):
                if line.startswith("data: "):
                    self.data.append((at, line[len("data: ") :]))
                elif line.startswith(":"):
                    self.comments.append(line)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(payload) for _, payload in self.data if payload != "[DONE]"]

    @property
    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    @property
    def done(self) -> bool:
        return bool(self.data) and self.data[-1][1] == "[DONE]"

    @property
    def text(self) -> str:
        return "".join(event["delta"] for event in self.events if event["type"] == "text-delta")

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]

    def arrival(self, kind: str) -> float:
        """When the first event of ``kind`` arrived."""
        return next(
            at for at, payload in self.data if payload != "[DONE]" and json.loads(payload)["type"] == kind
        )


def squash(types: list[str]) -> list[str]:
    """Collapse runs of the same delta type, whose count depends on the reply text."""
    return [t for i, t in enumerate(types) if not (t.endswith("-delta") and i and types[i - 1] == t)]


def chat_body(query: str, session_id: str | None = None) -> dict[str, Any]:
    context = {"platform": "web"} | ({"session_id": session_id} if session_id else {})
    return {"query": query, "pid": "proj-1", "chatbot_id": "bot-1", "user_context": context}


def post(
    client: httpx.Client,
    query: str = "hi",
    *,
    session_id: str | None = None,
    fault: str | None = None,
    headers: dict[str, str] | None = None,
) -> Stream:
    """Send one message and read the stream as it arrives, timestamping each event."""
    sent_headers = AUTH | ({"X-Convtest-Fault": fault} if fault else {}) | (headers or {})
    started = time.perf_counter()
    with client.stream("POST", PATH, json=chat_body(query, session_id), headers=sent_headers) as response:
        stream = Stream(response.status_code, response.headers)
        for chunk in response.iter_raw():
            stream.feed(chunk, time.perf_counter() - started)
    return stream


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer() as running:
        yield running


@pytest.fixture(scope="module")
def client(server: ReferenceServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5.0) as http:
        yield http


@pytest.fixture(scope="module")
def slow_server() -> Iterator[ReferenceServer]:
    with ReferenceServer(latency_ms=150, token_latency_ms=40) as running:
        yield running


# --- the documented wire format ----------------------------------------------------------------


def test_health_answers_ok_without_auth(client: httpx.Client) -> None:
    response = client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_server_binds_loopback_on_a_free_port(server: ReferenceServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.port > 0
    assert server.token == DEFAULT_TOKEN


def test_text_reply_streams_the_documented_event_sequence(client: httpx.Client) -> None:
    stream = post(client, "hi")
    assert stream.status == 200
    assert squash(stream.types) == TEXT_SEQUENCE
    assert stream.done
    assert stream.body.endswith(b"data: [DONE]\n\n")
    assert stream.text == GREETING
    assert len(stream.of_type("text-delta")) >= 2
    start, *_, finish, session, finish_reason = stream.events
    assert len(start["messageId"]) == 16
    assert stream.of_type("text-start") == [{"type": "text-start", "id": "0"}]
    assert {event["id"] for event in stream.of_type("text-delta")} == {"0"}
    assert finish == {"type": "finish", "finishReason": "stop"}
    assert uuid.UUID(session["data"]).version == 4
    assert finish_reason == {
        "type": "data-finish-reason",
        "data": {"finishReason": "stop", "rawFinishReason": "STOP"},
    }


def test_stream_headers_are_those_of_a_ui_message_stream(client: httpx.Client) -> None:
    headers = post(client).headers
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert headers["x-vercel-ai-ui-message-stream"] == "v1"


def test_events_are_compact_json_in_raw_utf8(client: httpx.Client) -> None:
    stream = post(client, "¿Hablas español?")
    assert stream.text == "¡Claro! Puedo ayudarte en español. 🙂"
    assert "español".encode() in stream.body
    assert "🙂".encode() in stream.body
    assert b"\\u" not in stream.body
    assert stream.body.startswith(b'data: {"type":"start","messageId":"')


def test_tool_reply_streams_a_tool_step_then_a_text_step(client: httpx.Client) -> None:
    stream = post(client, "where is my order 1234")
    assert squash(stream.types) == [
        "start",
        "start-step",
        "tool-input-start",
        "tool-input-delta",
        "tool-input-available",
        "tool-output-available",
        "finish-step",
        *TEXT_SEQUENCE[1:],
    ]
    assert stream.types.count("tool-input-delta") >= 2
    (started,) = stream.of_type("tool-input-start")
    (available,) = stream.of_type("tool-input-available")
    (output,) = stream.of_type("tool-output-available")
    call_id = started["toolCallId"]
    assert started == {"type": "tool-input-start", "toolCallId": call_id, "toolName": "lookup_order"}
    input_text = "".join(event["inputTextDelta"] for event in stream.of_type("tool-input-delta"))
    assert json.loads(input_text) == available["input"] == {"order_id": "1234"}
    assert available["toolName"] == "lookup_order"
    assert "toolName" not in output
    assert output["output"] == ORDER_1234
    assert stream.text == SHIPPED_1234


def test_two_orders_make_two_calls_with_unique_ids_in_one_step(client: httpx.Client) -> None:
    stream = post(client, "compare orders 1234 and 5678")
    calls = stream.of_type("tool-input-available")
    assert [call["input"] for call in calls] == [{"order_id": "1234"}, {"order_id": "5678"}]
    assert len({call["toolCallId"] for call in calls}) == 2
    first_step = stream.types[: stream.types.index("finish-step")]
    assert first_step.count("tool-output-available") == 2
    assert stream.text.startswith(SHIPPED_1234)


def test_long_answer_finishes_with_length(client: httpx.Client) -> None:
    stream = post(client, "tell me everything about your company")
    assert stream.of_type("finish") == [{"type": "finish", "finishReason": "length"}]
    assert stream.of_type("data-finish-reason")[0]["data"] == {
        "finishReason": "length",
        "rawFinishReason": "MAX_TOKENS",
    }
    assert len(stream.text.split()) >= 60


def test_message_ids_differ_between_responses(client: httpx.Client) -> None:
    ids = {post(client).events[0]["messageId"] for _ in range(3)}
    assert len(ids) == 3


# --- sessions ----------------------------------------------------------------------------------


def session_of(stream: Stream) -> str:
    session: str = stream.of_type("data-session")[0]["data"]
    return session


def test_memory_persists_across_requests_of_one_session(client: httpx.Client) -> None:
    session = session_of(post(client, "Hi, my name is Ana"))
    recall = post(client, "what is my name?", session_id=session)
    assert recall.text == "Your name is Ana."
    assert session_of(recall) == session
    post(client, "order 5678", session_id=session)
    assert post(client, "where is my order?", session_id=session).of_type("tool-input-available")[0][
        "input"
    ] == {"order_id": "5678"}


def test_an_unknown_session_id_is_adopted(client: httpx.Client) -> None:
    session = f"suite-{uuid.uuid4()}"
    intro = post(client, "my name is Bea", session_id=session)
    assert session_of(intro) == session
    assert post(client, "what's my name", session_id=session).text == "Your name is Bea."


def test_sessions_do_not_share_memory(client: httpx.Client) -> None:
    post(client, "my name is Cy", session_id=f"a-{uuid.uuid4()}")
    stream = post(client, "what is my name", session_id=f"b-{uuid.uuid4()}")
    assert stream.text == "I don't know your name yet. What should I call you?"


# --- auth and validation -----------------------------------------------------------------------

UNAUTHORIZED = {
    "message": "Unauthorized",
    "error": {"code": "UNAUTHORIZED", "detail": "Authentication token is missing or invalid."},
}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {DEFAULT_TOKEN}"},
        {"Authorization": ""},
    ],
)
def test_missing_or_wrong_token_is_rejected(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.post(PATH, json=chat_body("hi"), headers=headers)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_a_server_without_token_accepts_anonymous_requests_and_stops_fast() -> None:
    with ReferenceServer(token=None) as open_server:
        response = httpx.post(f"{open_server.url}{PATH}", json=chat_body("hi"))
        assert response.status_code == 200
        started = time.perf_counter()
    assert time.perf_counter() - started < 1.0


def with_query(**changes: Any) -> dict[str, Any]:
    return chat_body("hi") | changes


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"not json", "Request body must be valid JSON."),
        (b"", "Request body must be valid JSON."),
        (b"[1, 2]", "Request body must be a JSON object."),
        ({"pid": "p", "chatbot_id": "c", "user_context": {"platform": "web"}}, "Field 'query' is required."),
        (with_query(query=""), "Field 'query' must not be empty."),
        (with_query(query="   "), "Field 'query' must not be empty."),
        (with_query(query=42), "Field 'query' must be a string."),
        ({"query": "hi", "chatbot_id": "c", "user_context": {"platform": "web"}}, "Field 'pid' is required."),
        ({"query": "hi", "pid": "p", "user_context": {"platform": "web"}}, "Field 'chatbot_id' is required."),
        ({"query": "hi", "pid": "p", "chatbot_id": "c"}, "Field 'user_context' is required."),
        (with_query(user_context="web"), "Field 'user_context' must be an object."),
        (with_query(user_context={}), "Field 'user_context.platform' is required."),
        (with_query(user_context={"platform": 1}), "Field 'user_context.platform' must be a string."),
        (
            with_query(user_context={"platform": "web", "session_id": 7}),
            "Field 'user_context.session_id' must be a string.",
        ),
    ],
)
def test_invalid_body_is_rejected_naming_the_field(
    client: httpx.Client, content: bytes | dict[str, Any], detail: str
) -> None:
    raw = content if isinstance(content, bytes) else json.dumps(content).encode()
    response = client.post(PATH, content=raw, headers=AUTH | {"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"message": "Bad Request", "error": {"code": "BAD_REQUEST", "detail": detail}}


# --- fault switches ----------------------------------------------------------------------------


def test_slow_first_token_delays_only_the_first_text_delta(client: httpx.Client) -> None:
    stream = post(client, fault="slow-first-token:300")
    assert stream.arrival("text-delta") - stream.arrival("start-step") >= 0.29
    assert stream.arrival("start") < 0.25
    assert stream.done and stream.text == GREETING


def test_cut_ends_the_body_after_the_first_text_delta(client: httpx.Client) -> None:
    stream = post(client, fault="cut")
    assert stream.status == 200
    assert stream.types == ["start", "start-step", "text-start", "text-delta"]
    assert not stream.done
    assert b"[DONE]" not in stream.body
    assert stream.body.endswith(b"\n\n")


@pytest.mark.parametrize(
    ("fault", "status", "message", "code"),
    [
        ("status-500", 500, "Internal Server Error", "INTERNAL_SERVER_ERROR"),
        ("status:503", 503, "Service Unavailable", "SERVICE_UNAVAILABLE"),
        ("status:429", 429, "Too Many Requests", "TOO_MANY_REQUESTS"),
    ],
)
def test_status_faults_answer_a_json_error_without_stream(
    client: httpx.Client, fault: str, status: int, message: str, code: str
) -> None:
    response = client.post(PATH, json=chat_body("hi"), headers=AUTH | {"X-Convtest-Fault": fault})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert (body["message"], body["error"]["code"]) == (message, code)
    assert body["error"]["detail"]
    assert response.headers.get("retry-after") == ("1" if status == 429 else None)


def test_malformed_inserts_one_invalid_event_and_carries_on(client: httpx.Client) -> None:
    stream = post(client, fault="malformed")
    payloads = [payload for _, payload in stream.data if payload != "[DONE]"]
    invalid = []
    for index, payload in enumerate(payloads):
        try:
            json.loads(payload)
        except ValueError:
            invalid.append(index)
    assert len(invalid) == 1
    assert json.loads(payloads[invalid[0] - 1])["type"] == "text-delta"
    del stream.data[invalid[0]]
    assert squash(stream.types) == TEXT_SEQUENCE
    assert stream.done and stream.text == GREETING


def test_error_chunk_finishes_with_error_and_still_sends_done(client: httpx.Client) -> None:
    stream = post(client, "order 1234", fault="error-chunk")
    tail = stream.types[stream.types.index("text-delta") :]
    assert tail == ["text-delta", "error", "finish-step", "finish", "data-session", "data-finish-reason"]
    assert stream.of_type("error") == [{"type": "error", "errorText": "Simulated model failure"}]
    assert stream.of_type("finish") == [{"type": "finish", "finishReason": "error"}]
    assert stream.of_type("data-finish-reason")[0]["data"] == {
        "finishReason": "error",
        "rawFinishReason": "ERROR",
    }
    assert stream.done


def test_stall_pauses_after_the_first_text_delta(client: httpx.Client) -> None:
    stream = post(client, fault="stall:300")
    first_delta, following = stream.data[3][0], stream.data[4][0]
    assert json.loads(stream.data[3][1])["type"] == "text-delta"
    assert following - first_delta >= 0.29
    assert stream.done and stream.text == GREETING


def test_no_done_sends_everything_but_done(client: httpx.Client) -> None:
    stream = post(client, fault="no-done")
    assert squash(stream.types) == TEXT_SEQUENCE
    assert not stream.done
    assert b"[DONE]" not in stream.body


def test_hold_open_keeps_the_connection_until_the_client_gives_up(server: ReferenceServer) -> None:
    received: list[str] = []
    timeout = httpx.Timeout(5.0, read=0.5)
    headers = AUTH | {"X-Convtest-Fault": "hold-open"}
    with (
        httpx.Client(base_url=server.url, timeout=timeout) as http,
        pytest.raises(httpx.ReadTimeout),
        http.stream("POST", PATH, json=chat_body("hi"), headers=headers) as response,
    ):
        for line in response.iter_lines():
            if line:
                received.append(line)
    assert "data: [DONE]" not in received
    assert json.loads(received[-1].removeprefix("data: "))["type"] == "data-finish-reason"


def test_stopping_the_server_ends_held_streams_at_once() -> None:
    with ReferenceServer() as own:
        finished = threading.Event()
        body: list[bytes] = []

        def hold() -> None:
            with (
                httpx.Client(base_url=own.url, timeout=10.0) as http,
                http.stream(
                    "POST", PATH, json=chat_body("hi"), headers=AUTH | {"X-Convtest-Fault": "hold-open"}
                ) as response,
            ):
                for chunk in response.iter_raw():
                    body.append(chunk)
                    if b"data-finish-reason" in b"".join(body):
                        finished.set()

        reader = threading.Thread(target=hold, daemon=True)
        reader.start()
        assert finished.wait(5.0)
        started = time.perf_counter()
        own.stop()
        assert time.perf_counter() - started < 1.0
        reader.join(2.0)
        assert not reader.is_alive()
        assert b"[DONE]" not in b"".join(body)


def test_keep_alive_comments_sit_between_events_and_change_nothing(client: httpx.Client) -> None:
    stream = post(client, fault="keep-alive")
    assert stream.comments == [": keep-alive"] * (len(stream.data) - 1)
    assert squash(stream.types) == TEXT_SEQUENCE
    assert stream.done and stream.text == GREETING


def test_unknown_event_adds_two_unknown_chunks_before_finish(client: httpx.Client) -> None:
    stream = post(client, fault="unknown-event")
    index = stream.types.index("finish")
    assert stream.events[index - 2 : index] == [
        {"type": "data-custom-thing", "data": {"x": 1}},
        {"type": "brand-new-chunk", "foo": "bar"},
    ]
    assert stream.done


def test_non_sse_answers_html(client: httpx.Client) -> None:
    response = client.post(PATH, json=chat_body("hi"), headers=AUTH | {"X-Convtest-Fault": "non-sse"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text


def test_fault_phrase_in_the_query_works_and_is_hidden_from_the_agent(client: httpx.Client) -> None:
    stream = post(client, "hi [[fault:no-done]] [[fault:keep-alive]]")
    assert stream.text == GREETING
    assert not stream.done and stream.comments
    response = client.post(PATH, json=chat_body("[[fault:status:503]] hi"), headers=AUTH)
    assert response.status_code == 503


def test_several_faults_combine_from_one_header(client: httpx.Client) -> None:
    stream = post(client, fault="keep-alive, no-done")
    assert stream.comments and not stream.done


@pytest.mark.parametrize(
    ("fault", "detail"),
    [
        (
            "explode",
            "Unknown fault 'explode'. Valid faults: abort, cut, error-chunk, hold-open, keep-alive,"
            " malformed, no-done, non-sse, silent[:ms], slow-first-token[:ms], stall[:ms], status:<code>,"
            " status-500, unknown-event.",
        ),
        ("stall:soon", "Fault 'stall' needs milliseconds between 0 and 600000, got 'soon'."),
        ("cut:5", "Fault 'cut' takes no argument, got '5'."),
        ("status:200", "Fault 'status' needs an HTTP error code from 400 to 599, got '200'."),
    ],
)
def test_bad_fault_is_a_400_naming_it(client: httpx.Client, fault: str, detail: str) -> None:
    response = client.post(PATH, json=chat_body("hi"), headers=AUTH | {"X-Convtest-Fault": fault})
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "BAD_REQUEST", "detail": detail}


# --- artificial latency and concurrency --------------------------------------------------------


def test_latency_comes_before_the_first_delta_and_token_latency_between_deltas(
    slow_server: ReferenceServer,
) -> None:
    with httpx.Client(base_url=slow_server.url, timeout=5.0) as http:
        stream = post(http, "hi")
    deltas = [at for at, payload in stream.data if '"text-delta"' in payload]
    assert deltas[0] - stream.arrival("start") >= 0.145
    assert all(later - earlier >= 0.035 for earlier, later in itertools.pairwise(deltas))
    assert stream.text == GREETING and stream.done


def test_hundreds_of_slow_streams_run_concurrently(slow_server: ReferenceServer) -> None:
    """Plain asyncio sockets, not httpx: its pool, not the server, would be what gets measured."""
    content = json.dumps(chat_body("hi")).encode()
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {DEFAULT_TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(content)}\r\nConnection: close\r\n\r\n"
    ).encode() + content

    async def one() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", slow_server.port)
        writer.write(request)
        response = await reader.read()
        writer.close()
        await writer.wait_closed()
        return response

    async def run_all() -> list[bytes]:
        return await asyncio.gather(*(one() for _ in range(300)))

    started = time.perf_counter()
    responses = asyncio.run(run_all())
    # One stream takes ~0.23 s, so 300 in sequence would take ~70 s.
    assert time.perf_counter() - started < 3.0
    assert all(r.startswith(b"HTTP/1.1 200 ") and b"data: [DONE]\n\n" in r for r in responses)


# --- the command line --------------------------------------------------------------------------


def test_cli_serve_prints_url_and_token_and_exits_cleanly_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "convtest.cli", "serve", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        assert process.stdout.readline().strip() == f"token: {DEFAULT_TOKEN}"
        assert url.startswith("http://127.0.0.1:")
        assert httpx.post(f"{url}{PATH}", json=chat_body("hi"), headers=AUTH).status_code == 200
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=5)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "Traceback" not in stderr


def test_cli_serve_reports_a_busy_port(server: ReferenceServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", str(server.port)]) == 1
    assert f"cannot listen on 127.0.0.1:{server.port}" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_cli_serve_rejects_a_port_out_of_range_in_one_line(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", port]) == 2
    assert capsys.readouterr().err == f"convtest serve: --port must be 0-65535, got {port}\n"


def test_cli_serve_says_the_port_is_in_use_in_one_line(
    server: ReferenceServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", str(server.port)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"convtest serve: cannot listen on 127.0.0.1:{server.port}: "
        "the port is already in use (--port 0 picks a free one)\n"
    )


def test_a_reference_server_on_a_port_out_of_range_fails_naming_it() -> None:
    with pytest.raises(ValueError, match="port must be 0-65535, got 70000"):
        ReferenceServer(port=70000).start()


# --- reasoning, sources, tool errors, abort, silence ---------------------------------------------


def test_arithmetic_streams_reasoning_before_the_tool_call(client: httpx.Client) -> None:
    stream = post(client, "what is 6 * 7")
    assert squash(stream.types)[:6] == [
        "start",
        "start-step",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
        "tool-input-start",
    ]
    reasoning = "".join(event["delta"] for event in stream.of_type("reasoning-delta"))
    assert reasoning.startswith("The user wants 6 * 7 worked out. I'll use the calculator tool")
    assert stream.text == "6 * 7 = 42."


def test_knowledge_answers_cite_their_article_as_a_source_url(client: httpx.Client) -> None:
    stream = post(client, "What is your return policy?")
    assert stream.of_type("source-url") == [
        {
            "type": "source-url",
            "sourceId": "kb-returns",
            "url": "https://help.convtest.example/articles/kb-returns",
            "title": "Return policy",
        }
    ]
    second_step = stream.types[stream.types.index("finish-step") + 1 :]
    assert second_step[:3] == ["start-step", "source-url", "text-start"]


def test_a_failing_tool_streams_tool_output_error_then_an_apology(client: httpx.Client) -> None:
    stream = post(client, "Is the trail tent in stock?")
    (error,) = stream.of_type("tool-output-error")
    (started,) = stream.of_type("tool-input-start")
    assert error == {
        "type": "tool-output-error",
        "toolCallId": started["toolCallId"],
        "errorText": "inventory service unavailable (HTTP 503) while checking 'trail tent'",
    }
    assert not stream.of_type("tool-output-available")
    assert stream.text.startswith("Sorry, I can't check stock right now")


def test_abort_sends_an_abort_chunk_after_the_first_delta_then_done(client: httpx.Client) -> None:
    stream = post(client, fault="abort")
    assert stream.types == ["start", "start-step", "text-start", "text-delta", "abort"]
    assert stream.of_type("abort") == [{"type": "abort", "reason": "Simulated abort"}]
    assert stream.done


def test_silent_holds_back_even_the_headers(client: httpx.Client) -> None:
    started = time.perf_counter()
    stream = post(client, fault="silent:300")
    assert time.perf_counter() - started >= 0.3
    assert stream.status == 200 and stream.done


# --- the non-streaming endpoint and the handshake -----------------------------------------------


def test_the_non_streaming_endpoint_answers_the_default_json_shape(client: httpx.Client) -> None:
    response = client.post("/v1/ai-agent/chat", json=chat_body("where is my order 1234"), headers=AUTH)
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert uuid.UUID(answer.pop("session_id")).version == 4
    assert answer.pop("message_id").startswith("msg")
    assert answer == {
        "text": SHIPPED_1234,
        "finish_reason": "stop",
        "steps": 2,
        "tool_calls": [
            {
                "id": "call_1",
                "name": "lookup_order",
                "input": {"order_id": "1234"},
                "output": ORDER_1234,
            }
        ],
    }


def test_the_non_streaming_endpoint_shares_sessions_and_faults(client: httpx.Client) -> None:
    first = client.post("/v1/ai-agent/chat", json=chat_body("my name is Ada"), headers=AUTH).json()
    second = client.post(
        "/v1/ai-agent/chat", json=chat_body("what is my name", first["session_id"]), headers=AUTH
    )
    assert second.json()["text"] == "Your name is Ada."
    failed = client.post("/v1/ai-agent/chat", json=chat_body("hi [[fault:error-chunk]]"), headers=AUTH).json()
    assert (failed["error"], failed["finish_reason"], failed["text"]) == (
        "Simulated model failure",
        "error",
        "Hello! How",
    )
    cut = client.post("/v1/ai-agent/chat", json=chat_body("hi [[fault:cut]]"), headers=AUTH)
    with pytest.raises(ValueError):
        cut.json()


def test_the_handshake_issues_a_client_token_that_the_chat_accepts(client: httpx.Client) -> None:
    refused = client.post(HANDSHAKE_PATH, json={"pid": "p", "chatbot_id": "c"})
    assert refused.status_code == 401
    bad = client.post(HANDSHAKE_PATH, json={"pid": "p"}, headers=AUTH)
    assert (bad.status_code, bad.json()["error"]["detail"]) == (400, "Field 'chatbot_id' is required.")
    issued = client.post(HANDSHAKE_PATH, json={"pid": "p", "chatbot_id": "c"}, headers=AUTH).json()
    assert issued["token"].startswith("ct_") and issued["expires_in"] == 3600
    bearer = {"Authorization": f"Bearer {issued['token']}"}
    assert post(client, headers=bearer).done
    again = client.post(HANDSHAKE_PATH, json={"pid": "p", "chatbot_id": "c"}, headers=bearer)
    assert again.status_code == 401, "a client token cannot mint more client tokens"


def test_client_tokens_expire_after_their_uses() -> None:
    with ReferenceServer(client_token_uses=1) as limited, httpx.Client(base_url=limited.url) as http:
        token = http.post(HANDSHAKE_PATH, json={"pid": "p", "chatbot_id": "c"}, headers=AUTH).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert http.post(PATH, json=chat_body("hi"), headers=bearer).status_code == 200
        expired = http.post(PATH, json=chat_body("hi"), headers=bearer)
    assert expired.status_code == 401
    assert expired.json()["error"]["detail"] == "Client token expired; obtain a new one from the handshake."
