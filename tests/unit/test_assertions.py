"""Turn expectations against transcripts: every failure reported, each with what came instead."""

from __future__ import annotations

import re
from typing import Any

import pytest
from builders import expect_fields
from jsonschema import Draft202012Validator

from convtest.checks.base import Failure
from convtest.checks.counts import Count
from convtest.checks.evaluate import check_turn
from convtest.checks.parts import (
    DataCheck,
    ErrorsCheck,
    SourcesCheck,
    UnknownEventsCheck,
)
from convtest.checks.subset import subset_mismatch
from convtest.checks.text import describe_text_check
from convtest.checks.text_model import TextCheck
from convtest.checks.tools import ToolCallPattern, ToolCheck, describe_tool_check
from convtest.exceptions import Location, TemplateRenderError
from convtest.models import SaveRule
from convtest.saves import extract_saves
from convtest.templating import Template, Value
from convtest.transcript import DataPart, Source, Timings, ToolCall, TurnTranscript

LOC = Location("suites/orders.yaml", 7)
CONTEXT = {"name": "Ada", "order_id": "1234", "word": "refund"}


def tpl(source: str) -> Template:
    return Template(source, LOC)


def text(op: str, *values: Value, line: int = 7, **options: Any) -> TextCheck:
    return TextCheck(op, Location("suites/orders.yaml", line), values=values, **options)


def reply(*blocks: str, calls: tuple[ToolCall, ...] = (), **fields: Any) -> TurnTranscript:
    return TurnTranscript(text_blocks=list(blocks), tool_calls=list(calls), **fields)


def call(name: str, input: Any = None, output: Any = None, error: str | None = None) -> ToolCall:
    return ToolCall(id=f"call-{name}", name=name, input=input, output=output, error=error)


def pattern(name: str, **subsets: Any) -> ToolCallPattern:
    return ToolCallPattern(
        name,
        LOC,
        input=subsets.get("input"),
        output=subsets.get("output"),
        has_input="input" in subsets,
        has_output="output" in subsets,
    )


def check_text(check: TextCheck, reply_text: str, context: dict[str, Any] | None = None) -> list[Failure]:
    return check_turn(
        expect_fields(text=(check,)), reply(reply_text), CONTEXT if context is None else context
    )


def only(failures: list[Failure]) -> tuple[str, str]:
    assert len(failures) == 1, failures
    return failures[0].check, failures[0].actual


def check_tools(check: ToolCheck, *calls: ToolCall) -> list[Failure]:
    return check_turn(expect_fields(tool_calls=(check,)), reply("ok", calls=calls), CONTEXT)


# --- text ops ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "reply_text"),
    [
        (text("equals", "Hello Ada"), "Hello Ada"),
        (text("contains", "Ada"), "Hello Ada!"),
        (text("contains", "Ada", "Hello"), "Hello Ada!"),
        (text("contains_all", "Ada", "Hello"), "Hello Ada!"),
        (text("contains_any", "Grace", "Ada"), "Hello Ada!"),
        (text("not_contains", "sorry"), "Hello Ada!"),
        (text("starts_with", "Hello"), "Hello Ada!"),
        (text("ends_with", "Ada!"), "Hello Ada!"),
        (text("matches", r"A\w+", pattern=re.compile(r"A\w+")), "Hello Ada!"),
        (text("not_matches", r"\d+", pattern=re.compile(r"\d+")), "Hello Ada!"),
        (TextCheck("min_length", LOC, number=5), "Hello"),
        (TextCheck("max_length", LOC, number=5), "Hello"),
    ],
)
def test_every_op_passes_when_its_predicate_holds(check: TextCheck, reply_text: str) -> None:
    assert check_text(check, reply_text) == []


@pytest.mark.parametrize(
    ("check", "reply_text", "description", "actual"),
    [
        (text("equals", "Hello Ada"), "Hello Bob", 'text equals "Hello Ada"', 'text was "Hello Bob"'),
        (text("contains", "Ada"), "Hello!", 'text contains "Ada"', 'text was "Hello!"'),
        (
            text("contains_any", "Ada", "Grace"),
            "Hello!",
            'text contains any of "Ada", "Grace"',
            'text was "Hello!"',
        ),
        (
            text("not_contains", "sorry"),
            "I am sorry",
            'text does not contain "sorry"',
            'text was "I am sorry"',
        ),
        (text("starts_with", "Hi"), "Hello", 'text starts with "Hi"', 'text was "Hello"'),
        (text("ends_with", "!"), "Hello.", 'text ends with "!"', 'text was "Hello."'),
        (
            text("matches", r"order \d+", pattern=re.compile(r"order \d+")),
            "no order",
            r"text matches /order \d+/",
            'text was "no order"',
        ),
        (
            text("not_matches", r"\d{4}", pattern=re.compile(r"\d{4}")),
            "order 1234 shipped",
            r"text does not match /\d{4}/",
            'text was "order 1234 shipped"; matched "1234"',
        ),
        (
            TextCheck("min_length", LOC, number=10),
            "Hi",
            "text is at least 10 characters long",
            'text was "Hi"; 2 characters',
        ),
        (
            TextCheck("max_length", LOC, number=3),
            "Hello",
            "text is at most 3 characters long",
            'text was "Hello"; 5 characters',
        ),
    ],
)
def test_every_op_fails_with_its_description_and_the_text(
    check: TextCheck, reply_text: str, description: str, actual: str
) -> None:
    assert only(check_text(check, reply_text)) == (description, actual)


