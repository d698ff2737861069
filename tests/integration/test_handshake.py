"""Client-token auth over real HTTP against the reference agent: one handshake per target,
renewed once on a 401, and a clear verdict when that is not enough."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from convtest.adapters import RobofyAdapter, TurnRequest
from convtest.adapters.robofy_settings import Handshake, RobofySettings
from convtest.adapters.transport import new_client
from convtest.exceptions import HTTPStatusError, ProtocolError, TimeoutError
from convtest.server import ReferenceServer
from convtest.server.app import HANDSHAKE_PATH
from convtest.targets import Target, Timeouts
from convtest.transcript import TurnTranscript

T = TypeVar("T")


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer(token="api-key") as running:
        yield running


def target(server: ReferenceServer, **handshake: Any) -> Target:
    return Target(
        name="widget",
        base_url=server.url,
        token="api-key",
        timeouts=Timeouts(connect=2, first_byte=2, idle=2, total=5),
        settings=RobofySettings(
            pid="p1", chatbot_id="c1", handshake=Handshake(url=server.url + HANDSHAKE_PATH, **handshake)
        ),
    )


#: the transport of the clients :func:`run` makes; every test runs over both
BLOCKING = False


@pytest.fixture(autouse=True, params=["asyncio", "blocking"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "BLOCKING", request.param == "blocking")


def run(make: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with new_client(verify=False, trust_env=False, blocking=BLOCKING) as client:
            return await make(client)

    return asyncio.run(main())


def turns(widget: Target, *queries: str) -> tuple[list[TurnTranscript], RobofyAdapter]:
    async def send(client: httpx.AsyncClient) -> tuple[list[TurnTranscript], RobofyAdapter]:
        adapter = RobofyAdapter(widget, client)
        session, transcripts = None, []
        for query in queries:
            transcript = await adapter.send_turn(TurnRequest(query=query, session_id=session))
            session = transcript.session_id
            transcripts.append(transcript)
        return transcripts, adapter

    return run(send)


def test_one_handshake_serves_every_turn(server: ReferenceServer) -> None:
    transcripts, adapter = turns(target(server), "my name is Ada", "what is my name", "thanks")
    assert transcripts[1].text == "Your name is Ada."
    assert adapter.client_token is not None and adapter.client_token.count == 1


def test_concurrent_first_turns_share_one_handshake(server: ReferenceServer) -> None:
    async def both(client: httpx.AsyncClient) -> RobofyAdapter:
        adapter = RobofyAdapter(target(server), client)
        await asyncio.gather(*(adapter.send_turn(TurnRequest(query="hi", session_id=None)) for _ in range(5)))
        return adapter

    adapter = run(both)
    assert adapter.client_token is not None and adapter.client_token.count == 1


def test_an_expired_client_token_is_renewed_once_and_the_turn_goes_on() -> None:
    with ReferenceServer(token="api-key", client_token_uses=1) as limited:
        transcripts, adapter = turns(target(limited), "my name is Ada", "what is my name")
    assert transcripts[1].text == "Your name is Ada."
    assert adapter.client_token is not None and adapter.client_token.count == 2


def test_a_token_refused_again_after_renewal_is_a_clear_verdict() -> None:
    with ReferenceServer(token="api-key", client_token_uses=0) as useless:
        handshake_url = useless.url + HANDSHAKE_PATH
        with pytest.raises(HTTPStatusError) as info:
            turns(target(useless), "hi")
    message = str(info.value)
    assert info.value.status == 401
    assert (
        f"the client token from the handshake at {handshake_url} was refused, also after renewing it"
        in message
    )
    assert "server says: 'Client token expired; obtain a new one from the handshake.'" in message
    assert info.value.transcript is not None and info.value.transcript.user == "hi"


def test_a_refused_handshake_names_the_token_to_fix(server: ReferenceServer) -> None:
    refused = dataclasses.replace(target(server), token="not-the-key", token_env=("WIDGET_KEY",))
    with pytest.raises(HTTPStatusError) as info:
        turns(refused, "hi")
    assert str(info.value).startswith(
        f"target 'widget': handshake at {server.url}{HANDSHAKE_PATH} failed: HTTP 401"
    )
    assert "the token was rejected (it comes from $WIDGET_KEY)" in str(info.value)
    assert "not-the-key" not in str(info.value)
    assert info.value.transcript is not None and info.value.transcript.user == "hi"


def test_a_handshake_answer_without_the_token_says_where_it_looked(server: ReferenceServer) -> None:
    with pytest.raises(ProtocolError) as info:
        turns(target(server, token_path="data.token"), "hi")
    assert (
        "has no token at `data.token` (auth.handshake.token_path): found nothing in an object with keys"
        in str(info.value)
    )


def test_a_handshake_that_never_answers_ends_at_the_turns_total_timeout() -> None:
    with socket.socket() as listener:  # listens, never accepts: the request is sent, never read
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        widget = Target(
            name="widget",
            base_url=url,
            token="api-key",
            timeouts=Timeouts(connect=2, first_byte=5, idle=5, total=0.4),
            settings=RobofySettings(pid="p1", chatbot_id="c1", handshake=Handshake(url=url + HANDSHAKE_PATH)),
        )

        async def send(client: httpx.AsyncClient) -> TimeoutError:
            with pytest.raises(TimeoutError) as info:
                await RobofyAdapter(widget, client).send_turn(TurnRequest(query="hi", session_id=None))
            return info.value

        start = time.monotonic()
        error = run(send)
        took = time.monotonic() - start
    assert error.kind == "total" and "within 0.4 s (total timeout)" in str(error)
    assert took < 0.4 + 0.75, f"took {took:.2f} s"
