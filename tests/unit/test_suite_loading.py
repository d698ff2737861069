"""Loading suite files: the typed model, line numbers, and a clear message for every mistake."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import TypeVar

import pytest
from builders import expect_fields
from docs_examples import DocSuite, doc_suites

from convtest.checks import counts, finish, parts, python, tools
from convtest.checks.counts import Count
from convtest.checks.finish import FinishReasonCheck
from convtest.checks.parts import (
    NO_ERRORS,
    NOT_ABORTED,
    AbortedCheck,
    DataChecks,
    ErrorsCheck,
    SourcesCheck,
    StepsCheck,
    UnknownEventsCheck,
)
from convtest.checks.registry import IGNORE_CASE, check_registry
from convtest.checks.text import TextChecks
from convtest.checks.text_model import TextCheck
from convtest.checks.tools import ToolCallPattern, ToolCheck, ToolChecks
from convtest.exceptions import Location, SuiteError
from convtest.models import Conversation, Expectation, SaveRule, Suite, Turn
from convtest.suite import is_suite_file, load_suite, load_suite_text, loader, save
from convtest.templating import Template

T = TypeVar("T")
FILE = "suites/t.yaml"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "suite-format.md"


def at(line: int) -> Location:
    return Location(FILE, line)


def load(text: str, **kwargs: str) -> Suite:
    return load_suite_text(textwrap.dedent(text), FILE, **kwargs)


def raised(text: str) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        load(text)
    return info.value


def errors(text: str) -> list[SuiteError]:
    """All errors of a file whose conversations are all invalid."""
    suite = load(text)
    assert suite.conversations == ()
    return [error for invalid in suite.invalid for error in invalid.errors]


def only_error(text: str) -> SuiteError:
    found = errors(text)
    assert len(found) == 1, [str(error) for error in found]
    return found[0]


def one_turn(expect: str, user: str = "hi") -> str:
    """A suite with one conversation 'c' whose one turn (line 4) has ``expect`` from line 5 on."""
    body = textwrap.indent(textwrap.dedent(expect).strip("\n"), " " * 10)
    return f"conversations:\n  - name: c\n    turns:\n      - user: {user}\n        expect:\n{body}\n"


def expectation(expect: str) -> Expectation:
    suite = load_suite_text(one_turn(expect), FILE)
    assert suite.invalid == (), [str(error) for invalid in suite.invalid for error in invalid.errors]
    return suite.conversations[0].turns[0].expect


def checks_of(expect: Expectation, kind: type[T]) -> T:
    """The one check of an expectation built by the kind whose check type is ``kind``."""
    (found,) = (check for check in expect.checks if isinstance(check, kind))
    return found


def text_checks(expect: str) -> tuple[TextCheck, ...]:
    found = [check for check in expectation(expect).checks if isinstance(check, TextChecks)]
    return next((check.checks for check in found if check.subject == "text"), ())


def tool_checks(expect: str) -> tuple[ToolCheck, ...]:
    found = [check for check in expectation(expect).checks if isinstance(check, ToolChecks)]
    return found[0].checks if found else ()


def one_turn_error(expect: str) -> SuiteError:
    found = errors(one_turn(expect))
    assert len(found) == 1, [str(error) for error in found]
    return found[0]


# --- the model ------------------------------------------------------------------------------------


def test_full_valid_suite_builds_the_exact_model() -> None:
    suite = load(
        """\
        suite: support bot
        target: reference
        defaults:
          platform: app
          tags: [smoke]
          vars: {shop: Acme}
          expect:
            finish_reason: stop
        conversations:
          - name: remembers the user's name
            tags: [memory, smoke]
            target: staging
            platform: web
            vars: {customer: Ada}
            skip: "flaky upstream"
            xfail: "known bug"
            turns:
              - user: "Hi, my name is {{ customer }}"
                expect:
                  text: {contains: Ada}
                  tool_calls: {none: true}
                  finish_reason: [stop, length]
                  latency: {first_token_ms: 800, total_ms: 5000}
                save:
                  tracking: {from: text, regex: 'tracking number (\\w+)'}
              - user: "Where is {{ tracking }}?"
          - name: second
            turns:
              - user: hello
        """
    )
    first = Conversation(
        name="remembers the user's name",
        location=at(10),
        turns=(
            Turn(
                index=1,
                user=Template("Hi, my name is {{ customer }}", at(18)),
                location=at(18),
                expect=expect_fields(
                    text=(TextCheck("contains", at(20), values=("Ada",)),),
                    tool_calls=(ToolCheck("none", at(21)),),
                    finish_reason=("stop", "length"),
                    finish_reason_location=at(22),
                    max_first_token_ms=800.0,
                    max_total_ms=5000.0,
                    latency_location=at(23),
                ),
                save=(
                    SaveRule("tracking", "text", at(25), regex=re.compile(r"tracking number (\w+)"), group=1),
                ),
            ),
            Turn(
                index=2,
                user=Template("Where is {{ tracking }}?", at(26)),
                location=at(26),
                expect=expect_fields(finish_reason=("stop",), finish_reason_location=at(8)),
            ),
        ),
        tags=("smoke", "memory"),
        target="staging",
        platform="web",
        vars={"shop": "Acme", "customer": "Ada"},
        skip="flaky upstream",
        xfail="known bug",
    )
    second = Conversation(
        name="second",
        location=at(27),
        turns=(
            Turn(
                index=1,
                user="hello",
                location=at(29),
                expect=expect_fields(finish_reason=("stop",), finish_reason_location=at(8)),
            ),
        ),
        tags=("smoke",),
        target="reference",
        platform="app",
        vars={"shop": "Acme"},
    )
    assert suite == Suite(name="support bot", path=Path(FILE), conversations=(first, second))


def test_minimal_suite_takes_its_name_from_the_file_and_platform_web() -> None:
    suite = load_suite_text("conversations:\n  - name: a\n    turns: [{user: hi}]\n", "suites/orders.yaml")
    assert suite.name == "orders"
    assert suite.path == Path("suites/orders.yaml")
    conversation = suite.conversations[0]
    assert (conversation.platform, conversation.tags, conversation.target, conversation.vars) == (
        "web",
        (),
        None,
        {},
    )
    assert (conversation.skip, conversation.xfail) == (None, None)
    assert conversation.turns[0].expect == expect_fields()


def test_load_suite_reads_the_file_and_names_it_by_display_path(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text("conversations:\n  - name: a\n    turns: [{user: hi}]\n  - nope\n", encoding="utf-8")
    suite = load_suite(path, display_path="suites/orders.yaml")
    assert suite.path == path
    assert suite.name == "orders"
    assert suite.invalid[0].location == Location("suites/orders.yaml", 4)


def test_load_suite_names_the_path_itself_without_display_path(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text("conversations: 1\n", encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert info.value.location == Location(str(path), 1)


def test_unreadable_suite_file_is_a_suite_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"cannot read suite file suites/missing.yaml: No such file"):
        load_suite(tmp_path / "missing.yaml", display_path="suites/missing.yaml")


def test_non_utf8_suite_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"conversations:\n  - name: caf\xe9\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path, display_path="suites/latin.yaml")
    assert info.value.location == Location("suites/latin.yaml", 2)
    assert "not valid UTF-8" in info.value.message


@pytest.mark.parametrize(
    ("suite_target", "conversation_target", "expected"),
    [(None, None, "run-default"), ("suite-level", None, "suite-level"), ("suite-level", "own", "own")],
)
def test_target_comes_from_conversation_then_suite_then_default(
    suite_target: str | None, conversation_target: str | None, expected: str
) -> None:
    text = f"target: {suite_target}\n" if suite_target else ""
    text += "conversations:\n  - name: a\n    turns: [{user: hi}]\n"
    text += f"    target: {conversation_target}\n" if conversation_target else ""
    suite = load(text, default_target="run-default")
    assert suite.conversations[0].target == expected


# --- expect.text ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expect", "expected"),
    [
        ("text: {equals: Hello}", TextCheck("equals", at(6), values=("Hello",))),
        ("text: {contains: Ada}", TextCheck("contains", at(6), values=("Ada",))),
        ("text: {contains: [a, b]}", TextCheck("contains_all", at(6), values=("a", "b"))),
        ("text: {not_contains: sorry}", TextCheck("not_contains", at(6), values=("sorry",))),
        ("text: {contains_any: [a, b]}", TextCheck("contains_any", at(6), values=("a", "b"))),
        ("text: {contains_all: [a, b]}", TextCheck("contains_all", at(6), values=("a", "b"))),
        ("text: {starts_with: Hi}", TextCheck("starts_with", at(6), values=("Hi",))),
        ("text: {ends_with: '!'}", TextCheck("ends_with", at(6), values=("!",))),
        ("text: {min_length: 0}", TextCheck("min_length", at(6), number=0)),
        ("text: {max_length: 200}", TextCheck("max_length", at(6), number=200)),
        (
            r"text: {matches: 'order \d+'}",
            TextCheck("matches", at(6), values=(r"order \d+",), pattern=re.compile(r"order \d+")),
        ),
        (
            "text: {not_matches: err}",
            TextCheck("not_matches", at(6), values=("err",), pattern=re.compile("err")),
        ),
    ],
)
def test_each_text_check_key_becomes_one_text_check(expect: str, expected: TextCheck) -> None:
    assert text_checks(expect) == (expected,)


def test_text_mapping_gives_one_check_per_key_each_at_its_own_line() -> None:
    checks = text_checks(
        """\
        text:
          contains: Ada
          matches: 'A.a'
        """
    )
    assert checks == (
        TextCheck("contains", at(7), values=("Ada",)),
        TextCheck("matches", at(8), values=("A.a",), pattern=re.compile("A.a")),
    )


def test_text_list_form_collects_the_checks_of_every_mapping() -> None:
    checks = text_checks(
        """\
        text:
          - {starts_with: Hi}
          - {ends_with: bye, ignore_case: true}
        """
    )
    assert checks == (
        TextCheck("starts_with", at(7), values=("Hi",)),
        TextCheck("ends_with", at(8), values=("bye",), ignore_case=True),
    )


def test_not_contains_list_becomes_all_of_single_not_contains_checks() -> None:
    checks = text_checks(
        """\
        text:
          not_contains:
            - sorry
            - error
        """
    )
    assert checks == (
        TextCheck(
            "all_of",
            at(7),
            children=(
                TextCheck("not_contains", at(8), values=("sorry",)),
                TextCheck("not_contains", at(9), values=("error",)),
            ),
        ),
    )


def test_ignore_case_applies_to_its_mapping_and_compiles_regexes_case_insensitively() -> None:
    checks = text_checks("text: {matches: ada, contains: X, ignore_case: true}")
    assert checks == (
        TextCheck(
            "matches", at(6), values=("ada",), ignore_case=True, pattern=re.compile("ada", re.IGNORECASE)
        ),
        TextCheck("contains", at(6), values=("X",), ignore_case=True),
    )
    assert checks[0].pattern is not None
    assert checks[0].pattern.search("ADA")


def test_ignore_case_is_inherited_by_nested_combinators_and_can_be_turned_off() -> None:
    checks = text_checks(
        """\
        text:
          ignore_case: true
          any_of:
            - {contains: a}
            - {contains: b, ignore_case: false}
          not: {equals: c}
        """
    )
    assert checks == (
        TextCheck(
            "any_of",
            at(8),
            ignore_case=True,
            children=(
                TextCheck("contains", at(9), values=("a",), ignore_case=True),
                TextCheck("contains", at(10), values=("b",)),
            ),
        ),
        TextCheck(
            "not",
            at(11),
            ignore_case=True,
            children=(TextCheck("equals", at(11), values=("c",), ignore_case=True),),
        ),
    )


def test_any_of_item_with_several_keys_is_one_all_of_alternative() -> None:
    checks = text_checks(
        """\
        text:
          any_of:
            - {contains: a, ends_with: b}
            - {equals: c}
        """
    )
    assert checks == (
        TextCheck(
            "any_of",
            at(7),
            children=(
                TextCheck(
                    "all_of",
                    at(8),
                    children=(
                        TextCheck("contains", at(8), values=("a",)),
                        TextCheck("ends_with", at(8), values=("b",)),
                    ),
                ),
                TextCheck("equals", at(9), values=("c",)),
            ),
        ),
    )


def test_all_of_flattens_the_checks_of_its_items_and_not_wraps_several_keys() -> None:
    checks = text_checks(
        """\
        text:
          all_of: [{contains: a}, {contains: b, min_length: 1}]
          not: {contains: x, ends_with: y}
        """
    )
    assert checks == (
        TextCheck(
            "all_of",
            at(7),
            children=(
                TextCheck("contains", at(7), values=("a",)),
                TextCheck("contains", at(7), values=("b",)),
                TextCheck("min_length", at(7), number=1),
            ),
        ),
        TextCheck(
            "not",
            at(8),
            children=(
                TextCheck(
                    "all_of",
                    at(8),
                    children=(
                        TextCheck("contains", at(8), values=("x",)),
                        TextCheck("ends_with", at(8), values=("y",)),
                    ),
                ),
            ),
        ),
    )


@pytest.mark.parametrize(
    ("written", "operand"),
    [("1234", "1234"), ("0012", "0012"), ("1.50", "1.50"), ("yes", "yes"), ("2024-01-05", "2024-01-05")],
)
def test_unquoted_scalars_are_compared_as_written(written: str, operand: str) -> None:
    assert text_checks(f"text: {{contains: {written}}}")[0].values == (operand,)


def test_template_operands_compile_and_template_regexes_are_left_uncompiled() -> None:
    suite = load(
        """\
        conversations:
          - name: c
            vars: {name: Ada, pattern: 'A.a'}
            turns:
              - user: hi
                expect:
                  text: {contains: "{{ name }}", matches: "{{ pattern }}"}
        """
    )
    contains, matches = checks_of(suite.conversations[0].turns[0].expect, TextChecks).checks
    assert contains.values == (Template("{{ name }}", at(7)),)
    assert isinstance(contains.values[0], Template)
    assert contains.values[0].location == at(7)
    assert matches.values == (Template("{{ pattern }}", at(7)),)
    assert matches.pattern is None


def test_null_text_means_no_text_checks() -> None:
    assert text_checks("text: null") == ()


# --- expect.tool_calls ----------------------------------------------------------------------------


def test_tool_calls_list_is_an_exact_sequence_of_names_and_patterns() -> None:
    checks = tool_checks(
        """\
        tool_calls:
          - lookup_order
          - name: refund
            input: {order_id: 1234, reason: "{{ session_id }}", lines: [{sku: A}]}
            output: null
        """
    )
    assert checks == (
        ToolCheck(
            "sequence",
            at(6),
            calls=(
                ToolCallPattern("lookup_order", at(7)),
                ToolCallPattern(
                    "refund",
                    at(8),
                    input={
                        "order_id": 1234,
                        "reason": Template("{{ session_id }}", at(9)),
                        "lines": [{"sku": "A"}],
                    },
                    output=None,
                    has_input=True,
                    has_output=True,
                ),
            ),
        ),
    )


def test_empty_tool_calls_list_is_a_sequence_of_no_calls() -> None:
    assert tool_checks("tool_calls: []") == (ToolCheck("sequence", at(6)),)


def test_tool_calls_mapping_builds_one_check_per_key() -> None:
    checks = tool_checks(
        """\
        tool_calls:
          called: [search, {name: lookup, input: {q: x}}]
          not_called: refund
          count: 2
          sequence: [search, lookup]
        """
    )
    assert checks == (
        ToolCheck(
            "called",
            at(7),
            calls=(
                ToolCallPattern("search", at(7)),
                ToolCallPattern("lookup", at(7), input={"q": "x"}, has_input=True),
            ),
        ),
        ToolCheck("not_called", at(8), names=("refund",)),
        ToolCheck("count", at(9), number=2),
        ToolCheck(
            "sequence", at(10), calls=(ToolCallPattern("search", at(10)), ToolCallPattern("lookup", at(10)))
        ),
    )


@pytest.mark.parametrize(
    ("expect", "expected"),
    [
        ("tool_calls: {none: true}", ToolCheck("none", at(6))),
        (
            "tool_calls: {called: lookup}",
            ToolCheck("called", at(6), calls=(ToolCallPattern("lookup", at(6)),)),
        ),
        (
            "tool_calls: {called: {name: lookup, output: {ok: true}}}",
            ToolCheck(
                "called",
                at(6),
                calls=(ToolCallPattern("lookup", at(6), output={"ok": True}, has_output=True),),
            ),
        ),
        ("tool_calls: {not_called: [a, b]}", ToolCheck("not_called", at(6), names=("a", "b"))),
        ("tool_calls: {count: 0}", ToolCheck("count", at(6), number=0)),
    ],
)
def test_tool_check_forms(expect: str, expected: ToolCheck) -> None:
    assert tool_checks(expect) == (expected,)


# --- finish_reason, latency -----------------------------------------------------------------------


def test_finish_reason_string_or_list_with_its_location() -> None:
    assert expectation("finish_reason: stop") == expect_fields(
        finish_reason=("stop",), finish_reason_location=at(6)
    )
    assert checks_of(expectation("finish_reason: [stop, length]"), FinishReasonCheck).accepted == (
        "stop",
        "length",
    )


def test_latency_maxima_become_floats_with_their_location() -> None:
    assert expectation("latency: {total_ms: 1.5}") == expect_fields(max_total_ms=1.5, latency_location=at(6))


# --- defaults -------------------------------------------------------------------------------------


def test_defaults_merge_tags_vars_platform_and_expect() -> None:
    suite = load(
        """\
        defaults:
          platform: whatsapp
          tags: [smoke, nightly]
          vars: {shop: Acme, city: Oslo}
          expect:
            finish_reason: stop
            text: {not_contains: error}
        conversations:
          - name: c
            tags: [orders, smoke]
            vars: {city: Rome}
            turns:
              - user: a
              - user: b
                expect:
                  text: {contains: b}
              - user: c
                expect:
                  finish_reason: null
                  latency: {total_ms: 100}
        """
    )
    conversation = suite.conversations[0]
    assert conversation.tags == ("smoke", "nightly", "orders")
    assert conversation.vars == {"shop": "Acme", "city": "Rome"}
    assert conversation.platform == "whatsapp"
    default_text = (TextCheck("not_contains", at(7), values=("error",)),)
    first, second, third = (turn.expect for turn in conversation.turns)
    assert first == expect_fields(text=default_text, finish_reason=("stop",), finish_reason_location=at(6))
    assert second == expect_fields(
        text=(TextCheck("contains", at(16), values=("b",)),),
        finish_reason=("stop",),
        finish_reason_location=at(6),
    )
    assert third == expect_fields(text=default_text, max_total_ms=100.0, latency_location=at(20))


def test_conversation_platform_overrides_the_default() -> None:
    suite = load(
        """\
        defaults: {platform: app}
        conversations:
          - {name: c, platform: web, turns: [{user: hi}]}
        """
    )
    assert suite.conversations[0].platform == "web"


def test_bad_defaults_raise_for_the_whole_file() -> None:
    error = raised(
        """\
        defaults:
          platfrom: web
        conversations:
          - {name: c, turns: [{user: hi}]}
        """
    )
    assert error.location == at(2)
    assert error.message == "unknown key `platfrom` in `defaults` — did you mean `platform`?"
    assert error.conversation is None


def test_bad_default_expect_raises_at_its_line() -> None:
    error = raised(
        """\
        defaults:
          expect:
            text: {matches: '('}
        conversations:
          - {name: c, turns: [{user: hi}]}
        """
    )
    assert error.location == at(3)
    assert "invalid regex '('" in error.message


def test_defaults_must_be_a_mapping() -> None:
    error = raised("defaults: [a]\nconversations:\n  - {name: c, turns: [{user: hi}]}\n")
    assert (error.location, error.message) == (at(1), "`defaults` must be a mapping, got a list")


# --- save -----------------------------------------------------------------------------------------


def test_save_rules_for_every_source() -> None:
    suite = load(
        """\
        conversations:
          - name: c
            turns:
              - user: hi
                save:
                  whole: {from: text}
                  number: {from: text, regex: 'n\\d+'}
                  grouped: {from: text, regex: 'order (\\d+)'}
                  named: {from: text, regex: 'order (?P<id>\\d+)', group: id}
                  zero: {from: text, regex: 'order (\\d+)', group: 0}
                  sku: {from: tool_output, tool: lookup, path: items.0.sku}
                  query: {from: tool_input}
                  session: {from: session_id}
                  message: {from: message_id}
        """
    )
    assert suite.conversations[0].turns[0].save == (
        SaveRule("whole", "text", at(6)),
        SaveRule("number", "text", at(7), regex=re.compile(r"n\d+"), group=0),
        SaveRule("grouped", "text", at(8), regex=re.compile(r"order (\d+)"), group=1),
        SaveRule("named", "text", at(9), regex=re.compile(r"order (?P<id>\d+)"), group="id"),
        SaveRule("zero", "text", at(10), regex=re.compile(r"order (\d+)"), group=0),
        SaveRule("sku", "tool_output", at(11), tool="lookup", path="items.0.sku"),
        SaveRule("query", "tool_input", at(12)),
        SaveRule("session", "session_id", at(13)),
        SaveRule("message", "message_id", at(14)),
    )


def save_error(rule: str) -> SuiteError:
    return only_error(
        f"conversations:\n  - name: c\n    turns:\n      - user: hi\n        save:\n          {rule}\n"
    )


@pytest.mark.parametrize(
    ("rule", "line", "message"),
    [
        ("x: {from: txt}", 6, "unknown `from` source `txt` — did you mean `text`?"),
        ("x: {regex: a}", 6, "save rule `x` is missing `from`"),
        ("x: {from: text, tool: t}", 6, "`tool` only applies to `from: tool_input` or `from: tool_output`"),
        (
            "x: {from: session_id, path: a}",
            6,
            "`path` only applies to `from: tool_input` or `from: tool_output`",
        ),
        ("x: {from: tool_input, regex: a}", 6, "`regex` only applies to `from: text`"),
        ("x: {from: text, group: 1}", 6, "`group` needs a `regex`"),
        ("x: {from: text, regex: '(a)', group: 2}", 6, "`group` 2 does not exist: the regex has 1 group"),
        (
            "x: {from: text, regex: '(?P<id>a)', group: ix}",
            6,
            "the regex has no group named `ix` (named groups: `id`)",
        ),
        (
            "x: {from: text, regex: '[a'}",
            6,
            "invalid regex '[a' in `regex`: unterminated character set at position 0",
        ),
        (
            "x: {from: tool_output, path: a..b}",
            6,
            "`path` must be dotted keys like `items.0.sku`, got 'a..b'",
        ),
        ("x: {from: text, frm: x}", 6, "unknown key `frm` in save rule `x` — did you mean `from`?"),
        ("env: {from: text}", 6, "save name `env` is reserved: convtest always provides `env`"),
        ("order-id: {from: text}", 6, "save name `order-id` must be an identifier"),
        ("x: text", 6, "save rule `x` must be a mapping, got a string ('text')"),
    ],
)
def test_save_rule_mistakes_are_reported(rule: str, line: int, message: str) -> None:
    error = save_error(rule)
    assert error.location == at(line)
    assert message in error.message
    assert (error.conversation, error.turn) == ("c", 1)


# --- template variables ---------------------------------------------------------------------------

VARIABLES_SUITE = """\
conversations:
  - name: c
    vars: {customer: Ada}
    turns:
      - user: "I am {{ customer }}, key {{ env.API_KEY }}, session {{ session_id }}"
        expect:
          text: {contains: "{{ customer }}"}
        save:
          tracking: {from: text}
      - user: "where is {{ %s }}"
