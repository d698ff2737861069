"""Chat completion chunks -> one completion: text, tool calls by index, finish reason, usage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from convtest.adapters.openai_chunks import (
    ChunkAssembler,
    Completion,
    CompletionError,
    RequestedCall,
    completion_from_json,
)
from convtest.stream import SSEDecoder
from convtest.transcript import Usage


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> str:
    body: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m", **extra}
    if delta is not None or finish is not None:
        body["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    return json.dumps(body, ensure_ascii=False)


def call_delta(index: int, *, arguments: str, call_id: str | None = None, name: str | None = None) -> str:
    item: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id is not None:
        item.update(id=call_id, type="function")
        item["function"]["name"] = name
    return chunk({"tool_calls": [item]})


#: two calls whose argument pieces interleave, the way parallel tool calls stream
TOOL_STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning_content": "Two orders, "}),
    chunk({"reasoning_content": "two lookups."}),
    call_delta(0, call_id="call_a", name="lookup_order", arguments=""),
    call_delta(1, call_id="call_b", name="lookup_order", arguments='{"order'),
    call_delta(0, arguments='{"order_id": '),
    call_delta(1, arguments='_id": "5678"}'),
    call_delta(0, arguments='"1234"}'),
    chunk({}, "tool_calls"),
    chunk(choices=[], usage={"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}),
    "[DONE]",
]


def assemble(events: list[str]) -> ChunkAssembler:
    assembler = ChunkAssembler()
    for data in events:
        assembler.feed(data)
    return assembler


def test_tool_call_deltas_are_joined_by_index_with_arguments_concatenated() -> None:
    assembler = assemble(TOOL_STREAM)
    completion = assembler.completion
    assert assembler.done and assembler.chunk_count == len(TOOL_STREAM)
    assert completion.tool_calls == [
        RequestedCall("call_a", "lookup_order", '{"order_id": "1234"}'),
        RequestedCall("call_b", "lookup_order", '{"order_id": "5678"}'),
    ]
    assert completion.reasoning == "Two orders, two lookups."
    assert (completion.text, completion.finish_reason) == ("", "tool_calls")
    assert completion.usage == Usage(12, 30, 42)


def test_content_deltas_make_the_text_and_a_missing_usage_stays_none() -> None:
    completion = assemble(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Grüße "}),
            chunk({"content": "😀"}),
            chunk({}, "stop"),
            "[DONE]",
        ]
    ).completion
    assert (completion.text, completion.finish_reason, completion.usage) == ("Grüße 😀", "stop", None)
    assert completion.id == "chatcmpl-1"


def test_a_repeated_id_or_name_in_later_deltas_is_not_doubled() -> None:
    completion = assemble(
        [
            call_delta(0, call_id="c1", name="calc", arguments='{"a"'),
            call_delta(0, call_id="c1", name="calc", arguments=": 1}"),
        ]
    ).completion
    assert completion.tool_calls == [RequestedCall("c1", "calc", '{"a": 1}')]


def test_an_error_object_in_the_stream_is_kept_as_an_error() -> None:
    completion = assemble(
        [chunk({"content": "Hel"}), json.dumps({"error": {"message": "overloaded"}}), "[DONE]"]
    ).completion
    assert (completion.text, completion.errors, completion.finish_reason) == ("Hel", ["overloaded"], "error")


def test_the_stream_decodes_the_same_at_every_split_point() -> None:
    stream = "".join(f"data: {data}\n\n" for data in TOOL_STREAM).encode()
    expected = assemble(TOOL_STREAM).completion
    for cut in range(len(stream) + 1):
        decoder, assembler = SSEDecoder(), ChunkAssembler()
        for part in (stream[:cut], stream[cut:]):
            for event in decoder.feed(part):
                assembler.feed(event.data)
        assert assembler.done and assembler.completion == expected, f"split at byte {cut}"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ('{"choices": [{"delta": {"content": "oops', "chunk 1 is not valid JSON"),
        ("[1, 2]", "chunk 1 is not a JSON object"),
        (chunk({"content": 7}), "chunk 1: `content` must be a string, got 7"),
        (chunk({"tool_calls": [{"function": {"arguments": "{}"}}]}), "needs a whole-number `index`"),
        (
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": {"a": 1}}}]}),
            "`arguments` must be a string",
        ),
        (chunk(choices=[], usage={"prompt_tokens": "12"}), "`usage.prompt_tokens` must be a whole number"),
        (json.dumps({"choices": {"index": 0}}), "chunk 1: `choices` must be a list"),
        ('{"a": ' * 150 + "1" + "}" * 150, "chunk 1 is JSON nested more than 100 levels deep"),
        ("[" * 5000 + "]" * 5000, "chunk 1 is JSON nested more than 100 levels deep"),
    ],
)
def test_a_chunk_that_is_not_a_completion_chunk_is_named(data: str, problem: str) -> None:
    with pytest.raises(CompletionError) as info:
        ChunkAssembler().feed(data)
    assert problem in str(info.value)


ANSWER = {
    "id": "chatcmpl-9",
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "calculate", "arguments": '{"expression":"6 * 7"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
}


def test_a_whole_answer_gives_the_same_completion_as_a_stream_would() -> None:
    assert completion_from_json(ANSWER) == Completion(
        calls={0: RequestedCall("call_1", "calculate", '{"expression":"6 * 7"}')},
        finish_reason="tool_calls",
        usage=Usage(5, 7, 12),
        id="chatcmpl-9",
    )


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ([], "the answer is not a JSON object but list"),
        ({"choices": []}, "the answer has no `choices`"),
        ({"choices": [{"message": "hi"}]}, "`choices[0].message` must be an object"),
        ({"choices": [{"message": {"content": ["a"]}}]}, "`content` must be a string"),
    ],
)
def test_a_whole_answer_that_is_not_a_completion_is_named(answer: Any, problem: str) -> None:
    with pytest.raises(CompletionError) as info:
        completion_from_json(answer)
    assert problem in str(info.value)


def test_an_error_answer_is_an_error_not_a_missing_choice() -> None:
    completion = completion_from_json({"error": {"message": "model not found"}})
    assert (completion.errors, completion.finish_reason) == (["model not found"], "error")
