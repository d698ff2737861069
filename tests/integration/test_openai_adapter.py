"""`adapter: openai` over real HTTP on 127.0.0.1: the reference agent's chat completions, and a raw
server that shows exactly what each request carried (the history, the tool results) and plays
answers no well-behaved model gives (endless tool calls, arguments that are not JSON).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openai_helpers import (
    DONE,
    ROLE,
    answer,
    chunk,
    event,
    openai_target,
    plain_settings,
    text_stream,
    tool_stream,
)
from test_robofy_adapter import JSON, RawServer, Reply, serving

from convtest.adapters import Exchange, TurnRequest, create_adapter
from convtest.adapters.openai import ToolLoopError
from convtest.adapters.transport import new_client
from convtest.exceptions import HTTPStatusError, ProtocolError
from convtest.runner import run_conversation
from convtest.server import ReferenceServer
from convtest.suite import load_suite_text
from convtest.transcript import TurnTranscript, Usage

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(verify=False, trust_env=False) as shared:
        yield shared


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    async with serving("asyncio") as raw:
        yield raw


def reference(server: ReferenceServer, **settings: Any) -> Any:
    target = openai_target(f"{server.url}/v1", **settings)
    return dataclasses.replace(target, token=server.token)


def raw_target(server: RawServer, **settings: Any) -> Any:
    return dataclasses.replace(
        openai_target(f"http://127.0.0.1:{server.port}/v1"), settings=plain_settings(**settings)
    )


async def turn(target: Any, client: httpx.AsyncClient, query: str, *history: Exchange) -> TurnTranscript:
    return await create_adapter(target, client).send_turn(TurnRequest(query, None, history=history))


def sent(server: RawServer, index: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = server.requests[index].json()
    return body


# --- against the reference agent --------------------------------------------------------------------


def summary(transcript: TurnTranscript) -> tuple[Any, ...]:
    calls = [(c.id, c.name, c.input, c.output, c.step, c.state) for c in transcript.tool_calls]
    return (
        transcript.text,
        calls,
        transcript.steps,
        transcript.finish_reason,
        transcript.usage,
        transcript.done,
    )


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
async def test_the_tool_loop_runs_to_the_answer_and_records_every_call(
    reference_server: ReferenceServer, client: httpx.AsyncClient, stream: bool
) -> None:
    transcript = await turn(
        reference(reference_server, stream=stream), client, "Where are orders 1234 and 5678?"
    )

    assert transcript.text.startswith("Your order 1234 has shipped")
    assert [(c.name, c.input, c.output["status"], c.step) for c in transcript.tool_calls] == [
        ("lookup_order", {"order_id": "1234"}, "shipped", 0),
        ("lookup_order", {"order_id": "5678"}, "processing", 0),
    ]
    assert (transcript.steps, transcript.finish_reason, transcript.raw_finish_reason) == (2, "stop", "stop")
    assert transcript.usage is not None and transcript.usage.total_tokens > 0
    assert transcript.session_id is None and transcript.done
    timings = transcript.timings
    assert 0 < timings.first_byte_ms <= timings.first_token_ms <= timings.total_ms


async def test_streamed_and_whole_answers_give_the_same_transcript(
    reference_server: ReferenceServer, client: httpx.AsyncClient
) -> None:
    for query in (
        "What is 6 * 7?",
        "Hello",
        "Is the trail tent in stock?",
        "Tell me everything about your company",
    ):
        streamed = await turn(reference(reference_server, stream=True), client, query)
        whole = await turn(reference(reference_server, stream=False), client, query)
        assert summary(streamed) == summary(whole), query


async def test_memory_lives_in_the_history_each_turn_sends(
    reference_server: ReferenceServer, client: httpx.AsyncClient
) -> None:
    suite = load_suite_text(
        "conversations:\n  - name: memory\n    turns:\n"
        "      - {user: 'My name is Ada', expect: {text: {contains: Ada}}}\n"
        "      - {user: 'Where is order 4321?', expect: {tool_calls: [lookup_order]}}\n"
        "      - {user: 'What is my name?', expect: {text: {equals: 'Your name is Ada.'}}}\n"
        "      - user: 'Where is my order?'\n"
        "        expect: {tool_calls: [{name: lookup_order, input: {order_id: '4321'}}]}\n",
        "suites/memory.yaml",
    )
    result = await run_conversation(
        suite.conversations[0], create_adapter(reference(reference_server), client)
    )
    assert result.passed, [turn.failures or turn.error for turn in result.turns]
    assert [turn.transcript.session_id for turn in result.turns if turn.transcript] == [None] * 4


async def test_without_declared_tools_the_agent_answers_without_calling_them(
    reference_server: ReferenceServer, client: httpx.AsyncClient
) -> None:
    transcript = await turn(reference(reference_server, tools=()), client, "Where is order 1234?")
    assert (transcript.tool_calls, transcript.steps) == ([], 1)
    assert "has shipped" in transcript.text


async def test_fixed_tool_results_answer_the_calls(
    reference_server: ReferenceServer, client: httpx.AsyncClient
) -> None:
    settings = {"tool_results": {"lookup_order": {"status": "lost"}}, "tool_handler": None}
    transcript = await turn(reference(reference_server, **settings), client, "Where is order 1234?")
    assert [(c.output, c.state) for c in transcript.tool_calls] == [({"status": "lost"}, "output-available")]


async def test_the_agents_tool_error_reaches_the_transcript(
    reference_server: ReferenceServer, client: httpx.AsyncClient
) -> None:
    transcript = await turn(reference(reference_server), client, "Is the trail tent in stock?")
    [call] = transcript.tool_calls
    assert call.state == "output-error" and call.error is not None and "inventory service" in call.error
    assert transcript.text.startswith("Sorry, I can't check stock")


async def test_a_rejected_key_names_its_env_var_and_the_servers_message(
    reference_server: ReferenceServer, client: httpx.AsyncClient
) -> None:
    target = dataclasses.replace(reference(reference_server), token="wrong")
    with pytest.raises(HTTPStatusError) as info:
        await turn(target, client, "Hello")
    message = str(info.value)
    assert message.startswith("target 'gpt': HTTP 401 from http://127.0.0.1:")
    assert "/v1/chat/completions; the token was rejected (it comes from $OPENAI_API_KEY)" in message
    assert "server says: 'Authentication token is missing or invalid.'" in message


async def test_the_reference_agent_refuses_a_tool_call_left_unanswered(
    reference_server: ReferenceServer,
) -> None:
    messages = [
        {"role": "user", "content": "Where is order 1234?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1_1",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": "{}"},
                }
            ],
        },
    ]
    async with httpx.AsyncClient(trust_env=False) as plain:
        response = await plain.post(
            f"{reference_server.url}/v1/chat/completions",
            headers={"authorization": f"Bearer {reference_server.token}"},
            json={
                "model": "m",
                "messages": messages,
                "tools": [{"type": "function", "function": {"name": "lookup_order"}}],
            },
        )
    assert response.status_code == 400
    assert "responding to each 'tool_call_id'. Missing: 'call_1_1'." in response.json()["error"]["message"]


# --- against a raw server ----------------------------------------------------------------------------


async def test_each_turn_sends_the_system_prompt_history_tool_calls_and_results(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    server.script(
        Reply(parts=[tool_stream(("c1", "lookup_order", '{"order_id": "1234"}'))]),
        Reply(parts=[text_stream("Shipped", ".")]),
        Reply(parts=[text_stream("You asked about 1234.")]),
    )
    target = raw_target(
        server,
        system_prompt="Be brief.",
        tools=openai_target("http://x").settings.tools[:1],  # type: ignore[union-attr]
        tool_results={"lookup_order": {"status": "shipped"}},
        params={"temperature": 0},
    )
    first = await turn(target, client, "Where is 1234?")
    await turn(target, client, "What did I ask?", Exchange("Where is 1234?", first))

    tool_call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "lookup_order", "arguments": '{"order_id": "1234"}'},
    }
    earlier = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is 1234?"},
        {"role": "assistant", "content": None, "tool_calls": [tool_call]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"status": "shipped"}'},
    ]
    assert sent(server, 1)["messages"] == earlier
    assert sent(server, 2)["messages"] == [
        *earlier,
        {"role": "assistant", "content": "Shipped."},
        {"role": "user", "content": "What did I ask?"},
    ]
    body = sent(server, 0)
    assert (body["model"], body["stream"], body["stream_options"], body["temperature"]) == (
        "test-model",
        True,
        {"include_usage": True},
        0,
    )
    assert [tool["function"]["name"] for tool in body["tools"]] == ["lookup_order"]
    headers = server.requests[0].headers
    assert (headers["authorization"], headers["accept"]) == ("Bearer tok-123", "text/event-stream")
    assert server.requests[0].path == "/v1/chat/completions"


async def test_usage_is_summed_over_the_model_calls_of_a_turn(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    server.script(
        Reply(parts=[tool_stream(("c1", "calc", "{}"), tokens=(10, 3))]),
        Reply(parts=[text_stream("Done", tokens=(20, 4))]),
    )
    transcript = await turn(raw_target(server, tool_results={"calc": 1}), client, "go")
    assert transcript.usage == Usage(30, 7, 37)
    assert transcript.to_dict()["usage"] == {"input_tokens": 30, "output_tokens": 7, "total_tokens": 37}


async def test_a_non_streamed_target_sends_no_stream_options(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    server.script(Reply(headers=dict(JSON), parts=[answer("Hi!")]))
    transcript = await turn(raw_target(server, stream=False), client, "Hello")
    assert (transcript.text, transcript.steps, transcript.usage) == ("Hi!", 1, Usage(10, 5, 15))
    assert "stream" not in sent(server) and "stream_options" not in sent(server)
    assert server.requests[0].headers["accept"] == "application/json"


async def test_async_handlers_are_awaited_and_a_raising_one_is_the_tools_error(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    async def handler(name: str, arguments: Any) -> Any:
        await asyncio.sleep(0)
        if name == "broken":
            raise RuntimeError("inventory down")
        return {"echo": arguments}

    server.script(
        Reply(parts=[tool_stream(("a", "echo", '{"x": 1}'), ("b", "broken", ""))]),
        Reply(parts=[text_stream("ok")]),
    )
    transcript = await turn(raw_target(server, tool_handler=handler, tool_handler_name="t:h"), client, "go")

    echo, broken = transcript.tool_calls
    assert (echo.output, echo.state) == ({"echo": {"x": 1}}, "output-available")
    assert (broken.input, broken.error, broken.state) == ({}, "RuntimeError: inventory down", "output-error")
    results = [m for m in sent(server)["messages"] if m["role"] == "tool"]
    assert results == [
        {"role": "tool", "tool_call_id": "a", "content": '{"echo": {"x": 1}}'},
        {"role": "tool", "tool_call_id": "b", "content": '{"error": "RuntimeError: inventory down"}'},
    ]


async def test_more_tool_rounds_than_allowed_is_a_named_verdict(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    server.script(Reply(parts=[tool_stream(("again", "calc", "{}"))]))
    with pytest.raises(ToolLoopError) as info:
        await turn(raw_target(server, tool_results={"calc": 1}, max_tool_rounds=2), client, "loop")

    assert str(info.value) == (
        "target 'gpt': the model still asked for tools after 2 rounds (max_tool_rounds: 2); "
        "last asked for: calc"
    )
    transcript = info.value.transcript
    assert transcript is not None and (transcript.steps, len(transcript.tool_calls)) == (3, 3)
    assert len(server.requests) == 3


async def test_a_tool_nobody_answers_is_a_named_verdict(server: RawServer, client: httpx.AsyncClient) -> None:
    server.script(Reply(parts=[tool_stream(("c1", "refund", "{}"))]))
    with pytest.raises(
        ToolLoopError, match="the model called tool 'refund', which neither `tool_results` nor a"
    ):
        await turn(raw_target(server), client, "refund me")


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
async def test_tool_arguments_that_are_not_json_are_a_protocol_error(
    server: RawServer, client: httpx.AsyncClient, stream: bool
) -> None:
    bad = ("c1", "calc", '{"expression": 6 *')
    reply = (
        Reply(parts=[tool_stream(bad)]) if stream else Reply(headers=dict(JSON), parts=[answer(None, bad)])
    )
    server.script(reply)
    with pytest.raises(ProtocolError) as info:
        await turn(raw_target(server, stream=stream, tool_results={"calc": 1}), client, "6 * ?")

    error = info.value
    assert "bad answer from http://127.0.0.1:" in str(error)
    assert "the arguments of tool call c1 (calc) are not valid JSON" in str(error)
    assert """'{"expression": 6 *'""" in str(error)
    assert error.transcript is not None
    [call] = error.transcript.tool_calls
    assert call.input_text == '{"expression": 6 *' and call.state == "output-error"
    assert len(server.requests) == 1, "a turn whose tool call cannot be read goes no further"


async def test_an_error_object_ends_the_loop_with_the_error_kept(
    server: RawServer, client: httpx.AsyncClient
) -> None:
    error = event({"error": {"message": "context length exceeded", "type": "invalid_request_error"}})
    server.script(Reply(parts=[ROLE + chunk({"content": "Hel"}) + error + DONE]))
    transcript = await turn(raw_target(server), client, "hi")
    assert (transcript.text, transcript.errors, transcript.finish_reason) == (
        "Hel",
        ["context length exceeded"],
        "error",
    )


async def test_the_reference_agent_refuses_a_body_over_its_limit_in_openais_shape() -> None:
    with ReferenceServer(token=None, max_body_bytes=2000) as small:
        async with httpx.AsyncClient(trust_env=False) as plain:
            too_big = {"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]}
            refused = await plain.post(f"{small.url}/v1/chat/completions", json=too_big)
            fits = {"model": "m", "messages": [{"role": "user", "content": "Hello"}]}
            answered = await plain.post(f"{small.url}/v1/chat/completions", json=fits)
    assert refused.status_code == 413
    assert refused.json()["error"]["message"] == "Request body exceeds the limit of 2000 bytes."
    assert answered.json()["choices"][0]["message"]["content"] == "Hello! How can I help you today?"