def test_a_failure_carries_the_yaml_line_of_its_check() -> None:
    [failure] = check_text(text("contains", "Ada", line=12), "Hello")
    assert failure.location == Location("suites/orders.yaml", 12)
    assert str(failure) == 'suites/orders.yaml:12: text contains "Ada" — text was "Hello"'


def test_contains_with_several_values_names_the_missing_ones() -> None:
    check = text("contains", "Ada", "Lovelace", "Babbage")
    assert only(check_text(check, "Ada wrote notes")) == (
        'text contains all of "Ada", "Lovelace", "Babbage"',
        'text was "Ada wrote notes"; missing "Lovelace", "Babbage"',
    )


def test_contains_all_names_the_missing_values() -> None:
    check = text("contains_all", "Ada", "Lovelace")
    assert only(check_text(check, "Hello Ada")) == (
        'text contains all of "Ada", "Lovelace"',
        'text was "Hello Ada"; missing "Lovelace"',
    )


def test_non_ascii_stays_readable_and_newlines_are_escaped() -> None:
    assert only(check_text(text("contains", "café"), "Grüße\nzurück")) == (
        'text contains "café"',
        'text was "Grüße\\nzurück"',
    )


def test_an_empty_reply_is_shown_as_an_empty_string() -> None:
    assert only(check_text(text("contains", "Ada"), "")) == ('text contains "Ada"', 'text was ""')


def test_text_blocks_are_checked_as_the_joined_reply() -> None:
    expect = expect_fields(text=(text("contains", "first\n\nsecond"),))
    assert check_turn(expect, reply("first", "second"), {}) == []


# --- ignore_case -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check",
    [
        text("equals", "HELLO ADA", ignore_case=True),
        text("contains", "ada", ignore_case=True),
        text("contains_all", "ADA", "hello", ignore_case=True),
        text("contains_any", "grace", "ADA", ignore_case=True),
        text("starts_with", "hello", ignore_case=True),
        text("ends_with", "ADA", ignore_case=True),
        text("matches", tpl("{{ name | upper }}"), ignore_case=True),
    ],
)
def test_ignore_case_folds_both_sides(check: TextCheck) -> None:
    assert check_text(check, "Hello Ada") == []


def test_ignore_case_uses_casefold_not_lower() -> None:
    assert check_text(text("contains", "STRASSE", ignore_case=True), "Große Straße") == []


def test_ignore_case_is_part_of_the_description() -> None:
    check = text("not_contains", "SORRY", ignore_case=True)
    assert only(check_text(check, "I am sorry")) == (
        'text does not contain "SORRY" (ignoring case)',
        'text was "I am sorry"',
    )


def test_without_ignore_case_the_comparison_is_exact() -> None:
    assert only(check_text(text("contains", "ada"), "Hello Ada"))[0] == 'text contains "ada"'


def test_a_case_insensitive_regex_is_described_with_the_i_flag() -> None:
    check = text("matches", "refund", pattern=re.compile("refund", re.IGNORECASE), ignore_case=True)
    assert only(check_text(check, "no"))[0] == "text matches /refund/i"


# --- long texts --------------------------------------------------------------------------------

LONG = "a" * 250 + " sorry " + "b" * 250 + " The end."


def test_a_long_text_is_shown_as_head_and_tail_with_its_length() -> None:
    _, actual = only(check_text(text("contains", "Ada"), LONG))
    assert actual == f'text was "{"a" * 200}…{LONG[-80:]}" ({len(LONG)} chars)'


def test_an_unwanted_word_in_a_long_text_is_shown_in_its_context() -> None:
    _, actual = only(check_text(text("not_contains", "sorry"), LONG))
    assert actual.endswith(f'; found at character 252: "…{"a" * 59} sorry {"b" * 59}…"')


def test_an_unwanted_match_in_a_long_text_is_shown_in_its_context() -> None:
    check = text("not_matches", "s.rry", pattern=re.compile("s.rry"))
    _, actual = only(check_text(check, LONG))
    assert actual.endswith(f'; matched "sorry" at character 252: "…{"a" * 59} sorry {"b" * 59}…"')


def test_a_long_text_failing_a_length_check_does_not_repeat_its_length() -> None:
    _, actual = only(check_text(TextCheck("max_length", LOC, number=100), LONG))
    assert actual.endswith(f"({len(LONG)} chars)")


# --- templates and regexes ---------------------------------------------------------------------


def test_template_operands_are_rendered_from_the_context() -> None:
    assert check_text(text("contains", tpl("{{ name }}")), "Hello Ada") == []
    assert only(check_text(text("contains", tpl("order {{ order_id }}")), "Hello")) == (
        'text contains "order 1234"',
        'text was "Hello"',
    )


def test_a_template_regex_is_compiled_after_rendering() -> None:
    check = text("matches", tpl(r"order #?{{ order_id }}\b"))
    assert check_text(check, "Your order #1234 shipped") == []
    assert only(check_text(check, "Your order #9999 shipped"))[0] == r"text matches /order #?1234\b/"


def test_a_template_that_cannot_render_fails_its_check_and_the_others_still_run() -> None:
    expect = expect_fields(text=(text("contains", tpl("{{ missing }}")), text("contains", "Ada", line=8)))
    failures = check_turn(expect, reply("Hello"), CONTEXT)
    assert [(f.check, f.actual) for f in failures] == [
        (
            'text contains "{{ missing }}"',
            "could not render template \"{{ missing }}\": 'missing' is undefined",
        ),
        ('text contains "Ada"', 'text was "Hello"'),
    ]


