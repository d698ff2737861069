"""A run against its golden: which differences count, under which settings, named how."""

from __future__ import annotations

from typing import Any

import pytest

from convtest.golden.compare import compare_turns, path_matches, turn_changes
from convtest.golden.result import Change
from convtest.models import GoldenSettings

EXACT = GoldenSettings()


def turn(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "user": "Where is my order 1234?",
        "text": "Your order 1234 has shipped.",
        "tool_calls": [
            {
                "name": "lookup_order",
                "input": {"order_id": "1234"},
                "output": {"eta": "2026-12-02", "status": "shipped"},
            }
        ],
        "finish_reason": "stop",
    }
    return {**base, **changes}


def call(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "input": {}, **fields}


def paths(changes: list[Change]) -> list[tuple[str, str]]:
    return [(change.path, change.kind) for change in changes]


def test_identical_turns_have_no_changes() -> None:
    assert turn_changes(turn(), turn(), EXACT) == []


def test_a_changed_text_is_one_change_with_a_word_diff() -> None:
    [change] = turn_changes(turn(), turn(text="Your order 1234 is delayed."), EXACT)
    assert (change.path, change.kind, change.subject) == ("text", "changed", "text")
    assert (change.expected, change.actual) == ("Your order 1234 has shipped.", "Your order 1234 is delayed.")
    assert change.word_diff == (
        ("equal", "Your order 1234 "),
        ("delete", "has shipped"),
        ("insert", "is delayed"),
        ("equal", "."),
    )


def test_a_changed_tool_argument_is_named_by_its_path_and_tool() -> None:
    changed = turn(
        tool_calls=[
            call("lookup_order", input={"order_id": "5678"}, output=turn()["tool_calls"][0]["output"])
        ]
    )
    [change] = turn_changes(turn(), changed, EXACT)
    assert change.path == "tool_calls.0.input.order_id"
    assert change.subject == "tool call 1 lookup_order input.order_id"
    assert (change.kind, change.expected, change.actual, change.word_diff) == (
        "changed",
        "1234",
        "5678",
        None,
    )


def test_every_difference_is_reported_in_file_order() -> None:
    actual = turn(
        user="Where is my order 5678?",
        text="Other.",
        tool_calls=[
            call("lookup_order", input={"order_id": "1234"}, output={"status": "shipped", "carrier": "UPS"}),
            call("search_kb", input={"query": "returns"}),
        ],
        finish_reason="length",
        errors=["rate limited"],
    )
    assert paths(turn_changes(turn(), actual, EXACT)) == [
        ("user", "changed"),
        ("text", "changed"),
        ("tool_calls.0.output.carrier", "added"),
        ("tool_calls.0.output.eta", "removed"),
        ("tool_calls.1", "added"),
        ("finish_reason", "changed"),
        ("errors.0", "added"),
    ]


def test_user_message_changes_carry_a_word_diff_and_tool_calls_are_named_from_their_side() -> None:
    actual = turn(user="Where is order 1234?", tool_calls=[*turn()["tool_calls"], call("search_kb")])
    user, added = turn_changes(turn(), actual, EXACT)
    assert user.word_diff == (("equal", "Where is"), ("delete", " my"), ("equal", " order 1234?"))
    assert (added.subject, added.actual) == ("tool call 2 search_kb", call("search_kb"))


def test_normalized_text_forgives_white_space_only() -> None:
    normalized = GoldenSettings(text="normalized")
    assert turn_changes(turn(), turn(text="  Your order 1234\nhas   shipped. "), normalized) == []
    assert paths(turn_changes(turn(), turn(text="Your order 1234 has shipped!"), normalized)) == [
        ("text", "changed")
    ]
    assert paths(turn_changes(turn(), turn(text="Your order 1234  has shipped."), EXACT)) == [
        ("text", "changed")
    ]


def test_similarity_passes_a_close_paraphrase_and_fails_a_different_reply_saying_by_how_much() -> None:
    golden = turn(text="Your order 1234 has shipped and should arrive by Friday, December 2.")
    settings = GoldenSettings(text="similarity", similarity=0.8)
    close = turn(text="Your order 1234 has shipped and it should arrive by Friday, December 2.")
    assert turn_changes(golden, close, settings) == []
    [change] = turn_changes(golden, turn(text="I couldn't find an order with number 1234."), settings)
    assert change.path == "text"
    assert change.note.startswith("similarity 0.") and change.note.endswith(", needs 0.8")


def test_text_blocks_are_compared_only_when_the_text_is_the_same() -> None:
    golden = turn(text="A\n\nB", text_blocks=["A", "B"])
    split = turn(text="A\n\nB")  # one block holding the same text
    assert paths(turn_changes(golden, split, EXACT)) == [
        ("text_blocks.0", "changed"),
        ("text_blocks.1", "removed"),
    ]
    assert paths(turn_changes(golden, turn(text="A\n\nC", text_blocks=["A", "C"]), EXACT)) == [
        ("text", "changed")
    ]


