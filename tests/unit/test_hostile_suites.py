"""A careless or hostile suite file is a named mistake, never a hang, a memory blow-up or a
RecursionError; a regex cannot be made to backtrack past its time limit by the bot's text."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import string
import time
from pathlib import Path

import hypothesis.strategies as st
import pytest
from builders import expect_fields
from hypothesis import HealthCheck, given, settings

from convtest.checks.evaluate import check_turn
from convtest.checks.text_model import TextCheck
from convtest.exceptions import ConvtestError, Location, SuiteError
from convtest.models import SaveRule
from convtest.saves import extract_saves
from convtest.sse_decoder import SSEDecoder
from convtest.suite.limits import SuiteLimits
from convtest.suite.loader import load_suite, load_suite_text
from convtest.templating import Template
from convtest.transcript import TurnTranscript

LOC = Location("suites/t.yaml", 7)
#: examples per property; a longer campaign: CONVTEST_FUZZ_EXAMPLES=20000 pytest -k property
FUZZ_EXAMPLES = int(os.environ.get("CONVTEST_FUZZ_EXAMPLES", "300"))
#: ten times ten times ... ten values: 10 ** 10 once every alias is expanded
BILLION_LAUGHS = "".join(
    f"  l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10) if level else ', '.join(['lol'] * 10)}]\n"
    for level in range(10)
)
#: backtracks exponentially in a backtracking engine, whatever the engine's optimisations
BACKTRACKING = r"(x+x+)+y"


def suite(conversations: str, defaults: str = "") -> str:
    return (f"defaults:\n{defaults}" if defaults else "") + "conversations:\n" + conversations


def invalid_messages(text: str) -> dict[str, list[str]]:
    loaded = load_suite_text(text, "suites/t.yaml")
    return {entry.name: [str(error) for error in entry.errors] for entry in loaded.invalid}


# --- YAML size and shape ---------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_at_its_line_without_being_expanded() -> None:
    text = suite("  - name: c\n    turns: [{user: hi}]\n", defaults=f"  vars:\n    bomb:\n{BILLION_LAUGHS}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(SuiteError) as info:
        load_suite_text(text, "suites/t.yaml")
    assert time.perf_counter() - started < 5  # generous: it stops after about 10**6 counted values
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # KiB
    assert str(info.value).endswith(
        "aliases expand this file to more than 1,000,000 values "
        "(suite_limits.max_alias_values in convtest.yaml)"
    )
    assert info.value.location is not None and 3 < info.value.location.line < 14


def test_aliases_below_the_limit_load_and_the_limit_is_a_setting() -> None:
    block = "    shared: &shared {text: {contains: a}}\n"
    text = f"defaults:\n  vars:\n{block}conversations:\n" + "".join(
        f"  - name: c{i}\n    turns: [{{user: hi, expect: *shared}}]\n" for i in range(30)
    )
    assert len(load_suite_text(text, "t.yaml").conversations) == 30
    with pytest.raises(SuiteError, match=r"more than 50 values \(suite_limits.max_alias_values"):
        load_suite_text(text, "t.yaml", limits=SuiteLimits(max_alias_values=50))


def test_deep_nesting_invalidates_only_its_conversation() -> None:
    deep = "{a: " * 500 + "1" + "}" * 500
    text = suite(
        f"  - name: deep\n    vars:\n      v: {deep}\n    turns: [{{user: hi}}]\n"
        "  - name: ok\n    turns: [{user: hi}]\n"
    )
    loaded = load_suite_text(text, "suites/t.yaml")
    assert [conversation.name for conversation in loaded.conversations] == ["ok"]
    assert invalid_messages(text) == {
        "deep": [
            "suites/t.yaml:4, conversation 'deep': YAML nested deeper than 100 levels "
            "(suite_limits.max_depth in convtest.yaml)"
        ]
    }


def test_nesting_at_the_limit_loads() -> None:
    # conversations (1) > item (2) > vars (3) > v (4...): 100 levels in all
    nested = "{a: " * 96 + "1" + "}" * 96
    text = suite(f"  - name: c\n    vars:\n      v: {nested}\n    turns: [{{user: hi}}]\n")
    assert load_suite_text(text, "t.yaml").invalid == ()
    deeper = suite(f"  - name: c\n    vars:\n      v: {{a: {nested}}}\n    turns: [{{user: hi}}]\n")
    assert load_suite_text(deeper, "t.yaml").invalid != ()


def test_an_unsupported_tag_inside_one_turn_invalidates_only_that_conversation() -> None:
    text = suite(
        "  - name: include\n    turns:\n      - user: !include greeting.txt\n"
        "  - name: ok\n    turns: [{user: hi}]\n"
    )
    assert [conversation.name for conversation in load_suite_text(text, "t.yaml").conversations] == ["ok"]
    assert invalid_messages(text) == {
        "include": ["suites/t.yaml:4, conversation 'include', turn 1: unsupported YAML tag `!include`"]
    }


def test_an_unsupported_tag_in_a_list_is_reported_at_its_line() -> None:
    text = suite("  - name: c\n    tags: [a, !!binary aGk=]\n    turns: [{user: hi}]\n")
    (first, *_) = invalid_messages(text)["c"]
    assert first == "suites/t.yaml:3, conversation 'c': unsupported YAML tag `!!binary`"


def test_an_unsupported_tag_on_the_whole_file_still_invalidates_the_file() -> None:
    with pytest.raises(SuiteError, match="unsupported YAML tag `!custom`"):
        load_suite_text("!custom {conversations: []}\n", "t.yaml")


def test_a_file_over_max_bytes_is_refused_without_being_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(suite("  - name: c\n    turns: [{user: hi}]\n") + "#" * 5000 + "\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path, display_path="big.yaml", limits=SuiteLimits(max_bytes=4096))
    assert str(info.value) == (
        "big.yaml:1: suite file is larger than 4,096 bytes (suite_limits.max_bytes in convtest.yaml)"
    )
    assert load_suite(path, display_path="big.yaml").conversations  # the default is far larger


# --- regexes against the bot's text -----------------------------------------------------------------


def reply(text: str) -> TurnTranscript:
    return TurnTranscript(text_blocks=[text])


@pytest.mark.parametrize("op", ["matches", "not_matches"])
def test_a_backtracking_regex_is_stopped_with_a_named_verdict(op: str) -> None:
    check = TextCheck(op, LOC, (BACKTRACKING,), pattern=re.compile(BACKTRACKING), regex_seconds=0.05)
    started = time.perf_counter()
    failures = check_turn(expect_fields(text=(check,)), reply("x" * 5000), {})
    assert time.perf_counter() - started < 5
    (failure,) = failures
    assert failure.actual == (
        f"regex /{BACKTRACKING}/ took longer than 0.05 s on the 5,000-character text "
        "(suite_limits.regex_seconds in convtest.yaml)"
    )


def test_a_regex_templated_from_a_saved_bot_value_is_time_limited_too() -> None:
    check = TextCheck("matches", LOC, (Template("{{ pattern }}", LOC),), regex_seconds=0.05)
    (failure,) = check_turn(expect_fields(text=(check,)), reply("x" * 5000), {"pattern": BACKTRACKING})
    assert "took longer than 0.05 s" in failure.actual


def test_not_can_never_turn_a_timed_out_regex_into_a_pass() -> None:
    inner = TextCheck("matches", LOC, (BACKTRACKING,), pattern=re.compile(BACKTRACKING), regex_seconds=0.05)
    check = TextCheck("not", LOC, children=(inner,))
    (failure,) = check_turn(expect_fields(text=(check,)), reply("x" * 5000), {})
    assert "took longer than" in failure.actual


def test_a_save_rule_regex_is_time_limited() -> None:
    rule = SaveRule("value", "text", LOC, regex=re.compile(BACKTRACKING), regex_seconds=0.05)
    values, (failure,) = extract_saves((rule,), reply("x" * 5000))
    assert values == {}
    assert failure.check == f'save "value": regex /{BACKTRACKING}/ could not be matched'
    assert "took longer than 0.05 s" in failure.actual


def test_regex_seconds_is_read_from_the_limits_when_the_suite_loads() -> None:
    text = suite(
        "  - name: c\n    turns:\n      - user: hi\n"
        "        expect: {text: {matches: 'a+'}}\n        save: {v: {from: text, regex: 'b+'}}\n"
    )
    (conversation,) = load_suite_text(text, "t.yaml", limits=SuiteLimits(regex_seconds=0.25)).conversations
    (turn,) = conversation.turns
    assert [check.checks[0].regex_seconds for check in turn.expect.checks[:1]] == [0.25]  # type: ignore[attr-defined]
    assert turn.save[0].regex_seconds == 0.25


def test_ordinary_regexes_keep_their_meaning_under_the_time_limited_engine() -> None:
    for pattern, text, found in [
        (r"order \d+", "your order 1234 shipped", "order 1234"),
        (r"(?i)REFUND", "a refund is due", "refund"),
        (r"^b", "a\nb", None),
        (r"(?m)^b", "a\nb", "b"),
        (r"\w+", "Grüße", "Grüße"),
    ]:
        check = TextCheck("not_matches", LOC, (pattern,), pattern=re.compile(pattern))
        failures = check_turn(expect_fields(text=(check,)), reply(text), {})
        matched = re.search(r'matched "(.*?)"', failures[0].actual) if failures else None
        assert (matched.group(1) if matched else None) == found, pattern


# --- properties -------------------------------------------------------------------------------------

YAML_PIECES = st.sampled_from(
    [
        "conversations:",
        "- name: c",
        "  turns:",
        "    - user: hi",
        "      expect:",
        "        text:",
        "{contains: a}",
        "[a, b]",
        "&x",
        "*x",
        "<<: *x",
        "!!str",
        "!include f",
        "{{ name }}",
        "'",
        '"',
        ": ",
        "- ",
        "  ",
        "\t",
        "#",
        "?",
        "|",
        ">",
        "%YAML 1.1",
        "---",
        "...",
        "null",
        "~",
        "0x1F",
        "2026-12-03",
        "true",
        "\\u0000",
        "é",
        "\U0001f600",
    ]
)


@settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(st.one_of(YAML_PIECES, st.text(string.printable, max_size=8)), max_size=40))
def test_property_no_exception_but_convtests_own_escapes_the_suite_loader(pieces: list[str]) -> None:
    with contextlib.suppress(ConvtestError):
        load_suite_text("\n".join(pieces), "fuzz.yaml")


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=6))
def test_property_splitting_a_byte_stream_never_changes_its_events(data: bytes, cuts: list[int]) -> None:
    whole = SSEDecoder()
    expected = [*whole.feed(data), *whole.close()]
    decoder, events, start = SSEDecoder(), [], 0
    for cut in sorted({min(cut, len(data)) for cut in cuts}):
        events.extend(decoder.feed(data[start:cut]))
        start = cut
    events.extend(decoder.feed(data[start:]))
    events.extend(decoder.close())
    assert events == expected