def test_a_bad_rendered_regex_fails_its_check_explaining_why() -> None:
    check = text("matches", tpl("({{ word }}"))
    assert only(check_text(check, "refund")) == (
        "text matches /(refund/",
        "rendered regex /(refund/ is invalid: missing ), unterminated subpattern at position 0",
    )


# --- combinators -------------------------------------------------------------------------------


def test_any_of_holds_when_one_alternative_holds() -> None:
    check = TextCheck("any_of", LOC, children=(text("contains", "refund"), text("contains", "return")))
    assert check_text(check, "about your return") == []


def test_any_of_fails_when_every_alternative_fails() -> None:
    check = TextCheck(
        "any_of",
        LOC,
        children=(text("contains", "refund"), text("contains_all", "money", "back")),
    )
    assert only(check_text(check, "money talk")) == (
        'any of [text contains "refund"; text contains all of "money", "back"]',
        'text was "money talk"; no alternative held (alternative 2: missing "back")',
    )


def test_any_of_names_the_failing_part_of_a_nested_group() -> None:
    nested = TextCheck("all_of", LOC, children=(text("contains", "money"), text("contains", "back")))
    check = TextCheck("any_of", LOC, children=(text("contains", "refund"), nested))
    assert only(check_text(check, "money talk"))[1] == (
        'text was "money talk"; no alternative held (alternative 2: text contains "back" did not hold)'
    )


def test_all_of_reports_each_failing_child_at_its_own_line() -> None:
    check = TextCheck(
        "all_of",
        LOC,
        children=(
            text("contains", "Ada", line=9),
            text("contains", "Hi", line=10),
            text("contains", "x", line=11),
        ),
    )
    failures = check_text(check, "Hi there")
    assert [(f.check, f.location.line if f.location else 0) for f in failures] == [
        ('text contains "Ada"', 9),
        ('text contains "x"', 11),
    ]


def test_not_fails_when_its_child_holds() -> None:
    check = TextCheck("not", LOC, children=(text("contains", "sorry"),))
    assert check_text(check, "Hello") == []
    assert only(check_text(check, "so sorry")) == ('not (text contains "sorry")', 'text was "so sorry"')


def test_not_does_not_turn_a_broken_template_into_a_pass() -> None:
    check = TextCheck("not", LOC, children=(text("contains", tpl("{{ nope }}")),))
    assert only(check_text(check, "Hello"))[1].startswith('could not render template "{{ nope }}"')


def test_any_of_reports_a_broken_alternative_even_when_another_holds() -> None:
    check = TextCheck("any_of", LOC, children=(text("contains", tpl("{{ nope }}")), text("contains", "Hi")))
    assert only(check_text(check, "Hi"))[0] == 'text contains "{{ nope }}"'


def test_describe_text_check_falls_back_to_template_sources_without_context() -> None:
    check = TextCheck(
        "not", LOC, children=(text("contains_any", tpl("{{ name }}"), "Bob", ignore_case=True),)
    )
    assert describe_text_check(check) == 'not (text contains any of "{{ name }}", "Bob" (ignoring case))'
    assert describe_text_check(check, CONTEXT) == 'not (text contains any of "Ada", "Bob" (ignoring case))'


# --- subset matching ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ({"order_id": "1234"}, {"order_id": "1234", "verbose": True}),
        ({"order_id": "1234"}, {"order_id": 1234}),
        ({"price": "12.5"}, {"price": 12.5}),
        ({"filter": {"status": "open"}}, {"filter": {"status": "open", "limit": 5}, "q": "x"}),
        ({"items": [{"sku": "A"}, {"sku": "B"}]}, {"items": [{"sku": "A", "n": 1}, {"sku": "B", "n": 2}]}),
        ({"flag": None}, {"flag": None}),
        ({}, {"anything": 1}),
        ("plain", "plain"),
    ],
)
def test_subset_matches(expected: Any, actual: Any) -> None:
    assert subset_mismatch(expected, actual) is None


@pytest.mark.parametrize(
    ("expected", "actual", "message"),
    [
        ({"order_id": "1234"}, {"order_id": "9999"}, 'input.order_id was "9999", expected "1234"'),
        ({"order_id": "1234"}, {"id": "1234"}, "input.order_id is missing"),
        ({"order_id": 1234}, {"order_id": "1234"}, 'input.order_id was "1234", expected 1234'),
        ({"ok": True}, {"ok": 1}, "input.ok was 1, expected true"),
        ({"count": 1}, {"count": True}, "input.count was true, expected 1"),
        ({"flag": "True"}, {"flag": True}, 'input.flag was true, expected "True"'),
        (
            {"filter": {"status": "open"}},
            {"filter": {"status": "closed"}},
            'input.filter.status was "closed", expected "open"',
        ),
        ({"filter": {"status": "open"}}, {"filter": "open"}, 'input.filter was "open", expected an object'),
        ({"items": [{"sku": "A"}]}, {"items": {"sku": "A"}}, 'input.items was {"sku": "A"}, expected a list'),
        (
            {"items": [{"sku": "A"}]},
            {"items": [{"sku": "A"}, {"sku": "B"}]},
            "input.items has 2 items, expected 1",
        ),
        (
            {"items": [{"sku": "A"}, {"sku": "C"}]},
            {"items": [{"sku": "A"}, {"sku": "B"}]},
            'input.items.1.sku was "B", expected "C"',
        ),
        ({"order_id": "1234"}, None, "input was null, expected an object"),
    ],
)
def test_subset_mismatch_names_the_first_differing_path(expected: Any, actual: Any, message: str) -> None:
    assert subset_mismatch(expected, actual) == message


