"""The assembler folds a UI message stream into one turn transcript."""

from __future__ import annotations

import json
from typing import Any

import pytest

from convtest.exceptions import ProtocolError
from convtest.stream import SSEDecoder, TurnAssembler
from convtest.transcript import ToolCall, TurnTranscript

# The example response of the Robofy "Send Message (Streaming)" documentation, verbatim.
ROBOFY_EXAMPLE = b"""data: {"type":"start","messageId":"zUqbj2SylMki95Be"}

data: {"type":"start-step"}

data: {"type":"text-start","id":"0"}

data: {"type":"text-delta","id":"0","delta":"Hello"}

data: {"type":"text-delta","id":"0","delta":"! How can I help you today?"}

data: {"type":"text-end","id":"0"}

data: {"type":"finish-step"}

data: {"type":"finish","finishReason":"stop"}

data: {"type":"data-session","data":"6ff922ed-9884-4430-83c9-7ac83a7b0574"}

data: {"type":"data-finish-reason","data":{"finishReason":"stop","rawFinishReason":"STOP"}}

data: [DONE]

"""


def assemble(*chunks: dict[str, Any] | str) -> TurnTranscript:
    """Feed chunks (objects are JSON-encoded) one millisecond apart."""
    assembler = TurnAssembler()
    for number, chunk in enumerate(chunks, start=1):
        assembler.feed(chunk if isinstance(chunk, str) else json.dumps(chunk), float(number))
    return assembler.transcript


def protocol_error(*chunks: dict[str, Any] | str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        assemble(*chunks)
    return info.value


def test_robofy_documentation_example_is_fully_understood() -> None:
    assembler = TurnAssembler()
    for event in SSEDecoder().feed(ROBOFY_EXAMPLE):
        assembler.feed(event.data, 5.0)
    transcript = assembler.transcript

    assert transcript.text == "Hello! How can I help you today?"
    assert transcript.message_id == "zUqbj2SylMki95Be"
    assert transcript.steps == 1
    assert (transcript.finish_reason, transcript.raw_finish_reason) == ("stop", "STOP")
    assert transcript.session_id == "6ff922ed-9884-4430-83c9-7ac83a7b0574"
    assert transcript.done and assembler.done
    assert transcript.unknown_events == [] and transcript.errors == []
    assert assembler.event_count == 11


def test_multi_step_turn_with_a_tool_keeps_text_blocks_apart_although_ids_repeat() -> None:
    transcript = assemble(
        {"type": "start", "messageId": "m"},
        {"type": "start-step"},
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "Let me "},
        {"type": "text-delta", "id": "0", "delta": "check."},
        {"type": "text-end", "id": "0"},
        {"type": "tool-input-start", "toolCallId": "call-1", "toolName": "lookup_order"},
        {"type": "tool-input-delta", "toolCallId": "call-1", "inputTextDelta": '{"order'},
        {"type": "tool-input-delta", "toolCallId": "call-1", "inputTextDelta": '_id":"A7"}'},
        {
            "type": "tool-input-available",
            "toolCallId": "call-1",
            "toolName": "lookup_order",
            "input": {"order_id": "A7"},
        },
        {"type": "tool-output-available", "toolCallId": "call-1", "output": {"status": "shipped"}},
        {"type": "finish-step"},
        {"type": "start-step"},
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "It has shipped."},
        {"type": "text-end", "id": "0"},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": "stop"},
        "[DONE]",
    )

    assert transcript.text_blocks == ["Let me check.", "It has shipped."]
    assert transcript.text == "Let me check.\n\nIt has shipped."
    assert transcript.steps == 2
    assert transcript.tool_calls == [
        ToolCall(
            id="call-1",
            name="lookup_order",
            input={"order_id": "A7"},
            output={"status": "shipped"},
            input_text='{"order_id":"A7"}',
            step=0,
        )
    ]
    assert transcript.unknown_events == []


def test_interleaved_text_blocks_keep_order_of_first_appearance() -> None:
    transcript = assemble(
        {"type": "text-start", "id": "a"},
        {"type": "text-start", "id": "b"},
        {"type": "text-delta", "id": "b", "delta": "second"},
        {"type": "text-delta", "id": "a", "delta": "first"},
    )
    assert transcript.text_blocks == ["first", "second"]


def test_text_delta_without_text_start_opens_the_block() -> None:
    assert assemble({"type": "text-delta", "id": "x", "delta": "hi"}).text == "hi"


def test_tool_calls_are_listed_in_order_of_first_appearance_with_their_step() -> None:
    transcript = assemble(
        {"type": "start-step"},
        {"type": "tool-input-available", "toolCallId": "b", "toolName": "second", "input": {}},
        {"type": "start-step"},
        {"type": "tool-input-start", "toolCallId": "a", "toolName": "first"},
        {"type": "tool-output-available", "toolCallId": "b", "output": 1},
    )
    assert [(call.id, call.name, call.step) for call in transcript.tool_calls] == [
        ("b", "second", 0),
        ("a", "first", 1),
    ]


def test_tool_output_before_its_input_creates_the_call_and_input_names_it_later() -> None:
    transcript = assemble(
        {"type": "tool-output-available", "toolCallId": "c", "output": [1, 2]},
        {"type": "tool-input-available", "toolCallId": "c", "toolName": "count", "input": {"n": 2}},
    )
    assert transcript.tool_calls == [ToolCall(id="c", name="count", input={"n": 2}, output=[1, 2])]


