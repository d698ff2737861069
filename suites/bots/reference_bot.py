"""The reference agent's scripted brain, run in-process through ``adapter: python``.

An example of wrapping an agent of your own: the ``session`` dict convtest hands over lives for
one conversation, so it holds the agent's memory, and the reply is streamed as a generator of
tool calls, reasoning and text chunks, as an LLM agent's would be.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from convtest.adapters.python_target import Finish, Text, ToolCall
from convtest.server.agent import Agent, SessionState

AGENT = Agent.from_file()


def reply(user: str, session: dict[str, Any]) -> Iterator[Text | ToolCall | Finish | dict[str, Any]]:
    """One turn: the agent answers ``user`` from the state of this conversation."""
    state = session.setdefault("state", SessionState())
    answer = AGENT.respond(state, user)
    for step in answer.steps:
        if step.reasoning:
            yield {"reasoning": step.reasoning}  # a dict is a piece of the answer, by the same keys
        for call in step.tool_calls:
            yield ToolCall(call.name, call.input, call.output, call.error)
        if step.text:
            words = step.text.split(" ")
            for index, word in enumerate(words):
                yield Text(word if index == len(words) - 1 else word + " ")
    yield Finish(answer.finish_reason)