def test_subset_mismatch_renders_template_leaves_and_names_its_root() -> None:
    expected = {"order": {"id": tpl("{{ order_id }}")}}
    assert subset_mismatch(expected, {"order": {"id": 1234}}, "output", CONTEXT) is None
    assert subset_mismatch(expected, {"order": {"id": 1}}, "output", CONTEXT) == (
        'output.order.id was 1, expected "1234"'
    )


def test_subset_mismatch_raises_a_render_error_for_a_broken_template() -> None:
    with pytest.raises(TemplateRenderError, match="could not render template"):
        subset_mismatch({"id": tpl("{{ nope }}")}, {"id": 1})


# --- tool calls --------------------------------------------------------------------------------

LOOKUP = call("lookup_order", {"order_id": "1234"}, {"found": True, "status": "shipped"})
SEARCH = call("search_kb", {"query": "returns"}, ["Returns are free"])


def test_sequence_passes_with_the_same_names_in_order_and_matching_subsets() -> None:
    check = ToolCheck(
        "sequence",
        LOC,
        calls=(pattern("search_kb"), pattern("lookup_order", input={"order_id": tpl("{{ order_id }}")})),
    )
    assert check_tools(check, SEARCH, call("lookup_order", {"order_id": 1234})) == []


def test_sequence_reports_the_input_path_that_differs() -> None:
    check = ToolCheck("sequence", LOC, calls=(pattern("lookup_order", input={"order_id": "1234"}),))
    assert only(check_tools(check, call("lookup_order", {"order_id": "9999"}))) == (
        'tool calls are exactly [lookup_order(input ⊇ {"order_id": "1234"})]',
        'call 1 lookup_order: input.order_id was "9999", expected "1234"; '
        'calls were [lookup_order(input={"order_id": "9999"})]',
    )


def test_sequence_reports_an_output_that_differs() -> None:
    check = ToolCheck("sequence", LOC, calls=(pattern("lookup_order", output={"status": "delivered"}),))
    assert only(check_tools(check, LOOKUP)) == (
        'tool calls are exactly [lookup_order(output ⊇ {"status": "delivered"})]',
        'call 1 lookup_order: output.status was "shipped", expected "delivered"; '
        'calls were [lookup_order(input={"order_id": "1234"}) → {"found": true, "status": "shipped"}]',
    )


def test_sequence_reports_a_failed_call_where_output_was_expected() -> None:
    check = ToolCheck("sequence", LOC, calls=(pattern("lookup_order", output={"found": True}),))
    failed = call("lookup_order", {"order_id": "1"}, error="timeout")
    assert only(check_tools(check, failed))[1] == (
        'call 1 lookup_order: no output, the call failed with "timeout"; '
        'calls were [lookup_order(input={"order_id": "1"}) → error "timeout"]'
    )


def test_sequence_reports_names_in_the_wrong_order() -> None:
    check = ToolCheck("sequence", LOC, calls=(pattern("lookup_order"), pattern("search_kb")))
    _, actual = only(check_tools(check, SEARCH, LOOKUP))
    assert actual.startswith(
        "call 1 was search_kb, expected lookup_order; call 2 was lookup_order, expected search_kb; "
    )


def test_sequence_reports_missing_calls() -> None:
    check = ToolCheck("sequence", LOC, calls=(pattern("search_kb"), pattern("lookup_order")))
    assert only(check_tools(check, SEARCH))[1] == (
        "missing call 2 lookup_order; "
        'calls were [search_kb(input={"query": "returns"}) → ["Returns are free"]]'
    )
    assert (
        only(check_tools(check))[1] == "missing call 1 search_kb; missing call 2 lookup_order; no tool calls"
    )


def test_sequence_reports_unexpected_calls() -> None:
    check = ToolCheck("sequence", LOC, calls=(pattern("search_kb"),))
    assert only(check_tools(check, SEARCH, LOOKUP))[1].startswith(
        "unexpected call 2 lookup_order; calls were ["
    )


def test_an_empty_sequence_expects_no_calls() -> None:
    check = ToolCheck("sequence", LOC)
    assert check_tools(check) == []
    assert only(check_tools(check, LOOKUP))[0] == "tool calls are exactly []"


def test_sequence_with_a_broken_template_fails_saying_so() -> None:
    check = ToolCheck(
        "sequence", LOC, calls=(pattern("lookup_order", input={"order_id": tpl("{{ nope }}")}),)
    )
    assert only(check_tools(check, LOOKUP)) == (
        'tool calls are exactly [lookup_order(input ⊇ {"order_id": "{{ nope }}"})]',
        "could not render template \"{{ nope }}\": 'nope' is undefined",
    )


def test_called_passes_when_each_pattern_matches_some_call() -> None:
    check = ToolCheck(
        "called", LOC, calls=(pattern("lookup_order", input={"order_id": "1234"}), pattern("search_kb"))
    )
    assert check_tools(check, call("lookup_order", {"order_id": "1"}), SEARCH, LOOKUP) == []