def test_ignored_paths_are_forgiven_wherever_they_are_and_on_one_side_only() -> None:
    without_eta = turn(
        tool_calls=[call("lookup_order", input={"order_id": "1234"}, output={"status": "shipped"})]
    )
    other_eta = turn(
        tool_calls=[
            call(
                "lookup_order", input={"order_id": "1234"}, output={"eta": "2027-01-01", "status": "shipped"}
            )
        ]
    )
    for pattern in ("tool_calls.*.output.eta", "**.eta", "tool_calls.0.output.eta"):
        settings = GoldenSettings(ignore=(pattern,))
        assert turn_changes(turn(), without_eta, settings) == [], pattern
        assert turn_changes(turn(), other_eta, settings) == [], pattern
    assert paths(turn_changes(turn(), other_eta, GoldenSettings(ignore=("tool_calls.*.input",)))) == [
        ("tool_calls.0.output.eta", "changed")
    ]


def test_ignoring_text_or_a_whole_list_item() -> None:
    assert turn_changes(turn(), turn(text="anything"), GoldenSettings(ignore=("text",))) == []
    extra = turn(tool_calls=[*turn()["tool_calls"], call("search_kb")])
    assert turn_changes(turn(), extra, GoldenSettings(ignore=("tool_calls.1",))) == []
    assert turn_changes(turn(), extra, GoldenSettings(ignore=("tool_calls",))) == []


def test_subset_tool_input_allows_extra_keys_but_not_missing_or_different_ones() -> None:
    golden = turn(tool_calls=[call("search_kb", input={"query": "returns"})])
    subset = GoldenSettings(tool_input="subset")
    extra = turn(tool_calls=[call("search_kb", input={"query": "returns", "limit": 3})])
    assert turn_changes(golden, extra, subset) == []
    assert paths(turn_changes(golden, extra, EXACT)) == [("tool_calls.0.input.limit", "added")]
    different = turn(tool_calls=[call("search_kb", input={"query": "refunds", "limit": 3})])
    assert paths(turn_changes(golden, different, subset)) == [("tool_calls.0.input.query", "changed")]
    missing = turn(tool_calls=[call("search_kb", input={"limit": 3})])
    assert paths(turn_changes(golden, missing, subset)) == [("tool_calls.0.input.query", "removed")]


def test_subset_matches_the_kth_call_of_a_tool_with_the_goldens_kth_call_of_it() -> None:
    golden = turn(
        tool_calls=[
            call("lookup_order", input={"order_id": "1"}),
            call("lookup_order", input={"order_id": "2"}),
        ]
    )
    actual = turn(
        tool_calls=[
            call("lookup_order", input={"order_id": "1", "x": 1}),
            call("lookup_order", input={"order_id": "2", "x": 2}),
        ]
    )
    assert turn_changes(golden, actual, GoldenSettings(tool_input="subset")) == []


def test_ignore_order_forgives_reordered_calls() -> None:
    first, second = call("lookup_order", input={"order_id": "1"}), call("search_kb", input={"query": "q"})
    golden, swapped = turn(tool_calls=[first, second]), turn(tool_calls=[second, first])
    assert turn_changes(golden, swapped, GoldenSettings(ignore_order=True)) == []
    assert turn_changes(golden, swapped, EXACT) != []


def test_added_and_removed_turns_are_whole_turn_changes() -> None:
    settings = [EXACT, EXACT, EXACT]
    added = compare_turns([turn()], [turn(), turn(user="more")], settings, complete=True)
    assert [(t.index, paths(list(t.changes))) for t in added] == [(2, [("", "added")])]
    assert added[0].changes[0].actual == turn(user="more")
    removed = compare_turns([turn(), turn(user="more")], [turn()], settings, complete=True)
    assert [(t.index, paths(list(t.changes))) for t in removed] == [(2, [("", "removed")])]


def test_a_run_that_stopped_early_is_not_blamed_for_turns_it_never_reached() -> None:
    assert compare_turns([turn(), turn(user="more")], [turn()], [EXACT, EXACT], complete=False) == []


def test_each_turn_uses_its_own_settings() -> None:
    golden = [turn(), turn()]
    actual = [turn(text="other"), turn(text="other")]
    settings = [GoldenSettings(ignore=("text",)), EXACT]
    assert [t.index for t in compare_turns(golden, actual, settings, complete=True)] == [2]


def test_a_hand_edited_golden_with_missing_keys_compares_as_empty_values() -> None:
    assert (
        turn_changes(
            {"user": "Hi", "text": "Hello"}, {"user": "Hi", "text": "Hello", "finish_reason": None}, EXACT
        )
        == []
    )


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("text", "text", True),
        ("tool_calls.*.output.eta", "tool_calls.3.output.eta", True),
        ("tool_calls.*.output.eta", "tool_calls.3.output", False),
        ("tool_calls.*", "tool_calls.0.input", False),
        ("**.eta", "tool_calls.0.output.eta", True),
        ("**", "anything.at.all", True),
        ("tool_calls.**.id", "tool_calls.0.input.items.2.id", True),
        ("tool_calls.**.id", "tool_calls.0.input.items.2.sku", False),
    ],
)
def test_path_patterns_match_one_segment_per_star_and_any_number_per_double_star(
    pattern: str, path: str, matches: bool
) -> None:
    assert path_matches(pattern.split("."), path.split(".")) is matches
