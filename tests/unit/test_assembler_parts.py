"""The assembler keeps the parts the ``ai`` client keeps: order, boundaries, ids that repeat,
transient data, null metadata, unusable values and the states of tool calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from convtest.stream import TurnAssembler
from convtest.transcript import (
    DataPart,
    FilePart,
    ReasoningPart,
    Source,
    StepStart,
    TextPart,
    ToolCall,
    TurnTranscript,
)


def assemble(*chunks: dict[str, Any]) -> TurnTranscript:
    assembler = TurnAssembler()
    for chunk in chunks:
        assembler.feed(json.dumps(chunk), 1.0)
    return assembler.transcript


def block(kind: str, block_id: str, *deltas: str) -> list[dict[str, Any]]:
    return [
        {"type": f"{kind}-start", "id": block_id},
        *({"type": f"{kind}-delta", "id": block_id, "delta": delta} for delta in deltas),
        {"type": f"{kind}-end", "id": block_id},
    ]


# --- item 1: a text-start opens a new part, even with an id used before ---------------------------


@pytest.mark.parametrize("with_step", [True, False])
@pytest.mark.parametrize("kind", ["text", "reasoning"])
def test_a_reused_block_id_makes_two_parts(kind: str, with_step: bool) -> None:
    step = [{"type": "start-step"}] if with_step else []
    transcript = assemble(*step, *block(kind, "0", "Let me check."), *block(kind, "0", "Done."))
    blocks = transcript.text_blocks if kind == "text" else transcript.reasoning_blocks
    assert blocks == ["Let me check.", "Done."]
    joined = transcript.text if kind == "text" else transcript.reasoning
    assert joined == "Let me check.\n\nDone."


def test_a_delta_for_an_id_still_open_goes_to_its_latest_part() -> None:
    transcript = assemble(
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "a"},
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "b"},
        {"type": "text-delta", "id": "0", "delta": "c"},
    )
    assert transcript.text_blocks == ["a", "bc"]


def test_an_unended_block_continues_across_start_step_but_not_across_finish_step() -> None:
    # the client clears its open blocks at finish-step only
    transcript = assemble(
        {"type": "start-step"},
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "one "},
        {"type": "start-step"},
        {"type": "text-delta", "id": "0", "delta": "two"},
        {"type": "finish-step"},
        {"type": "text-delta", "id": "0", "delta": "three"},
    )
    assert transcript.text_blocks == ["one two", "three"]


# --- item 2: transient data parts are not stored ---------------------------------------------------


def test_a_transient_chunk_does_not_replace_the_stored_part_with_its_id() -> None:
    transcript = assemble(
        {"type": "data-status", "id": "s", "data": {"state": "loading"}},
        {"type": "data-status", "id": "s", "data": {"state": "done"}, "transient": True},
    )
    assert transcript.data_parts == [DataPart("status", {"state": "loading"}, "s")]
    assert transcript.transient_data == [DataPart("status", {"state": "done"}, "s", transient=True)]
    assert transcript.parts == [DataPart("status", {"state": "loading"}, "s")]


def test_a_transient_chunk_alone_is_no_stored_part_and_a_later_stored_one_is() -> None:
    transcript = assemble(
        {"type": "data-status", "id": "s", "data": 1, "transient": True},
        {"type": "data-status", "id": "s", "data": 2},
    )
    assert transcript.data_parts == [DataPart("status", 2, "s")]


# --- item 3: null metadata ---------------------------------------------------------------------------


@pytest.mark.parametrize("carrier", ["start", "message-metadata", "finish"])
def test_null_message_metadata_keeps_what_was_collected(carrier: str) -> None:
    transcript = assemble(
        {"type": "start", "messageMetadata": {"model": "m", "usage": {"in": 1}}},
        {"type": carrier, "messageMetadata": None},
    )
    assert transcript.message_metadata == {"model": "m", "usage": {"in": 1}}


def test_a_null_value_inside_metadata_still_replaces_its_key() -> None:
    transcript = assemble(
        {"type": "start", "messageMetadata": {"a": 1, "b": 2}},
        {"type": "finish", "messageMetadata": {"a": None}},
    )
    assert transcript.message_metadata == {"a": None, "b": 2}


# --- item 4: an unusable value keeps the turn and the part ---------------------------------------------


def test_a_data_session_with_an_object_keeps_the_turn_and_names_what_is_unusable() -> None:
    transcript = assemble(
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "Hello"},
        {"type": "data-session", "data": {"id": "s-1"}},
    )
    assert transcript.text == "Hello"
    assert transcript.data_parts == [DataPart("session", {"id": "s-1"})]
    assert transcript.session_id is None
    assert transcript.invalid == {
        "session_id": 'event 3 (data-session) has data \'{"id": "s-1"}\', not a string'
    }


def test_a_later_good_data_session_makes_the_session_id_usable_again() -> None:
    transcript = assemble({"type": "data-session", "data": 7}, {"type": "data-session", "data": "s-2"})
    assert (transcript.session_id, transcript.invalid) == ("s-2", {})


def test_a_data_finish_reason_with_a_string_keeps_the_part_and_names_the_reasons_unusable() -> None:
    transcript = assemble({"type": "data-finish-reason", "data": "stop"})
    assert transcript.data_parts == [DataPart("finish-reason", "stop")]
    assert transcript.finish_reason is None
    problem = "event 1 (data-finish-reason) has data '\"stop\"', not an object"
    assert transcript.invalid == {"finish_reason": problem, "raw_finish_reason": problem}


# --- item 5: tool states -------------------------------------------------------------------------------


def test_tool_input_error_on_a_static_tool_keeps_input_none_and_the_raw_input() -> None:
    (call,) = assemble(
        {"type": "tool-input-start", "toolCallId": "c", "toolName": "lookup"},
        {
            "type": "tool-input-error",
            "toolCallId": "c",
            "toolName": "lookup",
            "input": {"id": 5},
            "errorText": "bad",
        },
    ).tool_calls
    assert (call.state, call.input, call.raw_input, call.error) == ("output-error", None, {"id": 5}, "bad")


def test_tool_input_error_on_a_dynamic_tool_keeps_the_input() -> None:
    (call,) = assemble(
        {"type": "tool-input-error", "toolCallId": "c", "toolName": "t", "input": "x", "dynamic": True},
    ).tool_calls
    assert (call.input, call.raw_input, call.error) == ("x", None, "")


@pytest.mark.parametrize(
    ("deltas", "expected"),
    [
        (['{"city": "Os'], {"city": "Os"}),
        (['{"city": "Oslo", "days": [1, 2', ", 3"], {"city": "Oslo", "days": [1, 2, 3]}),
        (['{"ok": tr'], {"ok": True}),
        (['{"n": -'], {}),
        (["{"], {}),
        (["not json"], None),
        ([], None),
    ],
)
def test_input_streamed_and_never_completed_is_parsed_as_partial_json(
    deltas: list[str], expected: Any
) -> None:
    (call,) = assemble(
        {"type": "tool-input-start", "toolCallId": "c", "toolName": "weather"},
        *({"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": delta} for delta in deltas),
    ).tool_calls
    assert (call.state, call.input, call.input_text) == ("input-streaming", expected, "".join(deltas))


def test_a_partial_input_nested_more_than_100_deep_is_none() -> None:
    (call,) = assemble(
        {"type": "tool-input-start", "toolCallId": "c", "toolName": "t"},
        {"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": '{"a": ' + "[" * 150},
    ).tool_calls
    assert (call.input, call.input_text[:6]) == (None, '{"a": ')


def test_text_encoded_input_streams_as_text() -> None:
    (call,) = assemble(
        {"type": "tool-input-start", "toolCallId": "c", "toolName": "shell", "inputEncoding": "text"},
        {"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": "ls -"},
    ).tool_calls
    assert call.input == "ls -"


def test_the_complete_input_wins_over_the_partial_one() -> None:
    (call,) = assemble(
        {"type": "tool-input-start", "toolCallId": "c", "toolName": "t"},
        {"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": '{"a": 1'},
        {"type": "tool-input-available", "toolCallId": "c", "toolName": "t", "input": {"a": 10}},
    ).tool_calls
    assert (call.input, call.input_text) == ({"a": 10}, '{"a": 1')


def test_an_error_after_a_preliminary_output_replaces_it() -> None:
    (call,) = assemble(
        {"type": "tool-output-available", "toolCallId": "c", "output": 1, "preliminary": True},
        {"type": "tool-output-error", "toolCallId": "c", "errorText": "boom"},
    ).tool_calls
    assert (call.state, call.preliminary, call.output, call.error) == ("output-error", False, None, "boom")
    assert call.preliminary_outputs == [1]


# --- parts: order and boundaries -------------------------------------------------------------------------


def test_parts_keep_the_order_and_boundaries_of_the_stream() -> None:
    transcript = assemble(
        {"type": "start", "messageId": "m"},
        {"type": "start-step"},
        *block("reasoning", "r", "Think."),
        *block("text", "0", "Let me check."),
        {"type": "tool-input-available", "toolCallId": "c", "toolName": "lookup", "input": {}},
        {"type": "tool-output-available", "toolCallId": "c", "output": 1},
        {"type": "finish-step"},
        {"type": "start-step"},
        {"type": "source-url", "sourceId": "s", "url": "https://x.example"},
        {"type": "data-card", "data": [1]},
        {"type": "file", "url": "data:,", "mediaType": "text/plain"},
        *block("text", "0", "Done."),
        {"type": "finish-step"},
        {"type": "finish"},
    )
    call = transcript.tool_calls[0]
    assert transcript.parts == [
        StepStart(),
        ReasoningPart("Think."),
        TextPart("Let me check."),
        call,
        StepStart(),
        Source("url", "s", url="https://x.example"),
        DataPart("card", [1]),
        FilePart("data:,", "text/plain"),
        TextPart("Done."),
    ]
    assert transcript.parts[3] is call and call == ToolCall(
        "c", "lookup", input={}, output=1, state="output-available"
    )
    assert transcript.to_dict()["parts"] == [
        {"type": "step-start"},
        {"type": "reasoning", "index": 0},
        {"type": "text", "index": 0},
        {"type": "tool", "index": 0},
        {"type": "step-start"},
        {"type": "source", "index": 0},
        {"type": "data", "index": 0},
        {"type": "file", "index": 0},
        {"type": "text", "index": 1},
    ]


def test_a_data_part_replaced_by_id_keeps_its_first_place() -> None:
    transcript = assemble(
        {"type": "data-w", "id": "1", "data": "a"},
        *block("text", "0", "x"),
        {"type": "data-w", "id": "1", "data": "b"},
    )
    assert transcript.parts == [DataPart("w", "b", "1"), TextPart("x")]


def test_to_dict_of_a_transcript_without_parts_has_no_parts() -> None:
    data = TurnTranscript(text_blocks=["a"]).to_dict()
    assert (data["parts"], data["text"]) == ([], "a")
