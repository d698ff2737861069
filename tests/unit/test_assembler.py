"""The assembler folds a UI message stream into one turn transcript."""

from __future__ import annotations

import json
from typing import Any

import pytest

from convtest.exceptions import ProtocolError
from convtest.stream import SSEDecoder, TurnAssembler
from convtest.transcript import DataPart, FilePart, Source, ToolCall, TurnTranscript

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
            state="output-available",
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
    assert transcript.tool_calls == [
        ToolCall(id="c", name="count", input={"n": 2}, output=[1, 2], state="input-available")
    ]


def test_output_for_an_unknown_call_has_an_empty_name() -> None:
    transcript = assemble({"type": "tool-output-available", "toolCallId": "c", "output": "x"})
    assert transcript.tool_calls == [ToolCall(id="c", name="", output="x", state="output-available")]


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
    assert [(call.name, call.input, call.raw_input, call.error) for call in transcript.tool_calls] == [
        ("t", None, "{bad", "bad json"),
        ("u", {}, None, "backend down"),
    ]
    assert [call.state for call in transcript.tool_calls] == ["output-error", "output-error"]


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


def test_unknown_chunk_types_are_kept_verbatim_in_order_and_known_ones_are_not() -> None:
    unknown: list[dict[str, Any]] = [{"type": "brand-new-chunk", "x": [1]}, {"type": "tool-result-v9"}]
    transcript = assemble(
        {"type": "text-start", "id": "0"},
        unknown[0],
        {"type": "reasoning-delta", "id": "r", "delta": "hmm"},
        {"type": "data-weather", "data": {"city": "Oslo"}},
        {"type": "source-url", "sourceId": "s", "url": "https://example.org"},
        {"type": "message-metadata", "messageMetadata": {"a": 1}},
        {"type": "abort"},
        unknown[1],
        {"type": "text-end", "id": "0"},
        {"type": "finish-step"},
    )
    assert transcript.unknown_events == unknown


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
        ({"type": "data-weather"}, "(data-weather) has no 'data'"),
        ({"type": "reasoning-delta", "id": "r"}, "(reasoning-delta) has no string 'delta'"),
        ({"type": "source-url", "sourceId": "s"}, "(source-url) has no string 'url'"),
        (
            {"type": "source-document", "sourceId": "s", "title": "t"},
            "(source-document) has no string 'mediaType'",
        ),
        ({"type": "file", "url": "data:,"}, "(file) has no string 'mediaType'"),
        (
            {"type": "tool-approval-request", "toolCallId": "c"},
            "(tool-approval-request) has no string 'approvalId'",
        ),
    ],
)
def test_known_chunk_missing_a_field_it_needs_is_a_protocol_error(
    chunk: dict[str, Any], problem: str
) -> None:
    assert f"event 2 {problem}" in str(protocol_error({"type": "start"}, chunk))


# --- every other chunk of the protocol ---------------------------------------------------------


def test_reasoning_is_kept_apart_from_the_text_in_blocks_per_step() -> None:
    transcript = assemble(
        {"type": "start-step"},
        {"type": "reasoning-start", "id": "0"},
        {"type": "reasoning-delta", "id": "0", "delta": "The user wants "},
        {"type": "reasoning-delta", "id": "0", "delta": "an order."},
        {"type": "reasoning-end", "id": "0"},
        {"type": "finish-step"},
        {"type": "start-step"},
        {"type": "reasoning-delta", "id": "0", "delta": "Now answer."},
        {"type": "text-delta", "id": "0", "delta": "Shipped."},
    )
    assert transcript.reasoning_blocks == ["The user wants an order.", "Now answer."]
    assert transcript.reasoning == "The user wants an order.\n\nNow answer."
    assert transcript.text == "Shipped."


def test_reasoning_does_not_count_as_the_first_token() -> None:
    transcript = assemble(
        {"type": "reasoning-delta", "id": "0", "delta": "thinking"},
        {"type": "text-delta", "id": "0", "delta": "Hi"},
    )
    assert transcript.timings.first_token_ms == 2.0


