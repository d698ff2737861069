"""A non-streaming JSON answer mapped to a transcript through ``response_fields``."""

from __future__ import annotations

from typing import Any

import pytest

from convtest.adapters.json_answer import AnswerError, transcript_from_json
from convtest.adapters.robofy_settings import ResponseFields

DEFAULT = ResponseFields()

#: the reference agent's answer to "where is my order 1234", in the default shape
ANSWER: dict[str, Any] = {
    "message_id": "msg0000000000001",
    "session_id": "6ff922ed",
    "text": "Your order 1234 has shipped.",
    "finish_reason": "stop",
    "steps": 2,
    "tool_calls": [
        {"id": "call_1", "name": "lookup_order", "input": {"order_id": "1234"}, "output": {"found": True}},
        {"id": "call_2", "name": "check_stock", "input": {"product": "tent"}, "error": "HTTP 503"},
    ],
}


def test_the_default_shape_fills_the_same_transcript_as_a_stream() -> None:
    transcript = transcript_from_json(ANSWER, DEFAULT, "where is my order 1234")
    assert (transcript.user, transcript.text, transcript.session_id, transcript.message_id) == (
        "where is my order 1234",
        "Your order 1234 has shipped.",
        "6ff922ed",
        "msg0000000000001",
    )
    assert (transcript.finish_reason, transcript.steps, transcript.done, transcript.errors) == (
        "stop",
        2,
        True,
        [],
    )
    lookup, stock = transcript.tool_calls
    assert (lookup.id, lookup.name, lookup.input, lookup.output, lookup.state) == (
        "call_1",
        "lookup_order",
        {"order_id": "1234"},
        {"found": True},
        "output-available",
    )
    assert (stock.error, stock.output, stock.state) == ("HTTP 503", None, "output-error")


def test_dotted_paths_reach_nested_fields_and_list_items() -> None:
    fields = ResponseFields(
        text="data.messages.0.content",
        session_id="data.session.id",
        tool_calls="data.calls",
        tool_name="function.name",
        tool_input="function.arguments",
        tool_id="call_id",
    )
    answer = {
        "data": {
            "messages": [{"content": ["First part.", "Second part."]}],
            "session": {"id": 42},
            "calls": [{"function": {"name": "search", "arguments": {"q": "tents"}}}],
        }
    }
    transcript = transcript_from_json(answer, fields)
    assert transcript.text_blocks == ["First part.", "Second part."]
    assert transcript.session_id == "42"
    (call,) = transcript.tool_calls
    assert (call.id, call.name, call.input, call.state) == (
        "call_1",
        "search",
        {"q": "tents"},
        "input-available",
    )


def test_an_error_answer_may_have_no_text() -> None:
    transcript = transcript_from_json({"error": "model overloaded", "finish_reason": "error"}, DEFAULT)
    assert (transcript.text, transcript.errors, transcript.finish_reason) == (
        "",
        ["model overloaded"],
        "error",
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {"answer": "hi"},
            "no `text` (response_fields.text) in the answer, which is an object with keys answer",
        ),
        ([1, 2], "no `text` (response_fields.text) in the answer, which is a list of 2 items"),
        ({"text": {"a": 1}}, "`text` (response_fields.text) must be a string or a list of strings"),
        ({"text": "hi", "session_id": ["x"]}, "`session_id` (response_fields.session_id) must be a string"),
        ({"text": "hi", "steps": "two"}, "`steps` (response_fields.steps) must be a whole number"),
        (
            {"text": "hi", "tool_calls": {"name": "x"}},
            "`tool_calls` (response_fields.tool_calls) must be a list",
        ),
        ({"text": "hi", "tool_calls": [{"input": {}}]}, "tool call 1 of `tool_calls` has no string `name`"),
    ],
)
def test_an_answer_that_does_not_fit_the_mapping_names_the_field(answer: Any, message: str) -> None:
    with pytest.raises(AnswerError) as info:
        transcript_from_json(answer, DEFAULT)
    assert str(info.value).startswith(message)