def test_output_for_an_unknown_call_has_an_empty_name() -> None:
    transcript = assemble({"type": "tool-output-available", "toolCallId": "c", "output": "x"})
    assert transcript.tool_calls == [ToolCall(id="c", name="", output="x")]


def test_tool_errors_are_recorded_on_the_call() -> None:
    transcript = assemble(
        {
            "type": "tool-input-error",
            "toolCallId": "i",
            "toolName": "t",
            "input": "{bad",
            "errorText": "bad json",
        },
        {"type": "tool-input-available", "toolCallId": "o", "toolName": "u", "input": {}},
        {"type": "tool-output-error", "toolCallId": "o", "errorText": "backend down"},
    )
    assert [(call.name, call.input, call.error) for call in transcript.tool_calls] == [
        ("t", "{bad", "bad json"),
        ("u", {}, "backend down"),
    ]


def test_error_chunks_are_collected_in_order() -> None:
    transcript = assemble(
        {"type": "error", "errorText": "rate limited"}, {"type": "error", "errorText": "again"}
    )
    assert transcript.errors == ["rate limited", "again"]


def test_finish_reason_can_come_from_data_finish_reason_alone() -> None:
    transcript = assemble(
        {"type": "data-finish-reason", "data": {"finishReason": "length", "rawFinishReason": "MAX_TOKENS"}}
    )
    assert (transcript.finish_reason, transcript.raw_finish_reason) == ("length", "MAX_TOKENS")


@pytest.mark.parametrize("finish_first", [True, False])
def test_finish_chunk_wins_over_data_finish_reason(finish_first: bool) -> None:
    finish = {"type": "finish", "finishReason": "tool-calls"}
    data = {"type": "data-finish-reason", "data": {"finishReason": "stop", "rawFinishReason": "STOP"}}
    transcript = assemble(*((finish, data) if finish_first else (data, finish)))
    assert (transcript.finish_reason, transcript.raw_finish_reason) == ("tool-calls", "STOP")


def test_unknown_and_unmodelled_chunks_are_kept_verbatim_in_order() -> None:
    kept: list[dict[str, Any]] = [
        {"type": "reasoning-delta", "id": "r", "delta": "hmm"},
        {"type": "data-weather", "data": {"city": "Oslo"}},
        {"type": "source-url", "sourceId": "s", "url": "https://example.org"},
        {"type": "message-metadata", "messageMetadata": {"a": 1}},
        {"type": "abort"},
        {"type": "brand-new-chunk", "x": [1]},
    ]
    transcript = assemble(
        {"type": "text-start", "id": "0"}, *kept, {"type": "text-end", "id": "0"}, {"type": "finish-step"}
    )
    assert transcript.unknown_events == kept


def test_first_token_time_is_taken_at_the_first_non_empty_delta() -> None:
    transcript = assemble(
        {"type": "start"},
        {"type": "text-delta", "id": "0", "delta": ""},
        {"type": "text-delta", "id": "0", "delta": "H"},
        {"type": "text-delta", "id": "0", "delta": "i"},
    )
    assert transcript.timings.first_token_ms == 3.0


def test_done_is_false_until_done_arrives() -> None:
    assembler = TurnAssembler()
    assembler.feed('{"type":"start"}', 0.0)
    assert not assembler.done
    assembler.feed("[DONE]", 0.0)
    assert assembler.done and assembler.transcript.done


def test_malformed_json_names_the_event_and_keeps_the_partial_transcript() -> None:
    error = protocol_error(
        {"type": "text-delta", "id": "0", "delta": "Hel"},
        {"type": "text-delta", "id": "0", "delta": "lo"},
        '{"type":"text-delta","id":"0","delta":"!"',
    )
    assert "event 3 is not valid JSON" in str(error)
    assert '{"type":"text-delta","id":"0","delta":"!"' in str(error)
    assert error.transcript is not None and error.transcript.text == "Hello"


@pytest.mark.parametrize("data", ["[1, 2]", '"text"', "{}", '{"type": 3}', "null"])
def test_event_that_is_not_an_object_with_a_string_type_is_a_protocol_error(data: str) -> None:
    error = protocol_error(data)
    assert 'event 1 is not a JSON object with a string "type"' in str(error)


def test_long_malformed_data_is_truncated_in_the_message() -> None:
    message = str(protocol_error("x" * 5000))
    assert "x" * 200 in message and "x" * 201 not in message
    assert "5000 chars" in message


@pytest.mark.parametrize(
    ("chunk", "problem"),
    [
        ({"type": "text-delta", "id": "0"}, "(text-delta) has no string 'delta'"),
        ({"type": "text-delta", "id": 0, "delta": "x"}, "(text-delta) has no string 'id'"),
        ({"type": "tool-input-start", "toolName": "t"}, "(tool-input-start) has no string 'toolCallId'"),
        ({"type": "data-session", "data": {"id": "s"}}, "(data-session) has no string 'data'"),
        ({"type": "data-finish-reason", "data": "stop"}, "(data-finish-reason) has no object 'data'"),
    ],
)
def test_known_chunk_missing_a_field_it_needs_is_a_protocol_error(
    chunk: dict[str, Any], problem: str
) -> None:
    assert f"event 2 {problem}" in str(protocol_error({"type": "start"}, chunk))