"""


def test_names_saved_by_earlier_turns_vars_env_and_session_id_are_available() -> None:
    suite = load_suite_text(VARIABLES_SUITE % "tracking", FILE)
    assert suite.invalid == ()


def test_typo_in_a_template_variable_suggests_the_close_name_and_lists_the_available_ones() -> None:
    error = only_error(VARIABLES_SUITE % "trackin")
    assert error.location == at(10)
    assert (error.conversation, error.turn) == ("c", 2)
    assert error.message == (
        "undefined template variable `trackin` — did you mean `tracking`? "
        "(available: customer, env, session_id, tracking)"
    )


def test_variable_saved_by_the_same_turn_is_not_available_in_its_expect() -> None:
    error = only_error(
        """\
        conversations:
          - name: c
            turns:
              - user: hi
                expect:
                  text: {contains: "{{ tracking }}"}
                save:
                  tracking: {from: text}
        """
    )
    assert error.location == at(6)
    assert error.turn == 1
    assert error.message == "`tracking` is saved by this turn; it can be used from the next turn on"


def test_variable_saved_by_a_later_turn_names_that_turn() -> None:
    error = only_error(
        """\
        conversations:
          - name: c
            turns:
              - user: "{{ order }}"
              - user: hi
                save: {order: {from: text}}
        """
    )
    assert (error.location, error.turn) == (at(4), 1)
    assert error.message == "`order` is saved by turn 2; it can be used from turn 3 on"


def test_default_vars_and_jinja_globals_are_available() -> None:
    suite = load(
        """\
        defaults: {vars: {shop: Acme}}
        conversations:
          - name: c
            turns:
              - user: "{{ shop }} {% for i in range(2) %}{{ i }}{% endfor %}"
        """
    )
    assert suite.invalid == ()


def test_templates_in_default_expect_are_checked_against_each_conversations_vars() -> None:
    suite = load(
        """\
        defaults:
          expect:
            text: {not_contains: "{{ secret }}"}
        conversations:
          - name: has secret
            vars: {secret: s3cret}
            turns: [{user: hi}]
          - name: lacks secret
            turns: [{user: hi}]
        """
    )
    assert [conversation.name for conversation in suite.conversations] == ["has secret"]
    (error,) = suite.invalid[0].errors
    assert (error.location, error.conversation, error.turn) == (at(3), "lacks secret", 1)
    assert "undefined template variable `secret`" in error.message


@pytest.mark.parametrize(
    "expect",
    [
        "tool_calls: [{name: t, input: {q: '{{ nope }}'}}]",
        "tool_calls: {called: {name: t, output: ['{{ nope }}']}}",
        "text: {matches: '{{ nope }}'}",
        "text: {any_of: [{contains: '{{ nope }}'}]}",
        "text: {not_contains: [a, '{{ nope }}']}",
    ],
)
def test_templates_anywhere_in_expect_are_checked(expect: str) -> None:
    error = one_turn_error(expect)
    assert error.location == at(6)
    assert error.message == "undefined template variable `nope` (available: env, session_id)"


def test_template_syntax_error_is_reported_at_its_line() -> None:
    error = only_error('conversations:\n  - name: c\n    turns:\n      - user: "{{ name }"\n')
    assert error.location == at(4)
    assert error.message.startswith("invalid template '{{ name }'")


def test_unquoted_template_at_the_start_of_a_value_says_to_quote_it() -> None:
    error = only_error("conversations:\n  - name: c\n    turns:\n      - user: {{ name }}\n")
    assert error.location == at(4)
    assert error.message == (
        '`user` must be a string, got a mapping; a value starting with `{{` must be quoted: "{{ name }}"'
    )


@pytest.mark.parametrize("name", ["env", "session_id", "order-id", "class"])
def test_vars_names_must_be_usable_identifiers(name: str) -> None:
    error = only_error(f"conversations:\n  - name: c\n    vars: {{{name}: 1}}\n    turns: [{{user: hi}}]\n")
    assert error.location == at(3)
    assert f"variable name `{name}`" in error.message


# --- unknown keys, types, missing keys ------------------------------------------------------------


def test_unknown_key_in_a_turn_suggests_the_close_key() -> None:
    error = only_error(
        """\
        conversations:
          - name: order status
            turns:
              - user: hi
              - user: where is it
                exepct: {text: {contains: x}}
        """
    )
    assert error.location == at(6)
    assert (error.conversation, error.turn) == ("order status", 2)
    assert error.message == "unknown key `exepct` in turn — did you mean `expect`?"
    assert str(error) == (
        "suites/t.yaml:6, conversation 'order status', turn 2: "
        "unknown key `exepct` in turn — did you mean `expect`?"
    )


def test_unknown_key_without_a_close_match_lists_the_valid_keys() -> None:
    error = one_turn_error("text: {zzz: 1}")
    assert error.location == at(6)
    assert error.message.startswith("unknown key `zzz` in `text` (valid keys: all_of, any_of, contains,")


@pytest.mark.parametrize(
    ("where", "text", "message"),
    [
        (
            "turn",
            "      - user: hi\n        text: {contains: a}\n",
            "unknown key `text` in turn: `text` belongs under `expect`",
        ),
        (
            "expect",
            "      - user: hi\n        expect: {contains: a}\n",
            "unknown key `contains` in `expect`: `contains` belongs under `expect.text`",
        ),
        (
            "expect",
            "      - user: hi\n        expect: {count: 1}\n",
            "unknown key `count` in `expect`: `count` belongs under `expect.tool_calls`",
        ),
    ],
)
def test_key_written_in_the_wrong_section_says_where_it_belongs(where: str, text: str, message: str) -> None:
    error = only_error("conversations:\n  - name: c\n    turns:\n" + text)
    assert error.location == at(5)
    assert error.message == message


def test_misspelt_required_key_is_not_also_reported_missing() -> None:
    error = only_error("conversations:\n  - name: c\n    turns:\n      - usr: hi\n")
    assert error.message == "unknown key `usr` in turn — did you mean `user`?"


def test_missing_user_is_reported_at_the_turn() -> None:
    error = only_error("conversations:\n  - name: c\n    turns:\n      - expect: {finish_reason: stop}\n")
    assert (error.location, error.turn, error.message) == (at(4), 1, "turn is missing `user`")


def test_conversation_without_name_is_labelled_by_position() -> None:
    suite = load("conversations:\n  - {name: a, turns: [{user: hi}]}\n  - turns: [{user: hi}]\n")
    (invalid,) = suite.invalid
    assert invalid.name == "#2"
    assert invalid.location == at(3)
    assert [(str(error.location), error.conversation, error.message) for error in invalid.errors] == [
        ("suites/t.yaml:3", "#2", "conversation is missing `name`")
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("  - {name: c, turns: {user: hi}}\n", 2, "`turns` must be a list, got a mapping"),
        ("  - {name: c, turns: []}\n", 2, "`turns` must not be empty"),
        ("  - {name: c}\n", 2, "conversation is missing `turns`"),
        ("  - {name: '', turns: [{user: hi}]}\n", 2, "`name` must not be empty"),
        ("  - {name: c, turns: [hello]}\n", 2, "turn must be a mapping, got a string ('hello')"),
        ("  - {name: c, turns: [{user: [a]}]}\n", 2, "`user` must be a string, got a list"),
        ("  - {name: c, turns: [{user: null}]}\n", 2, "`user` must be a string, got null"),
        (
            "  - {name: c, tags: smoke, turns: [{user: hi}]}\n",
            2,
            "`tags` must be a list of strings, got a string ('smoke')",
        ),
        (
            "  - {name: c, skip: 3, turns: [{user: hi}]}\n",
            2,
            "`skip` must be a reason string or true, got a number (3)",
        ),
        ("  - {name: c, vars: [a], turns: [{user: hi}]}\n", 2, "`vars` must be a mapping, got a list"),
        (
            "  - {name: c, platform: {}, turns: [{user: hi}]}\n",
            2,
            "`platform` must be a string, got a mapping",
        ),
        ("  - hello\n", 2, "conversation must be a mapping, got a string ('hello')"),
    ],
)
def test_conversation_level_type_errors(text: str, line: int, message: str) -> None:
    error = only_error("conversations:\n" + text)
    assert error.location == at(line)
    assert error.message == message


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        (
            "text: hello",
            "`text` must be a mapping of checks or a list of them (e.g. `text: {contains: ...}`), "
            "got a string ('hello')",
        ),
        ("text: {}", "`text` has no check: expected one of all_of, any_of,"),
        ("text: {ignore_case: true}", "`text` has no check"),
        ("text: []", "`text` must not be empty"),
        ("text: [hello]", "`text` item must be a mapping, got a string ('hello')"),
        ("text: {contains: {a: 1}}", "`contains` must be a string or a list of strings, got a mapping"),
        ("text: {contains: null}", "`contains` must be a string or a list of strings, got null"),
        ("text: {contains: []}", "`contains` must not be empty"),
        ("text: {equals: [a]}", "`equals` must be a string, got a list"),
        ("text: {contains_any: a}", "`contains_any` must be a list of strings, got a string ('a')"),
        ("text: {contains_all: []}", "`contains_all` must not be empty"),
        ("text: {contains_all: [a, [b]]}", "each item of `contains_all` must be a string, got a list"),
        ("text: {min_length: -1}", "`min_length` must be a whole number ≥ 0, got -1"),
        ("text: {max_length: 1.5}", "`max_length` must be a whole number ≥ 0, got 1.5"),
        ("text: {max_length: true}", "`max_length` must be a whole number ≥ 0, got a boolean (true)"),
        ("text: {min_length: 5, max_length: 2}", "`min_length` 5 is greater than `max_length` 2"),
        (
            "text: {ignore_case: sometimes, contains: a}",
            "`ignore_case` must be true or false, got a string ('sometimes')",
        ),
        ("text: {any_of: []}", "`any_of` must not be empty"),
        ("text: {any_of: {contains: a}}", "`any_of` must be a list of text-check mappings, got a mapping"),
        (
            "text: {all_of: [{contians: a}]}",
            "unknown key `contians` in `all_of` item — did you mean `contains`?",
        ),
        ("text: {not: [{contains: a}]}", "`not` must be a mapping, got a list"),
        (
            "text: {matches: '('}",
            "invalid regex '(' in `matches`: missing ), unterminated subpattern at position 0",
        ),
        ("text: {not_matches: '*a'}", "invalid regex '*a' in `not_matches`: nothing to repeat at position 0"),
        (
            "tool_calls: lookup",
            "`tool_calls` must be a list of calls or a mapping of checks, got a string ('lookup')",
        ),
        ("tool_calls: {}", "`tool_calls` is empty: expected a list of calls or one of called, count, none,"),
        ("tool_calls: {none: false}", "`none: false` checks nothing; remove it"),
        ("tool_calls: {none: 1}", "`none` must be true or false, got a number (1)"),
        ("tool_calls: {none: true, called: a}", "`none: true` contradicts `called` (line 6)"),
        ("tool_calls: {none: true, count: 2}", "`none: true` contradicts `count` (line 6)"),
        ("tool_calls: {called: []}", "`called` must not be empty"),
        ("tool_calls: {called: [[a]]}", "`called` must be a tool name or a mapping with `name`, got a list"),
        ("tool_calls: {called: {input: {}}}", "tool call is missing `name`"),
        ("tool_calls: [{name: a, inptu: {}}]", "unknown key `inptu` in tool call — did you mean `input`?"),
        ("tool_calls: [{name: null}]", "tool call `name` must be a string, got null"),
        ("tool_calls: {not_called: []}", "`not_called` must not be empty"),
        ("tool_calls: {count: -2}", "`count` must be a whole number ≥ 0, got -2"),
        ("tool_calls: {sequence: a}", "`sequence` must be a list of calls, got a string ('a')"),
        ("tool_calls: {caled: a}", "unknown key `caled` in `tool_calls` — did you mean `called`?"),
        ("finish_reason: []", "`finish_reason` must not be empty"),
        ("finish_reason: {a: 1}", "`finish_reason` must be a string or a list of strings, got a mapping"),
        ("latency: {total_ms: 0}", "`total_ms` must be a number > 0 (milliseconds), got 0"),
        (
            "latency: {first_token_ms: '5'}",
            "`first_token_ms` must be a number > 0 (milliseconds), got a string ('5')",
        ),
        ("latency: {}", "`latency` is empty: expected `first_token_ms` and/or `total_ms`"),
        ("latency: {total: 5}", "unknown key `total` in `latency` — did you mean `total_ms`?"),
        ("latency: 5", "`latency` must be a mapping, got a number (5)"),
        ("finsh_reason: stop", "unknown key `finsh_reason` in `expect` — did you mean `finish_reason`?"),
    ],
)
def test_expect_mistakes_are_reported_at_their_line(expect: str, message: str) -> None:
    error = one_turn_error(expect)
    assert error.location == at(6)
    assert (error.conversation, error.turn) == ("c", 1)
    assert error.message.startswith(message), error.message


def test_expect_must_be_a_mapping() -> None:
    error = only_error("conversations:\n  - name: c\n    turns:\n      - user: hi\n        expect: [a]\n")
    assert (error.location, error.message) == (at(5), "`expect` must be a mapping, got a list")


def test_duplicate_keys_are_errors_naming_the_first_line() -> None:
    error = only_error(
        """\
        conversations:
          - name: c
            turns:
              - user: hi
                expect: {finish_reason: stop}
                expect: {finish_reason: length}
        """
    )
    assert (error.location, error.turn) == (at(6), 1)
    assert error.message == "duplicate key `expect` (first at line 5)"


def test_duplicate_keys_inside_tool_input_are_errors() -> None:
    error = one_turn_error("tool_calls: [{name: a, input: {q: 1, q: 2}}]")
    assert error.message == "duplicate key `q` (first at line 6)"


def test_duplicate_conversation_name_is_an_error_on_the_second_naming_the_first() -> None:
    suite = load(
        """\
        conversations:
          - name: greets
            turns: [{user: hi}]
          - name: greets
            turns: [{user: hello}]
        """
    )
    assert [conversation.name for conversation in suite.conversations] == ["greets"]
    (invalid,) = suite.invalid
    assert invalid.name == "greets #2"
    (error,) = invalid.errors
    assert (error.location, error.conversation) == (at(4), "greets #2")
    assert error.message == "duplicate conversation name `greets` (first at line 2)"


def test_invalid_conversation_collects_all_its_errors_in_line_order_and_siblings_still_load() -> None:
    suite = load(
        """\
        conversations:
          - name: first
            turns: [{user: hi}]
          - name: broken
            turns:
              - user: hi
                expect:
                  text: {contians: a, matches: '('}
                  tool_calls: {count: -1}
              - user: "{{ nope }}"
              - usr: hi
            tags: [bad-tag]
          - name: last
            turns: [{user: hi}]
          - 42
        """
    )
    assert [conversation.name for conversation in suite.conversations] == ["first", "last"]
    assert [invalid.name for invalid in suite.invalid] == ["broken", "#4"]
    broken = suite.invalid[0]
    assert broken.location == at(4)
    assert [(error.location, error.turn) for error in broken.errors] == [
        (at(8), 1),
        (at(8), 1),
        (at(9), 1),
        (at(10), 2),
        (at(11), 3),
        (at(12), None),
    ]
    assert all(error.conversation == "broken" for error in broken.errors)


# --- tags, skip, xfail ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        (
            "my-tag",
            "invalid tag `my-tag`: tags become pytest markers, "
            "so they must match ^[A-Za-z_][A-Za-z0-9_]*$ (e.g. `my_tag`)",
        ),
        ("9lives", "(e.g. `_9lives`)"),
        (
            "skip",
            "tag `skip` is a built-in pytest marker and would change how the test runs; "
            "use the conversation's `skip:` key",
        ),
        (
            "parametrize",
            "tag `parametrize` is a built-in pytest marker and would change how the test runs; "
            "choose another name",
        ),
    ],
)
def test_tags_must_be_marker_names(tag: str, message: str) -> None:
    error = only_error(
        f"conversations:\n  - name: c\n    tags:\n      - ok\n      - '{tag}'\n    turns: [{{user: hi}}]\n"
    )
    assert error.location == at(5)
    assert message in error.message


def test_tags_in_defaults_are_validated_at_file_level() -> None:
    error = raised("defaults: {tags: [a b]}\nconversations:\n  - {name: c, turns: [{user: hi}]}\n")
    assert error.location == at(1)
    assert "invalid tag `a b`" in error.message


@pytest.mark.parametrize(
    ("written", "expected"),
    [("'flaky'", "flaky"), ("true", "marked `skip: true` in the suite"), ("false", None), ("null", None)],
)
def test_skip_takes_a_reason_or_true(written: str, expected: str | None) -> None:
    suite = load(f"conversations:\n  - name: c\n    skip: {written}\n    turns: [{{user: hi}}]\n")
    assert suite.conversations[0].skip == expected


def test_xfail_true_gets_a_generic_reason() -> None:
    suite = load("conversations:\n  - {name: c, xfail: true, turns: [{user: hi}]}\n")
    assert suite.conversations[0].xfail == "marked `xfail: true` in the suite"


# --- file-level errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n# and another\n", "---\n"])
def test_empty_file_is_a_suite_error(text: str) -> None:
    error = raised(text)
    assert (error.location, error.message) == (
        at(1),
        "empty suite file: expected a mapping with `conversations`",
    )


def test_top_level_must_be_a_mapping() -> None:
    error = raised("- name: a\n- name: b\n")
    assert (error.location, error.message) == (
        at(1),
        "a suite file must be a mapping with `conversations`, got a list",
    )


def test_unknown_top_level_key_suggests_and_missing_conversations_is_not_repeated() -> None:
    error = raised("suite: s\nconversation:\n  - name: a\n")
    assert (error.location, error.message) == (
        at(2),
        "unknown key `conversation` at the top level — did you mean `conversations`?",
    )


def test_missing_and_empty_conversations_are_file_errors() -> None:
    assert raised("suite: s\n").message == "suite file is missing `conversations`"
    error = raised("suite: s\nconversations: []\n")
    assert (error.location, error.message) == (at(2), "`conversations` must not be empty")
    assert raised("conversations:\n").message == "`conversations` must be a list, got null"


def test_several_file_level_errors_are_raised_together_in_line_order() -> None:
    error = raised("conversations: {}\nfoo: 1\n")
    assert error.location == at(1)
    assert str(error) == (
        "suites/t.yaml:1: `conversations` must be a list, got a mapping\n"
        "suites/t.yaml:2: unknown key `foo` at the top level "
        "(valid keys: conversations, defaults, suite, target)"
    )


def test_yaml_syntax_error_keeps_line_column_and_problem() -> None:
    error = raised("conversations:\n  - name: a\n    turns: [{user: hi}\n")
    assert error.location == at(4)
    assert error.message.startswith("invalid YAML: did not find expected ',' or ']'")
    assert "while parsing a flow sequence at line 3" in error.message


def test_yaml_tab_indentation_gets_a_hint() -> None:
    error = raised("conversations:\n\t- name: a\n")
    assert error.location == at(2)
    assert error.message.endswith("YAML does not allow tabs for indentation, use spaces")


def test_unquoted_colon_in_a_value_gets_a_hint() -> None:
    error = raised("conversations:\n  - name: a\n    turns:\n      - user: Note: it broke\n")
    assert error.location == at(4)
    assert error.message.endswith("quote a value that contains `: `")


def test_several_yaml_documents_are_a_syntax_error() -> None:
    error = raised("conversations: []\n---\nconversations: []\n")
    assert error.location == at(2)
    assert "found another document" in error.message


def test_control_character_is_reported_at_its_line() -> None:
    error = raised("conversations:\n  - name: a\x07\n")
    assert error.location == at(2)
    assert error.message.startswith("invalid YAML:")


def test_custom_tags_are_refused() -> None:
    error = raised("conversations:\n  - !include other.yaml\n")
    assert (error.location, error.message) == (at(2), "unsupported YAML tag `!include`")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("conversations:\n  - *nope\n", 2, "invalid YAML: found undefined alias at column 5"),
        (
            "x-a: &x 1\nx-b: &x 2\nconversations: []\n",
            2,
            "invalid YAML: second occurrence at column 6 "
            "(found duplicate anchor; first occurrence at line 1)",
        ),
        (
            "---\nconversations: []\n---\nmore: 1\n",
            3,
            "invalid YAML: found another document at column 1 "
            "(expected a single document in the stream at line 2)",
        ),
    ],
    ids=["undefined alias", "duplicate anchor", "second document"],
)
def test_anchor_and_document_errors_name_their_line(text: str, line: int, message: str) -> None:
    error = raised(text)
    assert (error.location, error.message) == (at(line), message)


def test_recursive_alias_is_refused() -> None:
    error = raised("x-loop: &loop {not: *loop}\nconversations: []\n")
    assert error.location == at(1)
    assert error.message == "recursive alias: an anchor cannot contain itself"


# --- anchors and merges ---------------------------------------------------------------------------


def test_anchors_and_merge_keys_work_and_explicit_keys_win() -> None:
    suite = load(
        """\
        x-polite: &polite
          not_contains: rude
          contains: please
        x-turn: &hello
          user: hello
        conversations:
          - name: c
            turns:
              - *hello
              - user: bye
                expect:
                  text:
                    <<: *polite
                    contains: thanks
        """
    )
    first, second = suite.conversations[0].turns
    assert (first.user, first.location) == ("hello", at(4))
    assert checks_of(second.expect, TextChecks).checks == (
        TextCheck("contains", at(14), values=("thanks",)),
        TextCheck("not_contains", at(2), values=("rude",)),
    )


def test_an_anchored_list_of_mappings_merges_also_after_it_was_used_elsewhere() -> None:
    """The loader frees YAML as it converts it: a reused anchor must still have its content."""
    suite = load(
        """\
        x-checks: &checks
          - {contains: please}
          - {not_contains: rude}
        x-again: *checks
        conversations:
          - name: c
            turns:
              - user: hi
                expect:
                  text: {<<: *checks}
              - user: bye
                expect:
                  text: {<<: *checks, contains: thanks}
        """
    )
    first, second = suite.conversations[0].turns
    assert [(check.op, check.values) for check in checks_of(first.expect, TextChecks).checks] == [
        ("contains", ("please",)),
        ("not_contains", ("rude",)),
    ]
    assert [(check.op, check.values) for check in checks_of(second.expect, TextChecks).checks] == [
        ("contains", ("thanks",)),
        ("not_contains", ("rude",)),
    ]


def test_merge_of_a_non_mapping_is_an_error() -> None:
    error = raised("x-a: &a text\nconversations:\n  - {<<: *a}\n")
    assert (error.location, error.message) == (
        at(3),
        "`<<` merges mappings (`<<: *anchor`), got a string ('text')",
    )


# --- is_suite_file --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("orders.yaml", "suite: orders\nconversations:\n  - name: a\n"),
        ("orders.yml", "# a suite\nconversations:\n  - name: a\n"),
        ("typo.yaml", "suite: orders\nconversation:\n"),
        ("quoted.yaml", '"conversations":\n  - name: a\n'),
        ("crlf.yaml", "conversations:\r\n  - name: a\r\n"),
        ("UPPER.YAML", "conversations: []\n"),
    ],
)
def test_is_suite_file_accepts_yaml_with_a_top_level_suite_key(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    assert is_suite_file(path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("orders.json", '{"conversations": []}'),
        ("orders.txt", "conversations:\n"),
        ("golden.yaml", "conversation: order status\nturns:\n  - user: hi\n    text: hello\n"),
        ("convtest.yaml", "targets:\n  reference: {}\nsuite: x\n"),
        ("ci.yml", "on: [push]\njobs:\n  test:\n    steps:\n      - run: pytest\n"),
        ("nested.yaml", "data:\n  conversations:\n    - a\n"),
        ("commented.yaml", "# conversations:\nother: 1\n"),
        ("prefix.yaml", "conversations_backup: []\nsuites: []\n"),
    ],
)
def test_is_suite_file_rejects_other_files(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert not is_suite_file(path)


def test_is_suite_file_is_false_for_a_missing_file(tmp_path: Path) -> None:
    assert not is_suite_file(tmp_path / "gone.yaml")


# --- the docs -------------------------------------------------------------------------------------

KEY_SETS = [
    loader.TOP_LEVEL_KEYS,
    loader.DEFAULTS_KEYS,
    loader.CONVERSATION_KEYS,
    loader.TURN_KEYS,
    check_registry().kind_keys,
    check_registry().operator_keys | {IGNORE_CASE},
    tools.TOOL_CHECK_KEYS,
    tools.TOOL_CALL_KEYS,
    finish.LATENCY_KEYS,
    save.SAVE_RULE_KEYS,
    save.SAVE_SOURCES,
    parts.SOURCES_KEYS,
    parts.ERRORS_KEYS,
    counts.COUNT_KEYS,
    loader.TIMEOUT_KEYS,
    parts.UNKNOWN_EVENTS_KEYS,
    python.PYTHON_KEYS,
]


@pytest.mark.parametrize("key", sorted(set().union(*KEY_SETS)))
def test_docs_mention_every_key(key: str) -> None:
    assert f"`{key}`" in DOCS.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "example", [example for example in doc_suites() if not example.skipped], ids=lambda example: example.where
)
def test_docs_example_suites_load_without_errors(example: DocSuite) -> None:
    suite = load_suite_text(example.text, "docs/example.yaml")
    assert suite.invalid == (), [str(error) for invalid in suite.invalid for error in invalid.errors]
    assert suite.conversations


def test_docs_have_example_suites() -> None:
    assert len([example for example in doc_suites() if "suite-format" in example.where]) >= 3


def test_invalid_conversation_errors_render_with_file_line_conversation_and_turn() -> None:
    suite = load("conversations:\n  - {name: c, turns: [{usr: hi}]}\n")
    (invalid,) = suite.invalid
    assert (invalid.name, invalid.location) == ("c", at(2))
    (error,) = invalid.errors
    assert (
        str(error)
        == "suites/t.yaml:2, conversation 'c', turn 1: unknown key `usr` in turn — did you mean `user`?"
    )


# --- protocol checks: reasoning, sources, data, errors, steps, abort, timeouts ---------------------


def only_turn(expect: str) -> Turn:
    (conversation,) = load(one_turn(expect)).conversations
    (turn,) = conversation.turns
    return turn


def test_protocol_checks_load_into_the_expectation() -> None:
    turn = only_turn(
        """
        reasoning: {contains: calculator}
        sources: {count: {min: 1}, contains_url: help.example, contains_title: [Returns, Terms]}
        data: {session: "{{ session_id }}", data-weather: {city: Oslo}}
        errors: {count: 1, contains: quota}
        steps: {min: 1, max: 3}
        aborted: true
        unknown_events: {types: brand-new-chunk}
        """
    )
    expect = turn.expect
    assert TextChecks("reasoning", (TextCheck("contains", at(6), ("calculator",)),)) in expect.checks
    assert checks_of(expect, SourcesCheck) == SourcesCheck(
        at(7), Count(at(7), 1, None), ("help.example",), ("Returns", "Terms")
    )
    session, weather = checks_of(expect, DataChecks).checks
    assert (session.name, isinstance(session.expected, Template), session.location) == (
        "session",
        True,
        at(8),
    )
    assert (weather.name, weather.expected) == ("weather", {"city": "Oslo"})
    assert checks_of(expect, ErrorsCheck) == ErrorsCheck(at(9), Count(at(9), 1, 1), ("quota",))
    assert checks_of(expect, StepsCheck) == StepsCheck(Count(at(10), 1, 3))
    assert checks_of(expect, AbortedCheck) == AbortedCheck(True, at(11))
    assert checks_of(expect, UnknownEventsCheck) == UnknownEventsCheck(at(12), None, ("brand-new-chunk",))


def test_a_turn_without_protocol_checks_forbids_error_chunks_and_aborts() -> None:
    expect = only_turn("text: {contains: a}").expect
    assert expect.checks == (
        TextChecks("text", (TextCheck("contains", at(6), ("a",)),)),
        NO_ERRORS,
        NOT_ABORTED,
    )


def test_null_turns_the_error_and_abort_defaults_off() -> None:
    expect = only_turn("errors: null\naborted: null\nsteps: 2").expect
    assert expect.checks == (StepsCheck(Count(at(8), 2, 2)),)


def test_none_true_means_a_count_of_zero() -> None:
    expect = only_turn("sources: {none: true}\nerrors: {none: true}").expect
    assert checks_of(expect, SourcesCheck).count == Count(at(6), 0, 0)
    assert checks_of(expect, ErrorsCheck).count == Count(at(7), 0, 0)


def test_tool_call_error_and_input_schema_load_with_the_schema_compiled() -> None:
    turn = only_turn(
        """
        tool_calls:
          - name: check_stock
            error: "HTTP 503"
            input_schema: {type: object, required: [product]}
          - {name: calculate, error: false}
        """
    )
    (check,) = checks_of(turn.expect, ToolChecks).checks
    stock, calc = check.calls
    assert (stock.error, calc.error, calc.input_schema) == ("HTTP 503", False, None)
    assert stock.input_schema is not None
    assert stock.input_schema.is_valid({"product": "tent"}) and not stock.input_schema.is_valid({})


def test_an_invalid_json_schema_is_reported_at_the_line_that_breaks_it() -> None:
    error = only_error(
        one_turn(
            """
            tool_calls:
              - name: lookup_order
                input_schema:
                  type: object
                  properties:
                    order_id: {type: strnig}
            """
        )
    )
    assert error.location == at(11)
    assert error.message.startswith("invalid JSON schema in `input_schema` at `properties/order_id/type`: ")
    assert "'strnig' is not valid under any of the given schemas" in error.message


def test_the_schema_dialect_follows_dollar_schema() -> None:
    turn = only_turn(
        """
        tool_calls:
          - name: a
            input_schema: {$schema: "http://json-schema.org/draft-07/schema#", type: object}
        """
    )
    (check,) = checks_of(turn.expect, ToolChecks).checks
    assert type(check.calls[0].input_schema).__name__ == "Draft7Validator"


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ("reasoning: yes", "`reasoning` must be a mapping of checks or a list of them"),
        ("reasoning: {contain: a}", "unknown key `contain` in `reasoning` — did you mean `contains`?"),
        ("sources: {}", "`sources` is empty: expected one of contains_title, contains_url, count, none"),
        ("sources: {none: false}", "`none: false` checks nothing; remove it"),
        ("sources: {none: true, count: 1}", "`none: true` contradicts `count` in `sources`"),
        ("sources: {none: true, contains_url: a}", "`contains_url` contradicts a count of 0"),
        ("sources: {count: {min: 3, max: 1}}", "`count` `min` 3 is greater than `max` 1"),
        ("sources: {count: {}}", "`count` needs `min` and/or `max`"),
        ("sources: {count: -1}", "`count` must be a whole number ≥ 0, got -1"),
        ("sources: {count: many}", "`count` must be a whole number or a mapping with `min` and/or `max`"),
        ("sources: {url: a}", "unknown key `url` in `sources` (valid keys: contains_title, contains_url"),
        ("errors: {contain: a}", "unknown key `contain` in `errors` — did you mean `contains`?"),
        ("errors: {count: 0, contains: a}", "`contains` contradicts a count of 0"),
        ("errors: []", "`errors` must be a mapping, got a list"),
        ("steps: two", "`steps` must be a whole number or a mapping with `min` and/or `max`"),
        ("steps: {min: 1, maxx: 2}", "unknown key `maxx` in `steps` — did you mean `max`?"),
        ("aborted: maybe", "`aborted` must be true or false, got a string ('maybe')"),
        ("unknown_events: {type: a}", "unknown key `type` in `unknown_events` — did you mean `types`?"),
        ("unknown_events: {none: true, types: [a]}", "`types` contradicts a count of 0"),
        ("data: {}", "`data` is empty: expected part names with their data"),
        ("data: [session]", "`data` must be a mapping, got a list"),
        ("data: {data-: 1}", "a data part needs a name after `data-`"),
        (
            "tool_calls: [{name: a, error: []}]",
            "tool call `error` must be true, false or a part of the error",
        ),
        ("tool_calls: [{name: a, input_schema: object}]", "`input_schema` must be a JSON schema (a mapping"),
        (
            "contains_url: a",
            "unknown key `contains_url` in `expect`: `contains_url` belongs under `expect.sources`",
        ),
    ],
)
def test_protocol_check_mistakes_are_reported_at_their_line(expect: str, message: str) -> None:
    error = one_turn_error(expect)
    assert error.location == at(6)
    assert error.message.startswith(message), error.message


def test_a_data_template_is_checked_for_undefined_variables() -> None:
    error = one_turn_error('data: {session: "{{ sesion_id }}"}')
    assert error.message.startswith("undefined template variable `sesion_id` — did you mean `session_id`?")


def test_turn_timeouts_override_the_defaults_key_by_key() -> None:
    suite = load(
        """
        defaults:
          timeouts: {idle: 5, total: 30}
        conversations:
          - name: c
            turns:
              - user: hi
              - user: slow one
                timeouts: {total: 90, first_token: 2.5}
        """
    )
    first, second = suite.conversations[0].turns
    assert first.timeouts == {"idle": 5.0, "total": 30.0}
    assert second.timeouts == {"idle": 5.0, "total": 90.0, "first_token": 2.5}


@pytest.mark.parametrize(
    ("timeouts", "message"),
    [
        ("{idle: 0}", "timeout `idle` must be a number of seconds > 0, got 0"),
        ("{total: soon}", "timeout `total` must be a number of seconds > 0, got a string"),
        ("{first_tokn: 1}", "unknown key `first_tokn` in `timeouts` — did you mean `first_token`?"),
        ("5", "`timeouts` must be a mapping, got a number (5)"),
    ],
)
def test_timeout_mistakes_are_reported_at_their_line(timeouts: str, message: str) -> None:
    error = only_error(
        f"conversations:\n  - name: c\n    turns:\n      - user: hi\n        timeouts: {timeouts}\n"
    )
    assert error.location == at(5)
    assert error.message.startswith(message), error.message
