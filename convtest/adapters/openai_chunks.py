"""One chat completion (one model call) read from OpenAI's wire format, streamed or whole.

Pure and incremental like :mod:`convtest.stream`: :class:`ChunkAssembler` folds the ``data`` of
each server-sent event (``chat.completion.chunk`` objects, then ``[DONE]``) into a
:class:`Completion`, and :func:`completion_from_json` reads a non-streamed ``chat.completion``.
A bad chunk raises :class:`CompletionError` naming what is wrong; knowing nothing of HTTP, both
are tested with plain strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from convtest.stream import DONE, MAX_DEPTH, nested_too_deeply
from convtest.transcript import Usage

__all__ = [
    "ChunkAssembler",
    "Completion",
    "CompletionError",
    "RequestedCall",
    "Usage",
    "completion_from_json",
]


class CompletionError(ValueError):
    """A chunk or answer that is not a chat completion; the message says which part is wrong."""


@dataclass(slots=True)
class RequestedCall:
    """A tool call the model asked for: its ``arguments`` are JSON text, parsed by the adapter."""

    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(slots=True)
class Completion:
    """What one model call answered: text, reasoning, the tool calls it asks for, how it ended."""

    text: str = ""
    reasoning: str = ""
    #: by the ``index`` the server gave each call, in order of first appearance
    calls: dict[int, RequestedCall] = field(default_factory=dict)
    #: OpenAI's own name: ``stop``, ``length``, ``tool_calls``, ``content_filter``...
    finish_reason: str | None = None
    usage: Usage | None = None
    #: ``error.message`` of an error object the server sent instead of a chunk
    errors: list[str] = field(default_factory=list)
    id: str | None = None

    @property
    def tool_calls(self) -> list[RequestedCall]:
        return list(self.calls.values())


class ChunkAssembler:
    """Folds stream chunks into :attr:`completion`; :attr:`done` once ``[DONE]`` has arrived."""

    def __init__(self) -> None:
        self.completion = Completion()
        self.done = False
        #: events read, ``[DONE]`` included: a position for error messages
        self.chunk_count = 0

    def feed(self, data: str) -> None:
        """Take the ``data`` of one event; :class:`CompletionError` for one that is no chunk."""
        self.chunk_count += 1
        if data.strip() == DONE:
            self.done = True
            return
        try:
            chunk = json.loads(data)
        except RecursionError:
            raise CompletionError(
                f"chunk {self.chunk_count} is JSON nested more than {MAX_DEPTH} levels deep"
            ) from None
        except ValueError as exc:
            raise CompletionError(
                f"chunk {self.chunk_count} is not valid JSON ({exc}): {data[:120]!r}"
            ) from None
        if nested_too_deeply(data, chunk):
            raise CompletionError(
                f"chunk {self.chunk_count} is JSON nested more than {MAX_DEPTH} levels deep"
            )
        if not isinstance(chunk, dict):
            raise CompletionError(f"chunk {self.chunk_count} is not a JSON object: {data[:120]!r}")
        self._chunk(chunk)

    def _chunk(self, chunk: dict[str, Any]) -> None:
        completion = self.completion
        if "error" in chunk:
            completion.errors.append(_error_message(chunk["error"]))
            completion.finish_reason = completion.finish_reason or "error"
            return
        completion.id = completion.id or _optional_str(chunk.get("id"))
        if chunk.get("usage") is not None:
            completion.usage = _usage(chunk["usage"], f"chunk {self.chunk_count}")
        for choice in _choices(chunk, f"chunk {self.chunk_count}"):
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise CompletionError(f"chunk {self.chunk_count}: `delta` must be an object, got {delta!r}")
            self._delta(delta)
            if choice.get("finish_reason") is not None:
                completion.finish_reason = str(choice["finish_reason"])

    def _delta(self, delta: dict[str, Any]) -> None:
        where = f"chunk {self.chunk_count}"
        self.completion.text += _text(delta, "content", where)
        self.completion.reasoning += _text(delta, "reasoning_content", where) or _text(
            delta, "reasoning", where
        )
        for item in _list(delta.get("tool_calls"), f"{where}: `tool_calls`"):
            self._tool_delta(item, where)

    def _tool_delta(self, item: Any, where: str) -> None:
        if (
            not isinstance(item, dict)
            or isinstance(item.get("index"), bool)
            or not isinstance(item.get("index"), int)
        ):
            raise CompletionError(f"{where}: a `tool_calls` entry needs a whole-number `index`, got {item!r}")
        call = self.completion.calls.setdefault(item["index"], RequestedCall())
        _merge_call(call, item, where)


def completion_from_json(data: Any) -> Completion:
    """A whole ``chat.completion`` answer: the first choice's ``message``, ``finish_reason`` and ``usage``."""
    if not isinstance(data, dict):
        raise CompletionError(f"the answer is not a JSON object but {type(data).__name__}")
    completion = Completion(id=_optional_str(data.get("id")))
    if "error" in data and "choices" not in data:
        completion.errors.append(_error_message(data["error"]))
        completion.finish_reason = "error"
        return completion
    choices = _choices(data, "the answer")
    if not choices:
        raise CompletionError("the answer has no `choices`")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise CompletionError(f"`choices[0].message` must be an object, got {message!r}")
    completion.text = _text(message, "content", "`choices[0].message`")
    completion.reasoning = _text(message, "reasoning_content", "`choices[0].message`")
    for index, item in enumerate(_list(message.get("tool_calls"), "`choices[0].message.tool_calls`")):
        if not isinstance(item, dict):
            raise CompletionError(f"`choices[0].message.tool_calls[{index}]` must be an object, got {item!r}")
        _merge_call(completion.calls.setdefault(index, RequestedCall()), item, "the answer")
    reason = choices[0].get("finish_reason")
    completion.finish_reason = None if reason is None else str(reason)
    if data.get("usage") is not None:
        completion.usage = _usage(data["usage"], "the answer")
    return completion


def _merge_call(call: RequestedCall, item: dict[str, Any], where: str) -> None:
    """A call's id and name come once (a repeat is ignored); its arguments come in pieces."""
    function = item.get("function") or {}
    if not isinstance(function, dict):
        raise CompletionError(f"{where}: a tool call's `function` must be an object, got {function!r}")
    call.id = call.id or _optional_str(item.get("id")) or ""
    call.name = call.name or _optional_str(function.get("name")) or ""
    arguments = function.get("arguments")
    if arguments is not None:
        if not isinstance(arguments, str):
            raise CompletionError(f"{where}: a tool call's `arguments` must be a string, got {arguments!r}")
        call.arguments += arguments


def _choices(data: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The first choice only (convtest asks for one); none at all in a usage-only chunk."""
    choices = _list(data.get("choices"), f"{where}: `choices`")
    if choices and not isinstance(choices[0], dict):
        raise CompletionError(f"{where}: `choices[0]` must be an object, got {choices[0]!r}")
    return [choice for choice in choices[:1] if choice.get("index", 0) == 0]


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CompletionError(f"{where} must be a list, got {value!r}")
    return value


def _text(container: dict[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CompletionError(f"{where}: `{key}` must be a string, got {value!r}")
    return value


def _usage(raw: Any, where: str) -> Usage:
    if not isinstance(raw, dict):
        raise CompletionError(f"{where}: `usage` must be an object, got {raw!r}")
    counts = []
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = raw.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise CompletionError(f"{where}: `usage.{key}` must be a whole number, got {value!r}")
        counts.append(value)
    return Usage(*counts)


def _error_message(error: Any) -> str:
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return error if isinstance(error, str) else json.dumps(error)


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
