"""Chat completion streams and answers as bytes, for raw servers; and openai targets for tests."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from convtest.adapters.openai_settings import OpenAISettings
from convtest.server.openai_api import reference_settings
from convtest.targets import Target, Timeouts


def event(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return event(
        {
            "id": "c-1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def usage(prompt: int, completion: int) -> bytes:
    return event(
        {
            "id": "c-1",
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
    )


ROLE = chunk({"role": "assistant", "content": ""})
DONE = event("[DONE]")


def text_stream(*pieces: str, finish: str = "stop", tokens: tuple[int, int] = (10, 5)) -> bytes:
    """A whole streamed answer: the role chunk, one content delta per piece, finish, usage, [DONE]."""
    return (
        ROLE
        + b"".join(chunk({"content": piece}) for piece in pieces)
        + chunk({}, finish)
        + usage(*tokens)
        + DONE
    )


def tool_stream(*calls: tuple[str, str, str], tokens: tuple[int, int] = (10, 5)) -> bytes:
    """A streamed answer asking for tools: ``(id, name, arguments)`` each, arguments in two pieces."""
    body = ROLE
    for index, (call_id, name, arguments) in enumerate(calls):
        opening = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        body += chunk({"tool_calls": [opening]})
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            body += chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    return body + chunk({}, "tool_calls") + usage(*tokens) + DONE


def answer(text: str | None, *calls: tuple[str, str, str], finish: str = "stop") -> bytes:
    """A whole non-streamed ``chat.completion``."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, name, arguments in calls
        ]
    document = {
        "id": "c-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    return json.dumps(document).encode()


def openai_target(base_url: str, *, name: str = "gpt", **settings: Any) -> Target:
    """An ``adapter: openai`` target; ``settings`` change the reference agent's tools and handler."""
    return Target(
        name=name,
        adapter="openai",
        base_url=base_url,
        token="tok-123",
        token_env=("OPENAI_API_KEY",),
        timeouts=Timeouts(connect=2.0, first_byte=2.0, idle=2.0, total=10.0),
        settings=dataclasses.replace(reference_settings(), **settings),
    )


def plain_settings(**changes: Any) -> OpenAISettings:
    return OpenAISettings(model="test-model", **changes)