def test_called_reports_each_unmatched_pattern_at_its_line_with_the_nearest_call() -> None:
    wanted = ToolCallPattern(
        "lookup_order", Location("suites/orders.yaml", 21), {"order_id": "1234"}, has_input=True
    )
    check = ToolCheck("called", LOC, calls=(pattern("search_kb"), wanted))
    [failure] = check_tools(check, SEARCH, call("lookup_order", {"order_id": "9"}))
    assert failure.check == 'tool calls include lookup_order(input ⊇ {"order_id": "1234"})'
    assert failure.actual.startswith(
        'call 2 lookup_order: input.order_id was "9", expected "1234"; calls were ['
    )
    assert failure.location == Location("suites/orders.yaml", 21)


def test_called_without_a_call_of_that_name_lists_the_calls_made() -> None:
    check = ToolCheck("called", LOC, calls=(pattern("lookup_order"),))
    assert only(check_tools(check, SEARCH)) == (
        "tool calls include lookup_order",
        'calls were [search_kb(input={"query": "returns"}) → ["Returns are free"]]',
    )
    assert only(check_tools(check))[1] == "no tool calls"


def test_not_called_names_the_forbidden_calls_that_were_made() -> None:
    check = ToolCheck("not_called", LOC, names=("cancel_order", "search_kb", "refund"))
    assert check_tools(check, LOOKUP) == []
    assert only(check_tools(check, SEARCH)) == (
        "no call to cancel_order, search_kb or refund",
        'search_kb was called; calls were [search_kb(input={"query": "returns"}) → ["Returns are free"]]',
    )


def test_none_fails_on_any_call() -> None:
    check = ToolCheck("none", LOC)
    assert check_tools(check) == []
    assert only(check_tools(check, call("ping"))) == ("no tool calls", "calls were [ping()]")


def test_count_compares_the_exact_number_of_calls() -> None:
    check = ToolCheck("count", LOC, number=1)
    assert check_tools(check, SEARCH) == []
    assert only(check_tools(check, call("a"), call("b"))) == (
        "exactly 1 tool call",
        "2 calls made: [a(), b()]",
    )
    assert only(check_tools(ToolCheck("count", LOC, number=2))) == ("exactly 2 tool calls", "no tool calls")


def test_long_call_json_is_cut_to_one_short_line() -> None:
    big = call("search_kb", {"query": "x" * 300})
    _, actual = only(check_tools(ToolCheck("none", LOC), big))
    assert actual == f'calls were [search_kb(input={{"query": "{"x" * 108}…)]'


def test_describe_tool_check_without_context_shows_template_sources() -> None:
    check = ToolCheck(
        "sequence", LOC, calls=(pattern("lookup_order", input={"order_id": tpl("{{ order_id }}")}),)
    )
    assert (
        describe_tool_check(check)
        == 'tool calls are exactly [lookup_order(input ⊇ {"order_id": "{{ order_id }}"})]'
    )


# --- finish reason and latency -----------------------------------------------------------------


def test_finish_reason_must_be_one_of_the_accepted() -> None:
    expect = expect_fields(finish_reason=("stop",), finish_reason_location=LOC)
    assert check_turn(expect, reply("x", finish_reason="stop"), {}) == []
    assert only(check_turn(expect, reply("x", finish_reason="length"), {})) == (
        'finish_reason is "stop"',
        'finish_reason was "length"',
    )


def test_several_finish_reasons_are_listed_and_a_missing_one_is_said() -> None:
    expect = expect_fields(finish_reason=("stop", "length"))
    assert only(check_turn(expect, reply("x"), {})) == (
        'finish_reason is one of "stop", "length"',
        "no finish reason arrived",
    )


def test_latency_limits_report_the_measured_time() -> None:
    expect = expect_fields(max_first_token_ms=800, max_total_ms=5000, latency_location=LOC)
    slow = reply("x", timings=Timings(first_token_ms=1203.4, total_ms=5000.0))
    assert only(check_turn(expect, slow, {})) == ("first token within 800 ms", "first token after 1203 ms")


def test_a_late_time_never_rounds_down_to_the_limit() -> None:
    expect = expect_fields(max_total_ms=5000)
    slow = reply("x", timings=Timings(first_token_ms=10, total_ms=5000.2))
    assert only(check_turn(expect, slow, {})) == (
        "turn finished within 5000 ms",
        "turn finished after 5000.2 ms",
    )


def test_missing_timings_fail_their_limits() -> None:
    expect = expect_fields(max_first_token_ms=800.5, max_total_ms=5000)
    assert [(f.check, f.actual) for f in check_turn(expect, reply(), {})] == [
        ("first token within 800.5 ms", "no text token arrived"),
        ("turn finished within 5000 ms", "the turn never finished"),
    ]


def test_all_checks_run_and_failures_follow_the_order_of_the_checks() -> None:
    expect = expect_fields(
        text=(text("contains", "Ada"), text("contains", "Bob")),
        tool_calls=(ToolCheck("none", LOC),),
        finish_reason=("stop",),
        max_first_token_ms=100,
    )
    transcript = reply(
        "Hi", calls=(call("ping"),), finish_reason="error", timings=Timings(first_token_ms=150)
    )
    assert [f.check for f in check_turn(expect, transcript, {})] == [
        'text contains "Ada"',
        'text contains "Bob"',
        "no tool calls",
        'finish_reason is "stop"',
        "first token within 100 ms",
    ]


def test_an_empty_expectation_passes_anything() -> None:
    assert check_turn(expect_fields(), reply(), {}) == []


# --- saves -------------------------------------------------------------------------------------

