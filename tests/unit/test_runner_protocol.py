"""The runner with protocol parts: a turn's timeouts reach the adapter, and every kind of answer
(stream bytes, JSON answer) is checked the same way."""

from __future__ import annotations

import asyncio
import textwrap

from convtest.adapters import Exchange
from convtest.adapters.fake import FakeAdapter, FakeResponse
from convtest.runner import ConversationResult, run_conversation
from convtest.suite import load_suite_text

STREAM = b"".join(
    b"data: %s\n\n" % chunk
    for chunk in (
        b'{"type":"start-step"}',
        b'{"type":"reasoning-delta","id":"0","delta":"Check the KB."}',
        b'{"type":"source-url","sourceId":"kb","url":"https://help.example/returns","title":"Returns"}',
        b'{"type":"text-delta","id":"0","delta":"30 days."}',
        b'{"type":"error","errorText":"late warning"}',
        b'{"type":"data-session","data":"s-1"}',
        b"[DONE]",
    )
)


def run(suite: str, *responses: FakeResponse) -> tuple[ConversationResult, FakeAdapter]:
    conversation = load_suite_text(textwrap.dedent(suite), "suites/p.yaml").conversations[0]
    adapter = FakeAdapter(list(responses))
    return asyncio.run(run_conversation(conversation, adapter)), adapter


def test_a_turns_timeouts_are_sent_with_its_request() -> None:
    result, adapter = run(
        """
        defaults: {timeouts: {idle: 5}}
        conversations:
          - name: c
            turns:
              - user: hi
                timeouts: {first_token: 1.5}
              - user: again
        """,
        {"text": "Hello"},
        {"text": "Hello again"},
    )
    assert result.passed
    assert [request.timeouts for request in adapter.requests] == [
        {"idle": 5.0, "first_token": 1.5},
        {"idle": 5.0},
    ]


def test_each_request_carries_the_earlier_turns_of_its_conversation() -> None:
    result, adapter = run(
        """
        conversations:
          - name: c
            vars: {name: Ada}
            turns:
              - user: "I am {{ name }}"
              - user: who am I?
              - user: thanks
        """,
        {"text": "Hello Ada"},
        {"text": "You are Ada"},
        {"text": "You are welcome"},
    )
    assert result.passed
    first, second = (Exchange(turn.user, turn.transcript) for turn in result.turns[:2])
    assert [request.history for request in adapter.requests] == [(), (first,), (first, second)]
    assert (first.user, first.transcript.text, second.user) == ("I am Ada", "Hello Ada", "who am I?")


def test_stream_parts_are_checked_and_an_expected_error_chunk_passes() -> None:
    suite = """
        conversations:
          - name: c
            turns:
              - user: returns?
                expect:
                  reasoning: {contains: KB}
                  sources: {count: 1, contains_url: help.example}
                  data: {session: "{{ session_id }}"}
                  errors: {contains: late}
                  steps: 1
        """
    result, _ = run(suite, STREAM)
    assert result.passed, [failure for turn in result.turns for failure in turn.failures]


def test_an_unexpected_error_chunk_fails_the_turn_after_all_its_other_checks() -> None:
    result, _ = run(
        "conversations:\n  - name: c\n    turns:\n      - user: hi\n        expect: {steps: 2}\n", STREAM
    )
    (turn,) = result.turns
    assert [failure.check for failure in turn.failures] == [
        "no error chunks (set `expect.errors` to expect them)",
        "exactly 2 steps",
    ]


# --- an unusable value fails only what needs it ----------------------------------------------------

BAD_SESSION = b"".join(
    b"data: %s\n\n" % chunk
    for chunk in (
        b'{"type":"text-delta","id":"0","delta":"Hello"}',
        b'{"type":"data-session","data":{"id":"s-1"}}',
        b'{"type":"data-finish-reason","data":"stop"}',
        b"[DONE]",
    )
)
TWO_TURNS = """
    conversations:
      - name: c
        turns:
          - user: hi
            expect: {text: {equals: Hello}, data: {session: {id: s-1}}}
          - user: again
    """


def test_an_object_session_keeps_its_turn_and_fails_the_next_turn_which_needs_it() -> None:
    result, adapter = run(TWO_TURNS, BAD_SESSION, {"text": "never sent"})
    first, second = result.turns
    assert first.passed and first.transcript is not None and first.transcript.text == "Hello"
    assert second.error is not None and len(adapter.requests) == 1
    assert str(second.error) == (
        "target 'fake': this turn needs the session id of turn 1, which is unusable: "
        'event 2 (data-session) has data \'{"id": "s-1"}\', not a string'
    )


def test_a_last_turn_with_an_unusable_session_passes() -> None:
    result, _ = run("conversations:\n  - name: c\n    turns:\n      - user: hi\n", BAD_SESSION)
    assert result.passed


def test_what_needs_an_unusable_value_names_why() -> None:
    suite = """
        conversations:
          - name: c
            turns:
              - user: hi
                expect: {finish_reason: stop}
                save: {sid: {from: session_id}}
        """
    result, _ = run(suite, BAD_SESSION)
    (turn,) = result.turns
    assert [(failure.check, failure.actual) for failure in turn.failures] == [
        (
            'finish_reason is "stop"',
            "no usable finish reason: event 3 (data-finish-reason) has data '\"stop\"', not an object",
        ),
        (
            'save "sid": no session_id in this turn',
            'event 2 (data-session) has data \'{"id": "s-1"}\', not a string',
        ),
    ]
