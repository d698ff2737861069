"""The reference agent against hostile clients on 127.0.0.1: it answers them and stays up for others."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from convtest.server import DEFAULT_TOKEN, ReferenceServer
from convtest.server.app import CHAT_PATH, HANDSHAKE_PATH, STREAM_PATH

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


def chat_body(query: str) -> dict[str, Any]:
    return {"query": query, "pid": "proj-1", "chatbot_id": "bot-1", "user_context": {"platform": "web"}}


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