ORDER = call(
    "lookup_order",
    {"order_id": "1234"},
    {"found": True, "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}]},
)
SAVED_TURN = reply(
    "Your tracking number is ZX81 and it ships today.",
    calls=(SEARCH, ORDER),
    session_id="s-1",
    message_id="m-9",
)


def save(name: str, source: Any, **options: Any) -> SaveRule:
    return SaveRule(name, source, LOC, **options)


def saved_values(*rules: SaveRule, transcript: TurnTranscript = SAVED_TURN) -> dict[str, Any]:
    values, failures = extract_saves(rules, transcript)
    assert failures == []
    return values


def save_failure(rule: SaveRule, transcript: TurnTranscript = SAVED_TURN) -> tuple[str, str]:
    values, failures = extract_saves((rule,), transcript)
    assert values == {}
    return only(failures)


def test_saves_take_text_by_regex_group_or_whole() -> None:
    assert saved_values(
        save("tracking", "text", regex=re.compile(r"tracking number is (\w+)"), group=1),
        save("named", "text", regex=re.compile(r"is (?P<code>[A-Z]+\d+)"), group="code"),
        save("match", "text", regex=re.compile(r"ships \w+")),
        save("reply", "text"),
    ) == {
        "tracking": "ZX81",
        "named": "ZX81",
        "match": "ships today",
        "reply": "Your tracking number is ZX81 and it ships today.",
    }


def test_saves_take_tool_values_by_name_and_path() -> None:
    assert saved_values(
        save("sku", "tool_output", tool="lookup_order", path="items.1.sku"),
        save("order", "tool_input", tool="lookup_order", path="order_id"),
        save("last_input", "tool_input"),
        save("query", "tool_input", tool="search_kb", path="query"),
        save("first_hit", "tool_output", tool="search_kb", path="0"),
    ) == {
        "sku": "B-2",
        "order": "1234",
        "last_input": {"order_id": "1234"},
        "query": "returns",
        "first_hit": "Returns are free",
    }


def test_saves_take_the_first_call_of_the_named_tool() -> None:
    turn = reply(calls=(call("t", {"n": 1}), call("t", {"n": 2})))
    assert saved_values(save("n", "tool_input", tool="t", path="n"), transcript=turn) == {"n": 1}


def test_saves_take_session_and_message_ids() -> None:
    assert saved_values(save("sid", "session_id"), save("mid", "message_id")) == {"sid": "s-1", "mid": "m-9"}


def test_a_regex_that_does_not_match_fails_the_save_showing_the_text() -> None:
    rule = save("tracking", "text", regex=re.compile(r"tracking code (\w+)"), group=1)
    assert save_failure(rule) == (
        r'save "tracking": regex /tracking code (\w+)/ did not match the text',
        'text was "Your tracking number is ZX81 and it ships today."',
    )


def test_a_group_outside_the_match_fails_the_save() -> None:
    rule = save("x", "text", regex=re.compile(r"ships (tomorrow)?", re.IGNORECASE), group=1)
    assert save_failure(rule) == (
        'save "x": group 1 of regex /ships (tomorrow)?/i took no part in the match',
        'match was "ships "',
    )
    assert save_failure(save("x", "text", regex=re.compile("ships"), group=2))[0] == (
        'save "x": regex /ships/ has no group 2'
    )


def test_saving_text_from_a_turn_without_text_fails() -> None:
    assert save_failure(save("x", "text"), reply()) == ('save "x": the turn has no text', 'text was ""')


def test_a_missing_call_fails_the_save_listing_the_calls() -> None:
    assert save_failure(
        save("sku", "tool_output", tool="cancel_order", path="id"), reply(calls=(call("ping"),))
    ) == (
        'save "sku": no call to cancel_order in this turn',
        "calls were [ping()]",
    )
    assert save_failure(save("sku", "tool_output"), reply()) == (
        'save "sku": no tool call in this turn',
        "no tool calls",
    )


def test_a_failed_call_has_no_output_to_save() -> None:
    turn = reply(calls=(call("lookup_order", {"order_id": "1"}, error="boom"),))
    assert save_failure(save("x", "tool_output", tool="lookup_order"), turn) == (
        'save "x": call to lookup_order has no output',
        'the call failed with "boom"',
    )


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("items.3.sku", "output.items has 2 items"),
        ("items.first", "output.items is a list"),
        ("items.0.price", 'output.items.0 has no key "price"'),
        ("found.value", "output.found is true, not an object or list"),
        ("total", 'output has no key "total"'),
    ],
)
def test_a_path_not_found_fails_the_save_saying_where_it_stopped(path: str, reason: str) -> None:
    check, actual = save_failure(save("x", "tool_output", tool="lookup_order", path=path))
    assert check == f'save "x": path {path} not found in output of lookup_order'
    output = '{"found": true, "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}]}'
    assert actual == f"{reason}; output was {output}"


def test_missing_ids_fail_their_saves() -> None:
    assert save_failure(save("sid", "session_id"), reply()) == (
        'save "sid": no session_id in this turn',
        "the stream carried no session id",
    )
    assert save_failure(save("mid", "message_id"), reply())[0] == 'save "mid": no message_id in this turn'


def test_every_rule_is_tried_and_found_values_are_kept() -> None:
    values, failures = extract_saves(
        (save("a", "session_id"), save("b", "message_id")), reply(session_id="s")
    )
    assert values == {"a": "s"}
    assert [f.check for f in failures] == ['save "b": no message_id in this turn']


# --- reasoning ---------------------------------------------------------------------------------