def test_sources_and_files_are_kept_typed_in_order() -> None:
    transcript = assemble(
        {"type": "source-url", "sourceId": "s1", "url": "https://help.example/returns", "title": "Returns"},
        {
            "type": "source-document",
            "sourceId": "s2",
            "mediaType": "application/pdf",
            "title": "Terms",
            "filename": "terms.pdf",
            "providerMetadata": {"x": {}},
        },
        {"type": "file", "url": "data:image/png;base64,iVBO", "mediaType": "image/png"},
    )
    assert transcript.sources == [
        Source("url", "s1", url="https://help.example/returns", title="Returns"),
        Source("document", "s2", title="Terms", media_type="application/pdf", filename="terms.pdf"),
    ]
    assert transcript.files == [FilePart("data:image/png;base64,iVBO", "image/png")]


def test_data_parts_keep_name_id_data_and_transience_and_an_id_replaces_earlier_data() -> None:
    transcript = assemble(
        {"type": "data-weather", "id": "w1", "data": {"status": "loading"}},
        {"type": "data-notice", "data": "saved", "transient": True},
        {"type": "data-weather", "id": "w1", "data": {"status": "done", "temp": 7}},
        {"type": "data-weather", "id": "w2", "data": {"status": "loading"}},
        {"type": "data-session", "data": "sess-1"},
    )
    assert transcript.data_parts == [
        DataPart("weather", {"status": "done", "temp": 7}, "w1"),
        DataPart("weather", {"status": "loading"}, "w2"),
        DataPart("session", "sess-1"),
    ]
    assert transcript.transient_data == [DataPart("notice", "saved", transient=True)]
    assert [part.id for part in transcript.data("data-weather")] == ["w1", "w2"]
    assert transcript.data("notice") == transcript.transient_data
    assert transcript.session_id == "sess-1"


def test_message_metadata_from_start_metadata_chunks_and_finish_is_merged_deeply() -> None:
    transcript = assemble(
        {"type": "start", "messageId": "m1", "messageMetadata": {"model": "x", "usage": {"in": 5}}},
        {"type": "message-metadata", "messageMetadata": {"usage": {"out": 9}}},
        {"type": "finish", "finishReason": "stop", "messageMetadata": {"model": "y", "tags": ["a"]}},
    )
    assert transcript.message_metadata == {"model": "y", "usage": {"in": 5, "out": 9}, "tags": ["a"]}
    assert (transcript.message_id, transcript.finish_reason) == ("m1", "stop")


def test_abort_marks_the_transcript_with_its_reason() -> None:
    transcript = assemble(
        {"type": "text-delta", "id": "0", "delta": "Hal"}, {"type": "abort", "reason": "user"}
    )
    assert (transcript.aborted, transcript.abort_reason, transcript.text) == (True, "user", "Hal")
    assert not assemble({"type": "abort"}).abort_reason


def test_tool_call_states_follow_the_ui_tool_part_life_cycle() -> None:
    transcript = assemble(
        {"type": "tool-input-start", "toolCallId": "a", "toolName": "search", "providerExecuted": True},
        {
            "type": "tool-input-start",
            "toolCallId": "b",
            "toolName": "delete",
            "dynamic": True,
            "title": "Delete",
        },
        {"type": "tool-input-available", "toolCallId": "b", "toolName": "delete", "input": {"id": 1}},
        {"type": "tool-approval-request", "approvalId": "ap-1", "toolCallId": "b"},
        {"type": "tool-input-available", "toolCallId": "c", "toolName": "refund", "input": {}},
        {"type": "tool-approval-request", "approvalId": "ap-2", "toolCallId": "c"},
        {"type": "tool-output-denied", "toolCallId": "c"},
    )
    search, delete, refund = transcript.tool_calls
    assert (search.state, search.provider_executed) == ("input-streaming", True)
    assert (delete.state, delete.approval_id, delete.dynamic, delete.title) == (
        "approval-requested",
        "ap-1",
        True,
        "Delete",
    )
    assert (refund.state, refund.approval_id, refund.output) == ("output-denied", "ap-2", None)


