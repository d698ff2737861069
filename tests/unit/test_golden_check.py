"""The golden check of one conversation, without pytest: compare, record, and never lose a golden."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from convtest.checks.base import Failure
from convtest.golden import check_golden
from convtest.golden import store as golden_store
from convtest.golden.document import golden_document
from convtest.runner import ConversationResult, TurnResult
from convtest.suite import load_suite_text
from convtest.transcript import Timings, ToolCall, TurnTranscript

SUITE = """\
conversations:
  - name: order status
    golden: true
    turns:
      - user: "Where is my order 1234?"
      - user: "Thanks"
  - name: not golden
    turns:
      - user: "Hello"
"""
REPLIES = ["Your order 1234 has shipped.", "You're welcome!"]
GOLDEN = "suites/__goldens__/orders/order-status.yaml"


def transcript(text: str, **fields: Any) -> TurnTranscript:
    return TurnTranscript(
        text_blocks=[text],
        finish_reason="stop",
        session_id="s-123",
        message_id="m-456",
        timings=Timings(first_byte_ms=1.5, first_token_ms=2.5, total_ms=9.0),
        **fields,
    )


def result(
    replies: list[str] = REPLIES, *, failed_turn: int | None = None, secrets: tuple[str, ...] = ()
) -> ConversationResult:
    conversation = load_suite_text(SUITE, "suites/orders.yaml").conversations[0]
    outcome = ConversationResult(conversation=conversation, target="reference", secrets=secrets)
    for turn, reply in zip(conversation.turns, replies, strict=False):
        failures = [Failure("text contains x", "it did not", None)] if turn.index == failed_turn else []
        outcome.turns.append(
            TurnResult(turn=turn, user=str(turn.user), transcript=transcript(reply), failures=failures)
        )
    return outcome


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "suites").mkdir()
    path = tmp_path / "suites" / "orders.yaml"
    path.write_text(SUITE, encoding="utf-8")
    return path


def golden_file(suite: Path) -> Path:
    return suite.parent / "__goldens__" / "orders" / "order-status.yaml"


def test_a_conversation_that_is_not_golden_has_no_golden_check(suite: Path) -> None:
    plain = load_suite_text(SUITE, "suites/orders.yaml").conversations[1]
    assert check_golden(ConversationResult(conversation=plain, target="reference"), suite) is None


def test_a_missing_golden_fails_naming_the_file_and_the_command_and_is_not_written(suite: Path) -> None:
    checked = check_golden(result(), suite)
    assert checked is not None
    assert (checked.status, checked.path, checked.failed) == ("missing", GOLDEN, True)
    assert checked.message == (
        f"no golden transcript {GOLDEN} yet; "
        "create it with: pytest suites/orders.yaml --convtest-conversation='order status' --update-goldens"
    )
    assert not golden_file(suite).parent.exists()


def test_update_writes_then_a_normal_run_matches(suite: Path) -> None:
    written = check_golden(result(), suite, update=True)
    assert written is not None and (written.status, written.message) == ("written", f"wrote {GOLDEN}")
    matched = check_golden(result(), suite)
    assert matched is not None and (matched.status, matched.failed, matched.turns) == ("match", False, [])


def test_a_changed_reply_is_a_mismatch_with_the_turn_and_path(suite: Path) -> None:
    check_golden(result(), suite, update=True)
    checked = check_golden(result(["Your order 1234 is late.", "You're welcome!"]), suite)
    assert checked is not None and checked.status == "mismatch"
    assert checked.message == f"does not match {GOLDEN}: 1 change in turn 1"
    assert [(turn.index, [c.path for c in turn.changes]) for turn in checked.turns] == [(1, ["text"])]


def test_update_rewrites_a_mismatch_and_leaves_a_matching_golden_byte_for_byte(suite: Path) -> None:
    check_golden(result(), suite, update=True)
    path = golden_file(suite)
    before = path.stat().st_mtime_ns
    unchanged = check_golden(result(), suite, update=True)
    assert unchanged is not None and unchanged.status == "unchanged"
    assert path.stat().st_mtime_ns == before
    rewritten = check_golden(result(["Delayed.", "You're welcome!"]), suite, update=True)
    assert rewritten is not None and (rewritten.status, rewritten.message) == ("written", f"rewrote {GOLDEN}")
    assert [turn.index for turn in rewritten.turns] == [1]  # what the rewrite changed
    assert "text: Delayed." in path.read_text(encoding="utf-8")


def test_a_failed_conversation_is_compared_but_never_written(suite: Path) -> None:
    checked = check_golden(result(failed_turn=1, replies=REPLIES[:1]), suite, update=True)
    assert checked is not None and checked.status == "missing"
    assert checked.message.startswith("not written, the conversation failed; no golden transcript")
    assert not golden_file(suite).exists()
    check_golden(result(), suite, update=True)
    stopped = check_golden(result(["Delayed."], failed_turn=1), suite)
    assert stopped is not None
    # turn 2 never ran: only what did run is compared
    assert [turn.index for turn in stopped.turns] == [1]


def test_an_unreadable_golden_is_a_mismatch_that_update_repairs(suite: Path) -> None:
    path = golden_file(suite)
    path.parent.mkdir(parents=True)
    path.write_text("turns: {not: a list}\n", encoding="utf-8")
    checked = check_golden(result(), suite)
    assert checked is not None and checked.status == "mismatch"
    assert checked.message.startswith(f"cannot read golden {GOLDEN}: expected a mapping")
    assert checked.message.endswith(
        "rewrite it with: pytest suites/orders.yaml --convtest-conversation='order status' --update-goldens"
    )
    repaired = check_golden(result(), suite, update=True)
    assert repaired is not None and repaired.status == "written"
    matched = check_golden(result(), suite)
    assert matched is not None and matched.status == "match"


def test_an_update_interrupted_mid_write_keeps_the_old_golden_and_no_temporary_file(
    suite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_golden(result(), suite, update=True)
    path = golden_file(suite)
    old = path.read_text(encoding="utf-8")

    def interrupted(source: str, target: str) -> None:
        assert "Delayed." in Path(source).read_text(encoding="utf-8")  # the new golden was complete
        raise KeyboardInterrupt

    monkeypatch.setattr(golden_store.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        check_golden(result(["Delayed.", "You're welcome!"]), suite, update=True)
    assert path.read_text(encoding="utf-8") == old
    assert os.listdir(path.parent) == [path.name]


def test_a_write_error_fails_the_check_saying_why(suite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(source: str, target: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(golden_store.os, "replace", refused)
    checked = check_golden(result(), suite, update=True)
    assert checked is not None and checked.failed
    assert checked.message == f"could not write {GOLDEN}: Permission denied"


def test_the_golden_holds_what_was_said_and_nothing_volatile_or_secret() -> None:
    outcome = result(secrets=("sk-live-123456",))
    call = ToolCall(
        id="call-1", name="lookup_order", input={"z": 1, "a": "sk-live-123456"}, output={"ok": True}, step=2
    )
    outcome.turns[0].transcript = transcript(
        "Key sk-live-123456 ok.", tool_calls=[call], errors=["rate limited"]
    )
    outcome.turns[1].transcript = TurnTranscript(text_blocks=["One.", "Two."], finish_reason="length")
    document = golden_document(outcome)
    assert document == {
        "conversation": "order status",
        "turns": [
            {
                "user": "Where is my order 1234?",
                "text": "Key *** ok.",
                "tool_calls": [
                    {"name": "lookup_order", "input": {"a": "***", "z": 1}, "output": {"ok": True}}
                ],
                "finish_reason": "stop",
                "errors": ["rate limited"],
            },
            {
                "user": "Thanks",
                "text": "One.\n\nTwo.",
                "text_blocks": ["One.", "Two."],
                "finish_reason": "length",
            },
        ],
    }
    assert list(document["turns"][0]["tool_calls"][0]["input"]) == ["a", "z"]  # stable key order


def test_the_result_carries_the_golden_in_its_plain_data_and_fails_with_it(suite: Path) -> None:
    outcome = result()
    outcome.golden = check_golden(outcome, suite)
    assert outcome.turns_passed and not outcome.passed
    data = outcome.to_dict()
    assert data["passed"] is False
    assert data["golden"] == {
        "status": "missing",
        "path": GOLDEN,
        "message": outcome.golden.message if outcome.golden else None,
        "turns": [],
    }
    check_golden(outcome, suite, update=True)
    changed = result(["Your order 1234 is late.", "You're welcome!"])
    changed.golden = check_golden(changed, suite)
    assert changed.to_dict()["golden"]["turns"] == [
        {
            "index": 1,
            "changes": [
                {
                    "path": "text",
                    "kind": "changed",
                    "expected": "Your order 1234 has shipped.",
                    "actual": "Your order 1234 is late.",
                    "word_diff": [
                        ["equal", "Your order 1234 "],
                        ["delete", "has shipped"],
                        ["insert", "is late"],
                        ["equal", "."],
                    ],
                }
            ],
        }
    ]