def test_reasoning_checks_read_the_reasoning_and_say_so() -> None:
    expect = expect_fields(reasoning=(text("contains", "calculator"), text("not_contains", "guess")))
    transcript = reply("4", reasoning_blocks=["I will guess."])
    assert [(f.check, f.actual) for f in check_turn(expect, transcript, CONTEXT)] == [
        ('reasoning contains "calculator"', 'reasoning was "I will guess."'),
        ('reasoning does not contain "guess"', 'reasoning was "I will guess."'),
    ]
    assert check_turn(expect, reply("4", reasoning_blocks=["Use the calculator."]), CONTEXT) == []


def test_describing_a_nested_reasoning_check_names_the_reasoning_throughout() -> None:
    check = TextCheck(
        "any_of", LOC, children=(text("contains", "a"), text("matches", "b", pattern=re.compile("b")))
    )
    assert (
        describe_text_check(check, subject="reasoning")
        == 'any of [reasoning contains "a"; reasoning matches /b/]'
    )


# --- tool errors and input schemas -------------------------------------------------------------


def schema_pattern(name: str, schema: dict[str, Any]) -> ToolCallPattern:
    return ToolCallPattern(name, LOC, input_schema=Draft202012Validator(schema))


ORDER_SCHEMA = {
    "type": "object",
    "required": ["order_id"],
    "properties": {"order_id": {"type": "string", "pattern": "^[0-9]{4}$"}},
}


def test_an_input_valid_against_the_schema_matches() -> None:
    check = ToolCheck("called", LOC, calls=(schema_pattern("lookup_order", ORDER_SCHEMA),))
    assert check_tools(check, call("lookup_order", {"order_id": "1234", "extra": 1})) == []


@pytest.mark.parametrize(
    ("tool_input", "problem"),
    [
        ({"order_id": 1234}, "input.order_id: 1234 is not of type 'string'"),
        ({"order_id": "12"}, "input.order_id: '12' does not match '^[0-9]{4}$'"),
        ({}, "input: 'order_id' is a required property"),
        (None, "input: None is not of type 'object'"),
    ],
)
def test_an_input_against_the_schema_fails_at_the_offending_path(tool_input: Any, problem: str) -> None:
    check = ToolCheck("sequence", LOC, calls=(schema_pattern("lookup_order", ORDER_SCHEMA),))
    description, actual = only(check_tools(check, call("lookup_order", tool_input)))
    assert description == "tool calls are exactly [lookup_order(input valid against input_schema)]"
    assert actual.startswith(f"call 1 lookup_order: {problem} (input_schema); calls were [")


@pytest.mark.parametrize(
    ("expected", "made", "problem"),
    [
        (True, call("check_stock", output={"ok": 1}), "the call did not fail"),
        (False, call("check_stock", error="HTTP 503"), 'the call failed with "HTTP 503"'),
        ("timeout", call("check_stock", error="HTTP 503"), 'error was "HTTP 503"'),
        ("timeout", call("check_stock", output={}), "the call did not fail"),
    ],
)
def test_tool_error_expectations_say_how_the_call_ended(
    expected: bool | str, made: ToolCall, problem: str
) -> None:
    check = ToolCheck("called", LOC, calls=(ToolCallPattern("check_stock", LOC, error=expected),))
    assert only(check_tools(check, made))[1].startswith(f"call 1 check_stock: {problem}; calls were [")


@pytest.mark.parametrize(
    ("expected", "made", "words"),
    [
        (True, call("check_stock", error="HTTP 503"), "failed"),
        (False, call("check_stock", output={}), "did not fail"),
        ("503", call("check_stock", error="HTTP 503"), 'error contains "503"'),
    ],
)
def test_tool_error_expectations_hold_and_read_well(expected: bool | str, made: ToolCall, words: str) -> None:
    check = ToolCheck("called", LOC, calls=(ToolCallPattern("check_stock", LOC, error=expected),))
    assert check_tools(check, made) == []
    assert describe_tool_check(check) == f"tool calls include check_stock({words})"


# --- sources, data parts, error chunks, steps, abort --------------------------------------------

URL_SOURCE = Source("url", "s1", url="https://help.example/returns", title="Return policy")
DOC_SOURCE = Source("document", "s2", title="Terms", media_type="application/pdf")


def check_parts(transcript: TurnTranscript, **fields: Any) -> list[tuple[str, str]]:
    failures = check_turn(expect_fields(**fields), transcript, CONTEXT)
    return [(failure.check, failure.actual) for failure in failures]


def test_sources_count_and_substrings_hold() -> None:
    sources = SourcesCheck(LOC, Count(LOC, 1, 2), urls=("help.example",), titles=("Terms",))
    assert check_parts(reply("ok", sources=[URL_SOURCE, DOC_SOURCE]), sources=sources) == []


def test_sources_failures_list_the_sources_that_came() -> None:
    sources = SourcesCheck(LOC, Count(LOC, 2, 2), urls=("shop.example",))
    listed = 'sources were [https://help.example/returns ("Return policy")]'
    assert check_parts(reply("ok", sources=[URL_SOURCE]), sources=sources) == [
        ("exactly 2 sources", listed),
        ('a source URL contains "shop.example"', listed),
    ]
    none = SourcesCheck(LOC, Count(LOC, 0, 0))
    assert check_parts(reply("ok", sources=[DOC_SOURCE]), sources=none) == [
        ("no sources", 'sources were [document "Terms" (application/pdf)]')
    ]
    assert check_parts(reply("ok"), sources=sources)[0] == ("exactly 2 sources", "no sources arrived")


