"""The reference agent against hostile clients on 127.0.0.1: it answers them and stays up for others."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from convtest.cli import main
from convtest.server import DEFAULT_TOKEN, ReferenceServer
from convtest.server.app import CHAT_PATH, HANDSHAKE_PATH, STREAM_PATH

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
MIB = 1024 * 1024
ROOT = Path(__file__).parents[2]


def chat_body(query: str) -> dict[str, Any]:
    return {"query": query, "pid": "proj-1", "chatbot_id": "bot-1", "user_context": {"platform": "web"}}


def head(path: str, *lines: str) -> bytes:
    """A request head for 127.0.0.1 with the reference token, ``lines`` added as headers."""
    fields = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {DEFAULT_TOKEN}", *lines]
    return ("\r\n".join(fields) + "\r\n\r\n").encode()


def exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes and read until the server closes; a socket timeout if it never does."""
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            received += chunk
    return bytes(received)


def status_and_json(raw: bytes) -> tuple[int, Any]:
    """The status code and JSON body of one raw HTTP/1.1 response framed by Content-Length."""
    head_bytes, _, body = raw.partition(b"\r\n\r\n")
    return int(head_bytes.split(b" ")[1]), json.loads(body)


def chunked(*pieces: bytes) -> bytes:
    """Pieces in chunked framing, without the last chunk: the body has not ended yet."""
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)


def too_large(limit: int) -> dict[str, Any]:
    detail = f"Request body exceeds the limit of {limit} bytes."
    return {"message": "Payload Too Large", "error": {"code": "PAYLOAD_TOO_LARGE", "detail": detail}}


