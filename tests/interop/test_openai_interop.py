"""convtest's ``adapter: openai`` against the official ``openai`` Python package, on the same server.

Both read the reference agent's chat completions, streamed and whole, and run the same tool loop
(the agent's own tools answer the calls). The SDK parses the event stream and every chunk itself;
text, tool calls and their arguments, the finish reason, the number of model calls and the token
usage must come out equal. The package is in the ``[test]`` extra: without it the test is
skipped locally and fails in CI.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from convtest.adapters import Exchange, TurnRequest, create_adapter
from convtest.adapters.transport import new_client
from convtest.server import ReferenceServer
from convtest.server.openai_api import REFERENCE_MODEL, REFERENCE_TOOLS, reference_settings, reference_tool
from convtest.targets import Target
from convtest.transcript import TurnTranscript

CONVERSATIONS = [
    ["Hello"],
    ["Where are orders 1234 and 5678?"],
    ["What is 6 * 7?"],
    ["Is the trail tent in stock?"],
    ["Tell me everything about your company"],
    ["Hi, my name is Ada", "Status of order #5678", "What is my name?", "Where is my order?"],
]


def _openai() -> Any:
    try:
        import openai
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("the `openai` package is not installed; CI installs it with the [test] extra")
        pytest.skip("the `openai` package is not installed (pip install -e '.[test]')")
    return openai


@dataclass
class Turn:
    """One turn as either client saw it."""

    texts: list[str] = field(default_factory=list)
    #: (id, name, arguments as sent, arguments parsed)
    calls: list[tuple[str, str, str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    steps: int = 0
    usage: tuple[int, int, int] = (0, 0, 0)


def from_transcript(transcript: TurnTranscript) -> Turn:
    usage = transcript.usage
    return Turn(
        texts=list(transcript.text_blocks),
        calls=[(c.id, c.name, c.input_text, c.input) for c in transcript.tool_calls],
        finish_reason=transcript.raw_finish_reason,
        steps=transcript.steps,
        usage=(0, 0, 0) if usage is None else (usage.input_tokens, usage.output_tokens, usage.total_tokens),
    )


class OfficialClient:
    """A plain tool loop on the ``openai`` package, as a team would write one."""

    def __init__(self, server: ReferenceServer, stream: bool) -> None:
        openai = _openai()
        self.client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.token, max_retries=0)
        self.stream = stream
        self.tools = [tool.to_openai() for tool in REFERENCE_TOOLS]

    def turn(self, messages: list[dict[str, Any]]) -> Turn:
        seen = Turn()
        while True:
            text, calls, finish, usage = self._call(messages)
            seen.steps += 1
            seen.finish_reason = finish
            seen.usage = tuple(a + b for a, b in zip(seen.usage, usage, strict=True))  # type: ignore[assignment]
            if text:
                seen.texts.append(text)
            if not calls:
                messages.append({"role": "assistant", "content": text})
                return seen
            seen.calls += [(i, n, a, json.loads(a) if a else {}) for i, n, a in calls]
            messages.append(
                {
                    "role": "assistant",
                    "content": text or None,
                    "tool_calls": [
                        {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                        for i, n, a in calls
                    ],
                }
            )
            for call_id, name, arguments in calls:
                messages.append({"role": "tool", "tool_call_id": call_id, "content": _run(name, arguments)})

    def _call(
        self, messages: list[dict[str, Any]]
    ) -> tuple[str, list[tuple[str, str, str]], str, tuple[int, ...]]:
        create = self.client.chat.completions.create
        if not self.stream:
            completion = create(model=REFERENCE_MODEL, messages=messages, tools=self.tools)
            choice = completion.choices[0]
            calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
            return choice.message.content or "", calls, choice.finish_reason, _usage(completion.usage)
        text, finish, usage = "", "", (0, 0, 0)
        parts: dict[int, list[str]] = {}
        stream = create(
            model=REFERENCE_MODEL,
            messages=messages,
            tools=self.tools,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.usage is not None:
                usage = _usage(chunk.usage)
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
                for delta in choice.delta.tool_calls or []:
                    part = parts.setdefault(delta.index, ["", "", ""])
                    function = delta.function
                    part[0] = part[0] or delta.id or ""
                    part[1] = part[1] or (function.name if function and function.name else "")
                    part[2] += function.arguments if function and function.arguments else ""
        return text, [(i, n, a) for i, n, a in parts.values()], finish, usage


def _usage(usage: Any) -> tuple[int, int, int]:
    return (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


def _run(name: str, arguments: str) -> str:
    try:
        return json.dumps(reference_tool(name, json.loads(arguments) if arguments else {}))
    except Exception as exc:  # the agent's failing tool: the model is told, as convtest does
        return json.dumps({"error": f"{type(exc).__name__}: {exc}"})


async def convtest_turns(target: Target, conversation: list[str]) -> list[Turn]:
    history: list[Exchange] = []
    async with new_client(verify=False, trust_env=False) as client:
        adapter = create_adapter(target, client)
        for user in conversation:
            transcript = await adapter.send_turn(TurnRequest(user, None, history=tuple(history)))
            history.append(Exchange(user, transcript))
    return [from_transcript(exchange.transcript) for exchange in history]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=lambda turns: turns[0])
def test_convtest_reads_what_the_openai_package_reads(
    reference_server: ReferenceServer, conversation: list[str], stream: bool
) -> None:
    official = OfficialClient(reference_server, stream)
    messages: list[dict[str, Any]] = []
    expected = []
    for user in conversation:
        messages.append({"role": "user", "content": user})
        expected.append(official.turn(messages))

    target = Target(
        name="interop",
        adapter="openai",
        base_url=f"{reference_server.url}/v1",
        token=reference_server.token,
        settings=dataclasses.replace(reference_settings(), stream=stream),
    )
    seen = asyncio.run(convtest_turns(target, conversation))

    assert seen == expected
    assert any(turn.texts for turn in seen) and all(turn.usage[2] > 0 for turn in seen)