def test_data_checks_match_any_part_of_that_name_as_a_subset() -> None:
    parts = [
        DataPart("weather", {"city": "Oslo", "temp": 3}, "w1"),
        DataPart("weather", {"city": "Rome"}, "w2"),
    ]
    check = DataCheck("weather", {"city": "Rome"}, LOC)
    assert check_parts(reply("ok", data_parts=parts), data=(check,)) == []
    session = DataCheck("session", tpl("{{ name }}-1"), LOC)
    assert check_parts(reply("ok", data_parts=[DataPart("session", "Ada-1")]), data=(session,)) == []


def test_data_failures_say_what_differs_or_which_parts_came() -> None:
    parts = [DataPart("weather", {"city": "Oslo"}), DataPart("session", "s-1")]
    assert check_parts(
        reply("ok", data_parts=parts), data=(DataCheck("weather", {"city": "Rome"}, LOC),)
    ) == [('data-weather ⊇ {"city": "Rome"}', 'data-weather.city was "Oslo", expected "Rome"')]
    assert check_parts(reply("ok", data_parts=parts), data=(DataCheck("order", "x", LOC),)) == [
        ('data-order is "x"', "no data-order part arrived; parts were data-weather, data-session")
    ]
    assert (
        check_parts(reply("ok"), data=(DataCheck("order", "x", LOC),))[0][1] == "no data-order part arrived"
    )


def test_data_check_with_a_broken_template_fails_saying_so() -> None:
    check = DataCheck("session", tpl("{{ missing.deeper }}"), LOC)
    [(_, actual)] = check_parts(reply("ok", data_parts=[DataPart("session", "s")]), data=(check,))
    assert actual.startswith('could not render template "{{ missing.deeper }}"')


def test_an_error_chunk_fails_a_turn_that_does_not_expect_one() -> None:
    assert check_parts(reply("Let me", errors=["Simulated model failure"])) == [
        (
            "no error chunks (set `expect.errors` to expect them)",
            'error chunks were ["Simulated model failure"]',
        )
    ]
    assert check_parts(reply("Let me", errors=["boom"]), errors=None) == []


def test_expected_error_chunks_are_counted_and_searched() -> None:
    errors = ErrorsCheck(LOC, Count(LOC, 1, 1), contains=("quota",))
    assert check_parts(reply("", errors=["quota exceeded"]), errors=errors) == []
    assert check_parts(reply("", errors=["a", "b"]), errors=errors) == [
        ("exactly 1 error chunk", 'error chunks were ["a", "b"]'),
        ('an error chunk contains "quota"', 'error chunks were ["a", "b"]'),
    ]
    assert check_parts(reply("ok"), errors=ErrorsCheck(LOC, contains=("quota",))) == [
        ('an error chunk contains "quota"', "no error chunk arrived")
    ]


@pytest.mark.parametrize(
    ("count", "steps", "failure"),
    [
        (Count(LOC, 2, 2), 2, None),
        (Count(LOC, 1, 3), 3, None),
        (Count(LOC, 2, 2), 1, ("exactly 2 steps", "1 step (start-step chunks)")),
        (Count(LOC, 2, None), 1, ("at least 2 steps", "1 step (start-step chunks)")),
        (Count(LOC, 0, 1), 2, ("at most 1 step", "2 steps (start-step chunks)")),
        (Count(LOC, 2, 3), 0, ("2 to 3 steps", "0 steps (start-step chunks)")),
    ],
)
def test_steps_are_counted_within_bounds(count: Count, steps: int, failure: tuple[str, str] | None) -> None:
    assert check_parts(reply("ok", steps=steps), steps=count) == ([failure] if failure else [])


def test_an_abort_fails_unless_expected_and_an_expected_one_must_come() -> None:
    aborted = reply("Hal", aborted=True, abort_reason="user left")
    assert check_parts(aborted) == [
        (
            "the stream is not aborted (set `expect.aborted`)",
            'an abort chunk arrived (reason "user left"); text so far "Hal"',
        )
    ]
    assert check_parts(aborted, aborted=True, aborted_location=LOC) == []
    assert check_parts(aborted, aborted=None) == []
    assert check_parts(reply("ok"), aborted=True, aborted_location=LOC) == [
        ("the stream is aborted", "no abort chunk arrived")
    ]


def test_a_schema_whose_ref_cannot_be_resolved_fails_the_check_without_fetching_anything() -> None:
    check = ToolCheck(
        "called", LOC, calls=(schema_pattern("a", {"$ref": "https://schemas.example/order.json"}),)
    )
    [(_, actual)] = [(f.check, f.actual) for f in check_tools(check, call("a", {}))]
    assert actual.startswith(
        "call 1 a: input_schema cannot be used: unresolvable $ref (Unresolvable: https://"
    )


def test_unknown_events_can_be_expected_by_type_or_forbidden() -> None:
    unknown = reply("ok", unknown_events=[{"type": "brand-new-chunk"}, {"type": "tool-result-v9"}])
    wanted = UnknownEventsCheck(LOC, types=("brand-new-chunk",))
    assert check_parts(unknown, unknown_events=wanted) == []
    listed = 'unknown events were ["brand-new-chunk", "tool-result-v9"]'
    assert check_parts(unknown, unknown_events=UnknownEventsCheck(LOC, Count(LOC, 0, 0))) == [
        ("no unknown events", listed)
    ]
    missing = UnknownEventsCheck(LOC, types=("x",))
    assert check_parts(reply("ok"), unknown_events=missing) == [
        ('an unknown event of type "x"', "no unknown event arrived")
    ]