@contextmanager
def served(*options: str) -> Iterator[str]:
    """``convtest serve`` in a child process, so a server stuck in C code (a regex holds the GIL)
    cannot also freeze the test's own timeouts; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "convtest.cli", "serve", "--port", "0", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().split()[-1]
    finally:
        process.kill()
        process.communicate(timeout=10)


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer() as running:
        yield running


@pytest.fixture(scope="module")
def client(server: ReferenceServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        yield http


# --- JSON nested too deeply --------------------------------------------------------------------


@pytest.mark.parametrize("path", [STREAM_PATH, CHAT_PATH, HANDSHAKE_PATH])
def test_a_deeply_nested_body_is_a_400_saying_so(client: httpx.Client, path: str) -> None:
    depth = 100_000
    nested = b'{"query": ' + b"[" * depth + b"]" * depth + b"}"
    response = client.post(path, content=nested, headers=AUTH)
    assert response.status_code == 400
    assert response.json() == {
        "message": "Bad Request",
        "error": {"code": "BAD_REQUEST", "detail": "Request body nests too deeply."},
    }
    assert client.get("/health").status_code == 200


# --- messages that make regexes backtrack ------------------------------------------------------

#: each block kept a pattern busy for time quadratic in its length: 900 KB would have taken hours
ADVERSARIAL = " ".join(
    block * (150_000 // len(block)) for block in ["is ", "check ", "resend ", "how long ", "[[fault:"]
)
FALLBACK = (
    "I'm not sure I understood that. I can help with orders, returns, shipping and simple calculations."
)


def test_a_huge_adversarial_message_is_answered_and_health_answers_meanwhile() -> None:
    """Generous bounds, far from both the second this takes and the hours it took."""
    with served() as url, httpx.Client(base_url=url, timeout=30) as http, ThreadPoolExecutor(1) as pool:
        answer = pool.submit(http.post, STREAM_PATH, json=chat_body(ADVERSARIAL), headers=AUTH)
        health = httpx.get(f"{url}/health", timeout=10)
        response = answer.result(timeout=60)
    assert health.status_code == 200
    assert response.status_code == 200
    texts = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    assert "".join(event["delta"] for event in texts if event["type"] == "text-delta") == FALLBACK


# --- request body size -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [STREAM_PATH, CHAT_PATH, HANDSHAKE_PATH])
def test_a_declared_body_over_one_mib_is_refused_before_it_is_sent(
    server: ReferenceServer, path: str
) -> None:
    """Only the head is sent: the answer cannot wait for the 100 MB it announces."""
    raw = exchange(server.port, head(path, "Content-Type: application/json", "Content-Length: 100000000"))
    assert status_and_json(raw) == (413, too_large(MIB))
    assert b"\r\nconnection: close\r\n" in raw.lower()


def test_a_chunked_body_is_refused_once_its_bytes_pass_the_limit() -> None:
    """The chunked body never ends; the server must count what it read instead of waiting."""
    with ReferenceServer(max_body_bytes=1000) as small:
        request = head(STREAM_PATH, "Transfer-Encoding: chunked") + chunked(*[b"x" * 100] * 11)
        assert status_and_json(exchange(small.port, request)) == (413, too_large(1000))


def test_a_body_of_exactly_the_limit_is_served_and_one_byte_more_is_not() -> None:
    body = json.dumps(chat_body("hi")).encode()
    with ReferenceServer(max_body_bytes=len(body)) as exact, httpx.Client(base_url=exact.url) as http:
        assert http.post(STREAM_PATH, content=body, headers=AUTH).status_code == 200
        padded = head(STREAM_PATH, f"Content-Length: {len(body) + 1}")
        assert status_and_json(exchange(exact.port, padded)) == (413, too_large(len(body)))


def test_a_body_limit_below_one_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="max_body_bytes must be at least 1"):
        ReferenceServer(max_body_bytes=0)


def test_cli_serve_passes_max_body_bytes_to_the_server() -> None:
    with served("--max-body-bytes", "50") as url:
        response = httpx.post(f"{url}{HANDSHAKE_PATH}", json={"pid": "p" * 60}, headers=AUTH)
    assert (response.status_code, response.json()) == (413, too_large(50))


def test_cli_serve_refuses_a_max_body_bytes_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--max-body-bytes", "0"]) == 2
    assert capsys.readouterr().err == "convtest serve: --max-body-bytes must be at least 1, got 0\n"


# --- slow and numerous connections ---------------------------------------------------------------

UNFINISHED_HEAD = head(STREAM_PATH, "X-Padding: " + "p" * 500)[:-2]


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (nothing it sent is pending), waiting up to its timeout."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture(scope="module")
def impatient() -> Iterator[ReferenceServer]:
    with ReferenceServer(header_timeout=0.5) as running:
        yield running


@pytest.mark.parametrize("sent", [b"", UNFINISHED_HEAD[:40]], ids=["nothing", "half a head"])
def test_a_connection_without_a_whole_head_is_closed_after_the_header_timeout(
    impatient: ReferenceServer, sent: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as sock:
        sock.sendall(sent)
        assert closed_by_server(sock)


@pytest.mark.parametrize("first_request", [False, True], ids=["new connection", "kept-alive connection"])
def test_a_head_sent_byte_by_byte_is_cut_off(impatient: ReferenceServer, first_request: bool) -> None:
    """Each byte comes well within the timeout; the whole head would take 30 s."""
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as sock:
        if first_request:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        sock.settimeout(0.05)
        for byte in UNFINISHED_HEAD:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            pytest.fail("the server read the whole slow head without closing the connection")


def test_the_header_timeout_does_not_cut_a_slow_answer(impatient: ReferenceServer) -> None:
    with httpx.Client(base_url=impatient.url, timeout=10) as http:
        response = http.post(
            STREAM_PATH, json=chat_body("hi"), headers=AUTH | {"X-Convtest-Fault": "stall:1000"}
        )
        assert response.status_code == 200
        assert response.text.endswith("data: [DONE]\n\n")
        assert http.get("/health").status_code == 200


def test_connections_over_the_cap_get_a_503_and_are_closed() -> None:
    with ReferenceServer(max_connections=3) as capped:
        address = ("127.0.0.1", capped.port)
        held = [socket.create_connection(address, timeout=10) for _ in range(3)]
        try:
            refused = exchange(capped.port, b"")
            held[0].sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            served = held[0].recv(65536)
        finally:
            for sock in held:
                sock.close()
    detail = "The server already has 3 connections open (max_connections)."
    error = {"code": "TOO_MANY_CONNECTIONS", "detail": detail}
    assert status_and_json(refused) == (503, {"message": "Service Unavailable", "error": error})
    assert served.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"header_timeout": 0}, "header_timeout must be more than 0 seconds, got 0"),
        ({"max_connections": 0}, "max_connections must be at least 1, got 0"),
    ],
)
def test_connection_limits_out_of_range_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReferenceServer(**options)


def test_a_client_leaving_halfway_through_its_body_logs_no_traceback(
    server: ReferenceServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR), socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head(STREAM_PATH, "Content-Length: 100") + b'{"query": "h')
    time.sleep(0.5)  # an error would be logged as soon as the server sees the disconnect
    assert [record.getMessage() for record in caplog.records] == []