def test_a_preliminary_output_is_the_output_marked_preliminary_until_the_final_one() -> None:
    chunks: list[dict[str, Any]] = [
        {"type": "tool-input-available", "toolCallId": "c", "toolName": "plan", "input": {}},
        {"type": "tool-output-available", "toolCallId": "c", "output": {"step": 1}, "preliminary": True},
        {"type": "tool-output-available", "toolCallId": "c", "output": {"step": 2}, "preliminary": True},
    ]
    (pending,) = assemble(*chunks).tool_calls
    assert (pending.state, pending.output, pending.preliminary) == ("output-available", {"step": 2}, True)
    assert pending.preliminary_outputs == [{"step": 1}, {"step": 2}]
    (done,) = assemble(
        *chunks, {"type": "tool-output-available", "toolCallId": "c", "output": "ok"}
    ).tool_calls
    assert (done.output, done.state, done.preliminary) == ("ok", "output-available", False)
    assert len(done.preliminary_outputs) == 2


def test_every_chunk_type_of_the_ai_sdk_protocol_has_a_handler() -> None:
    """The chunk types of ``UIMessageChunk`` in the ``ai`` package (v5 and v6), data-* aside."""
    protocol = {
        "text-start", "text-delta", "text-end", "reasoning-start", "reasoning-delta", "reasoning-end",
        "error", "tool-input-available", "tool-input-error", "tool-approval-request",
        "tool-output-available", "tool-output-error", "tool-output-denied", "tool-input-start",
        "tool-input-delta", "source-url", "source-document", "file", "start-step", "finish-step",
        "start", "finish", "abort", "message-metadata",
    }  # fmt: skip
    assert protocol <= set(TurnAssembler._handlers)


def test_to_dict_is_plain_json_with_text_and_reasoning() -> None:
    transcript = assemble(
        {"type": "reasoning-delta", "id": "0", "delta": "hm"},
        {"type": "text-delta", "id": "0", "delta": "Hi"},
        {"type": "source-url", "sourceId": "s", "url": "https://x.example"},
        {"type": "data-card", "data": {"a": [1]}},
    )
    data = json.loads(json.dumps(transcript.to_dict()))
    assert (data["text"], data["reasoning"]) == ("Hi", "hm")
    assert data["sources"][0]["url"] == "https://x.example"
    assert data["data_parts"] == [{"name": "card", "data": {"a": [1]}, "id": None, "transient": False}]


def deep_data(depth: int) -> str:
    """A data part whose event is ``depth`` levels deep (the event's own object is level 1)."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return '{"type": "data-deep", "data": ' + inner + "}"


@pytest.mark.parametrize("depth", [101, 5000])
def test_an_event_nested_more_than_100_deep_is_a_protocol_error(depth: int) -> None:
    error = protocol_error({"type": "start"}, deep_data(depth))
    assert error.message.startswith(
        'event 2 is JSON nested more than 100 levels deep: \'{"type": "data-deep"'
    )
    assert error.transcript is not None


def test_an_event_100_deep_or_full_of_brackets_in_strings_is_kept() -> None:
    transcript = assemble(deep_data(100), {"type": "data-text", "data": "[" * 500 + "{" * 500})
    assert [part.name for part in transcript.data_parts] == ["deep", "text"]


def test_a_streamed_tool_input_is_whole_whenever_the_transcript_is_read() -> None:
    assembler = TurnAssembler()
    assembler.feed('{"type": "tool-input-start", "toolCallId": "c1", "toolName": "t"}', 1.0)
    so_far = ""
    for piece in ['{"a"', ": 1", "}"]:
        delta = {"type": "tool-input-delta", "toolCallId": "c1", "inputTextDelta": piece}
        assembler.feed(json.dumps(delta), 1.0)
        so_far += piece
        assert assembler.transcript.tool_calls[0].input_text == so_far
