"""``golden:`` in a suite: who opts in, how settings inherit, and a clear message for each mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from convtest.exceptions import SuiteError
from convtest.models import GoldenSettings, Suite
from convtest.suite import load_suite_text
from convtest.suite.golden import GOLDEN_KEYS, GOLDEN_TEXT_MODES, GOLDEN_TOOL_INPUT_MODES

FILE = "suites/t.yaml"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "suite-format.md"


def load(text: str) -> Suite:
    return load_suite_text(textwrap.dedent(text), FILE)


def valid(text: str) -> Suite:
    suite = load(text)
    assert suite.invalid == (), [str(error) for invalid in suite.invalid for error in invalid.errors]
    return suite


def only_error(text: str) -> str:
    suite = load(text)
    found = [str(error) for invalid in suite.invalid for error in invalid.errors]
    assert len(found) == 1, found
    return found[0]


def test_conversations_are_not_golden_unless_they_opt_in() -> None:
    suite = valid(
        """
        conversations:
          - name: plain
            turns: [{user: hi}]
          - name: golden
            golden: true
            turns: [{user: hi}, {user: bye}]
        """
    )
    plain, golden = suite.conversations
    assert plain.golden is None and plain.turns[0].golden is None
    assert golden.golden == GoldenSettings()
    assert [turn.golden for turn in golden.turns] == [GoldenSettings(), GoldenSettings()]


def test_defaults_make_every_conversation_golden_and_one_can_opt_out() -> None:
    suite = valid(
        """
        defaults:
          golden: {text: normalized, ignore: [tool_calls.*.output.eta]}
        conversations:
          - name: inherits
            turns: [{user: hi}]
          - name: refines
            golden: {ignore: ["**.id"], tool_input: subset}
            turns: [{user: hi}]
          - name: opts out
            golden: false
            turns: [{user: hi}]
          - name: switched on again
            golden: true
            turns: [{user: hi}]
        """
    )
    inherits, refines, opts_out, switched_on = suite.conversations
    inherited = GoldenSettings(ignore=("tool_calls.*.output.eta",), text="normalized")
    assert inherits.golden == inherited
    assert refines.golden == GoldenSettings(
        ignore=("tool_calls.*.output.eta", "**.id"), text="normalized", tool_input="subset"
    )
    assert opts_out.golden is None
    assert switched_on.golden == inherited


def test_a_turn_refines_its_conversations_settings_for_itself_only() -> None:
    suite = valid(
        """
        conversations:
          - name: c
            golden: {ignore: [errors]}
            turns:
              - user: hi
                golden: {text: similarity, similarity: 0.8, ignore: [tool_calls], ignore_order: true}
              - user: bye
        """
    )
    first, second = suite.conversations[0].turns
    assert first.golden == GoldenSettings(
        ignore=("errors", "tool_calls"), text="similarity", similarity=0.8, ignore_order=True
    )
    assert second.golden == GoldenSettings(ignore=("errors",))


def test_golden_mistakes_in_defaults_fail_the_whole_file() -> None:
    with pytest.raises(SuiteError) as caught:
        load("defaults:\n  golden: {txet: exact}\nconversations:\n  - name: c\n    turns: [{user: hi}]\n")
    assert str(caught.value) == "suites/t.yaml:2: unknown key `txet` in `golden` — did you mean `text`?"


@pytest.mark.parametrize(
    ("golden", "message"),
    [
        ("{ignor: [text]}", "unknown key `ignor` in `golden` — did you mean `ignore`?"),
        (
            "{text: normalised}",
            "unknown `text` mode `normalised` — did you mean `normalized`? "
            "(one of exact, normalized, similarity)",
        ),
        (
            "{tool_input: subsets}",
            "unknown `tool_input` mode `subsets` — did you mean `subset`? (one of exact, subset)",
        ),
        (
            "{text: similarity, similarity: 1.5}",
            "`similarity` must be a number above 0 and at most 1 (e.g. 0.85), got 1.5",
        ),
        (
            "{text: similarity, similarity: high}",
            "`similarity` must be a number above 0 and at most 1 (e.g. 0.85), got a string ('high')",
        ),
        ("{similarity: 0.8}", "`similarity` only applies with `text: similarity`"),
        ("{ignore_order: yes please}", "`ignore_order` must be true or false, got a string ('yes please')"),
        ("yes please", "`golden` must be true, false or a mapping of settings, got a string ('yes please')"),
        (
            "{ignore: [tool_call.*.output]}",
            "`ignore` path 'tool_call.*.output' starts with `tool_call`, not a field of a golden turn"
            " — did you mean `tool_calls`? (user, text, text_blocks, tool_calls, finish_reason, errors)",
        ),
        (
            "{ignore: [turns.*.tool_calls.*.output.eta]}",
            "`ignore` paths are relative to a turn: write `tool_calls.*.output.eta`, "
            "not 'turns.*.tool_calls.*.output.eta'",
        ),
        (
            "{ignore: [tool_calls..output]}",
            "`ignore` path 'tool_calls..output' must be dotted keys like `tool_calls.*.output.eta`",
        ),
    ],
)
def test_golden_mistakes_are_reported_at_their_line_with_a_suggestion(golden: str, message: str) -> None:
    error = only_error(f"conversations:\n  - name: c\n    golden: {golden}\n    turns: [{{user: hi}}]\n")
    assert error == f"suites/t.yaml:3, conversation 'c': {message}"


def test_a_turns_golden_settings_need_a_golden_conversation() -> None:
    error = only_error(
        "conversations:\n  - name: c\n    turns:\n      - user: hi\n        golden: {text: exact}\n"
    )
    assert error == (
        "suites/t.yaml:5, conversation 'c', turn 1: `golden` settings of a turn need a golden conversation: "
        "set `golden: true` on the conversation or in `defaults`"
    )


def test_a_turn_cannot_switch_golden_on_or_off() -> None:
    error = only_error(
        "conversations:\n  - name: c\n    golden: true\n    turns:\n      - user: hi\n        golden: false\n"
    )
    assert error.endswith("`golden` must be a mapping of comparison settings, got a boolean (false)")


def test_a_setting_written_beside_golden_says_where_it_belongs() -> None:
    error = only_error(
        "conversations:\n  - name: c\n    golden: true\n    ignore_order: true\n    turns: [{user: hi}]\n"
    )
    assert error == (
        "suites/t.yaml:4, conversation 'c': "
        "unknown key `ignore_order` in conversation: `ignore_order` belongs under `golden`"
    )


def test_two_golden_conversations_with_one_file_name_are_refused_the_first_keeps_it() -> None:
    suite = load(
        """
        conversations:
          - name: Order status
            golden: true
            turns: [{user: hi}]
          - name: order-status
            golden: true
            turns: [{user: hi}]
          - name: order status!
            turns: [{user: hi}]
        """
    )
    assert [conversation.name for conversation in suite.conversations] == ["Order status", "order status!"]
    [invalid] = suite.invalid
    assert str(invalid.errors[0]) == (
        "suites/t.yaml:6, conversation 'order-status': golden file `order-status.yaml` is already the golden "
        "of conversation `Order status` (line 3); rename one of them"
    )


@pytest.mark.parametrize("word", sorted(GOLDEN_KEYS | GOLDEN_TEXT_MODES | GOLDEN_TOOL_INPUT_MODES))
def test_docs_mention_every_golden_setting_and_mode(word: str) -> None:
    assert f"`{word}`" in DOCS.read_text(encoding="utf-8")
