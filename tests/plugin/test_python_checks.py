"""``expect: {python: ...}``: the user's own check functions, run by pytest on generated suites
against the reference agent over real HTTP (in-process pytester runs)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

#: beside the suite; each test writes it, so the line numbers below are stable
CHECKS = """\
from convtest.checks import CheckContext, Verdict


def mentions_ada(context: CheckContext) -> bool:
    return "Ada" in context.transcript.text


def returns_false(context):
    return False


def returns_verdict(context):
    return Verdict(False, f"the reply is {len(context.transcript.text)} characters long")


def returns_pair(context):
    return (False, "no order number in the reply")


def asserts_with_message(context):
    assert "order" in context.transcript.text, "the bot never mentioned an order"


def asserts_bare(context):
    assert "order" in context.transcript.text


def crashes(context):
    return parse_reply(context.transcript.text)


def parse_reply(text):
    return int(text)


def says(context, word, times=1):
    count = context.transcript.text.count(word)
    return Verdict(count == times, f"{word!r} is {count} times in {context.transcript.text!r}")


def whole(context):
    users = [exchange.user for exchange in context.conversation]
    return Verdict(False, f"{len(users)} turns: " + " | ".join(users))


def sees_every_turn(context):
    assert len(context.conversation) == 2, len(context.conversation)
    assert context.conversation[-1].transcript is context.transcript
    assert "Ada" in context.conversation[0].transcript.text


def never_called(context):
    return Verdict(False, "CONVERSATION CHECK RAN")


async def later(context):
    return True
"""


def write(pytester: pytest.Pytester, name: str, text: str) -> None:
    path = pytester.path.joinpath(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def assert_block(output: str, *lines: str) -> None:
    """These exact lines, one after the other, somewhere in the output."""
    assert "\n".join(lines) in output, "\n".join(lines)


@pytest.fixture(autouse=True)
def _bot_checks(pytester: pytest.Pytester) -> None:
    write(pytester, "bot_checks.py", CHECKS)


def test_a_module_beside_the_suite_and_a_file_path_both_name_a_check_that_runs(
    pytester: pytest.Pytester,
) -> None:
    write(
        pytester,
        "checks/tone.py",
        """
        def polite(context):
            return "help" in context.transcript.text or (False, "no offer of help")
        """,
    )
    write(
        pytester,
        "names.yaml",
        """
        conversations:
          - name: module beside the suite
            turns:
              - user: "Hi, my name is Ada"
                expect: {python: "bot_checks:mentions_ada"}
          - name: file path
            turns:
              - user: "Hello"
                expect: {python: "checks/tone.py:polite"}
          - name: module beside the suite fails
            turns:
              - user: "Hello"
                expect: {python: "bot_checks:mentions_ada"}
          - name: file path fails
            turns:
              - user: "Thanks!"
                expect: {python: "checks/tone.py:polite"}
        """,
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        ["*names.yaml::module beside the suite PASSED*", "*names.yaml::file path PASSED*"]
    )
    output = result.stdout.str()
    assert_block(
        output,
        "    ✗ expected python check bot_checks:mentions_ada holds  (names.yaml:14)",
        "        but it returned False",
    )
    assert_block(
        output,
        "    ✗ expected python check checks/tone.py:polite holds  (names.yaml:18)",
        "        but no offer of help",
    )


def test_a_check_fails_by_returning_false_a_verdict_or_a_pair_or_by_an_assertion(
    pytester: pytest.Pytester,
) -> None:
    write(
        pytester,
        "fails.yaml",
        """
        defaults:
          expect: {finish_reason: stop}
        conversations:
          - name: returns False
            turns: [{user: Hello, expect: {python: "bot_checks:returns_false"}}]
          - name: returns a Verdict
            turns: [{user: Hello, expect: {python: "bot_checks:returns_verdict"}}]
          - name: returns a pair
            turns: [{user: Hello, expect: {python: "bot_checks:returns_pair"}}]
          - name: asserts with a message
            turns: [{user: Hello, expect: {python: "bot_checks:asserts_with_message"}}]
          - name: asserts without a message
            turns: [{user: Hello, expect: {python: "bot_checks:asserts_bare"}}]
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=5)
    output = result.stdout.str()
    expected = {
        6: ("returns_false", "it returned False"),
        8: ("returns_verdict", "the reply is 32 characters long"),
        10: ("returns_pair", "no order number in the reply"),
        12: ("asserts_with_message", "the bot never mentioned an order"),
        14: ("asserts_bare", 'assertion failed: assert "order" in context.transcript.text'),
    }
    for line, (function, actual) in expected.items():
        assert_block(
            output,
            f"    ✗ expected python check bot_checks:{function} holds  (fails.yaml:{line})",
            f"        but {actual}",
        )
    assert "Traceback" not in output
    assert "expected finish_reason" not in output  # the other checks of the turn still held


def test_an_exception_in_the_check_shows_the_users_traceback_and_fails_only_its_conversation(
    pytester: pytest.Pytester,
) -> None:
    write(
        pytester,
        "crash.yaml",
        """
        conversations:
          - name: crashes
            turns:
              - user: "Hello"
                expect: {python: "bot_checks:crashes"}
              - user: "never sent"
          - name: runs on
            turns:
              - user: "Hi, my name is Ada"
                expect: {python: "bot_checks:mentions_ada"}
        """,
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*crash.yaml::runs on PASSED*"])
    output = result.stdout.str()
    module = pytester.path / "bot_checks.py"
    message = "ValueError: invalid literal for int() with base 10: 'Hello! How can I help you today?'"
    assert_block(
        output,
        "    ✗ expected python check bot_checks:crashes holds  (crash.yaml:6)",
        f"        but it raised {message}",
        "          Traceback (most recent call last):",
        f'            File "{module}", line 29, in crashes',
        "              return parse_reply(context.transcript.text)",
    )
    assert f'            File "{module}", line 33, in parse_reply' in output
    assert f"          {message}" in output
    traceback = output[output.index("Traceback (most recent call last)") :]
    assert "convtest" not in traceback.split(message)[0]  # the user's frames only
    assert "never sent" not in output


def test_a_check_that_cannot_be_imported_or_called_makes_its_conversation_invalid_at_its_line(
    pytester: pytest.Pytester,
) -> None:
    write(pytester, "broken_checks.py", 'raise RuntimeError("set CHECKS_API_KEY first")\n')
    write(
        pytester,
        "load.yaml",
        """
        conversations:
          - name: missing module
            turns: [{user: Hello, expect: {python: "no_such_checks:polite"}}]
          - name: missing function
            turns: [{user: Hello, expect: {python: "bot_checks:polite"}}]
          - name: module raises on import
            turns: [{user: Hello, expect: {python: "broken_checks:polite"}}]
          - name: async function
            turns: [{user: Hello, expect: {python: "bot_checks:later"}}]
          - name: missing file
            turns: [{user: Hello, expect: {python: "checks/nope.py:polite"}}]
          - name: args the function does not take
            turns:
              - user: Hello
                expect: {python: {check: "bot_checks:says", args: {word: Hello, often: 2}}}
          - name: not a reference
            turns: [{user: Hello, expect: {python: "bot_checks"}}]
          - name: fine
            turns: [{user: "Hi, my name is Ada", expect: {python: "bot_checks:mentions_ada"}}]
        """,
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1, failed=7)
    result.stdout.fnmatch_lines(["*load.yaml::fine PASSED*"])
    output = result.stdout.str()
    functions = (
        "asserts_bare, asserts_with_message, crashes, later, mentions_ada, never_called, "
        "parse_reply, returns_false, returns_pair, returns_verdict, says, sees_every_turn, whole"
    )
    for line in [
        "invalid conversation 'missing module' (load.yaml:3):",
        "  ✗ load.yaml:4, conversation 'missing module', turn 1: python check `no_such_checks:polite`: "
        "cannot import `no_such_checks`: ModuleNotFoundError: No module named 'no_such_checks'",
        "  ✗ load.yaml:6, conversation 'missing function', turn 1: python check `bot_checks:polite`: "
        f"`bot_checks` has no function `polite` (functions: {functions})",
        "  ✗ load.yaml:8, conversation 'module raises on import', turn 1: python check "
        "`broken_checks:polite`: cannot import `broken_checks`: RuntimeError: set CHECKS_API_KEY first",
        "  ✗ load.yaml:10, conversation 'async function', turn 1: python check `bot_checks:later`: "
        "`bot_checks:later` is async; a check function must be a plain function",
        "  ✗ load.yaml:12, conversation 'missing file', turn 1: python check `checks/nope.py:polite`: "
        f"no file {pytester.path / 'checks/nope.py'}",
        "  ✗ load.yaml:16, conversation 'args the function does not take', turn 1: python check "
        "`bot_checks:says`: cannot be called as bot_checks:says(context, word=..., often=...): "
        "got an unexpected keyword argument 'often'",
        "  ✗ load.yaml:18, conversation 'not a reference', turn 1: python check `bot_checks`: "
        "expected `module:function` or `path/to/file.py:function`",
    ]:
        assert line in result.stdout.lines, line
    assert "Traceback" not in output


def test_a_mistake_in_the_python_mapping_is_reported_at_its_line(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "mapping.yaml",
        """
        conversations:
          - name: typo
            turns:
              - user: Hello
                expect: {python: {chek: "bot_checks:says", args: {word: Hello}}}
          - name: args not a mapping
            turns:
              - user: Hello
                expect: {python: {check: "bot_checks:says", args: [Hello]}}
          - name: undefined variable in args
            vars: {greeting: Hello}
            turns:
              - user: Hello
                expect:
                  python:
                    check: "bot_checks:says"
                    args: {word: "{{ greting }}"}
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=3)
    for line in [
        "  ✗ mapping.yaml:6, conversation 'typo', turn 1: unknown key `chek` in `python` — did you mean "
        "`check`?",
        "  ✗ mapping.yaml:10, conversation 'args not a mapping', turn 1: `args` must be a mapping, "
        "got a list",
        "  ✗ mapping.yaml:18, conversation 'undefined variable in args', turn 1: undefined template "
        "variable `greting` — did you mean `greeting`? (available: env, greeting, session_id)",
    ]:
        assert line in result.stdout.lines, line


def test_args_are_keyword_arguments_whose_templates_are_rendered_each_turn(
    pytester: pytest.Pytester,
) -> None:
    write(
        pytester,
        "args.yaml",
        """
        defaults:
          vars: {greeting: Hello}
        conversations:
          - name: saved name
            turns:
              - user: "Hi, my name is Ada"
                expect: {python: {check: "bot_checks:says", args: {word: "{{ greeting }}", times: 0}}}
                save:
                  name: {from: text, regex: 'meet you, (\\w+)'}
              - user: "What is my name?"
                expect: {python: {check: "bot_checks:says", args: {word: "{{ name }}"}}}
          - name: rendered in the failure
            turns:
              - user: "Hi, my name is Ada"
                save:
                  name: {from: text, regex: 'meet you, (\\w+)'}
              - user: "What is my name?"
                expect: {python: {check: "bot_checks:says", args: {word: "{{ name }}son", times: 1}}}
        """,
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*args.yaml::saved name PASSED*"])
    assert_block(
        result.stdout.str(),
        "    ✗ expected python check bot_checks:says(word='Adason', times=1) holds  (args.yaml:19)",
        "        but 'Adason' is 0 times in 'Your name is Ada.'",
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_a_conversation_check_runs_once_after_the_last_turn_and_sees_every_turn(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    write(
        pytester,
        "whole.yaml",
        """
        conversations:
          - name: sees every turn
            expect: {python: "bot_checks:sees_every_turn"}
            turns:
              - user: "Hi, my name is Ada"
              - user: "What is my name?"
          - name: whole
            expect: {python: "bot_checks:whole"}
            turns:
              - user: "Hi, my name is Ada"
              - user: "What is my name?"
          - name: a turn failed first
            expect: {python: "bot_checks:never_called"}
            turns:
              - user: "Hello"
                expect: {text: {contains: Goodbye}}
              - user: "What is my name?"
        """,
    )
    result = pytester.runpytest("-v", *workers)
    result.assert_outcomes(passed=1, failed=2)
    passed = [line for line in result.stdout.lines if "PASSED" in line]
    assert [line for line in passed if "whole.yaml::sees every turn" in line], passed
    output = result.stdout.str()
    assert "conversation 'whole' failed its conversation checks (whole.yaml:8)" in result.stdout.lines
    assert_block(
        output,
        "  ✓ turn 1/2 (whole.yaml:11)",
        "      user: Hi, my name is Ada",
        "      bot:  Nice to meet you, Ada! How can I help you today?",
        "  ✓ turn 2/2 (whole.yaml:12)",
        "      user: What is my name?",
        "      bot:  Your name is Ada.",
        "  ✗ the whole conversation (whole.yaml:8)",
        "    ✗ expected python check bot_checks:whole holds  (whole.yaml:9)",
        "        but 2 turns: Hi, my name is Ada | What is my name?",
    )
    assert "conversation 'a turn failed first' failed at turn 1 of 2 (whole.yaml:13)" in output
    assert "CONVERSATION CHECK RAN" not in output


def test_a_turn_check_under_the_conversations_expect_says_where_it_belongs(
    pytester: pytest.Pytester,
) -> None:
    write(
        pytester,
        "scope.yaml",
        """
        conversations:
          - name: text on the conversation
            expect:
              text: {contains: Hello}
              python: "bot_checks:whole"
            turns:
              - user: Hello
          - name: fine
            turns: [{user: Hello}]
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    assert (
        "  ✗ scope.yaml:5, conversation 'text on the conversation': `text` checks a turn: put it under "
        "a turn's `expect` (a conversation's `expect` takes python)"
    ) in result.stdout.lines
    assert "Traceback" not in result.stdout.str()


def test_a_check_file_runs_once_however_many_turns_name_it(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "checks/counted.py",
        """
        from pathlib import Path

        with Path(__file__).with_name("runs.log").open("a") as log:
            log.write("ran\\n")


        def polite(context):
            return True
        """,
    )
    write(
        pytester,
        "counted.yaml",
        """
        defaults:
          expect: {python: "checks/counted.py:polite"}
        conversations:
          - name: one
            turns: [{user: Hello}, {user: Thanks!}]
          - name: two
            expect: {python: "checks/counted.py:polite"}
            turns: [{user: Hello, expect: {python: "checks/counted.py:polite"}}]
        """,
    )
    pytester.runpytest().assert_outcomes(passed=2)
    assert pytester.path.joinpath("checks/runs.log").read_text() == "ran\n"


def test_the_documented_check_function_passes_and_fails_as_documented(pytester: pytest.Pytester) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "writing-checks.md"
    example = docs.read_text(encoding="utf-8").split("```python\n# mychecks.py\n", 1)[1].split("```")[0]
    write(pytester, "mychecks.py", example)
    write(
        pytester,
        "polite.yaml",
        """
        conversations:
          - name: enough words
            turns:
              - user: Hello
                expect: {python: {check: "mychecks:polite", args: {min_words: 3}}}
          - name: too few words
            turns:
              - user: Hello
                expect: {python: {check: "mychecks:polite", args: {min_words: 9}}}
        """,
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*polite.yaml::enough words PASSED*"])
    assert_block(
        result.stdout.str(),
        "    ✗ expected python check mychecks:polite(min_words=9) holds  (polite.yaml:10)",
        "        but only 7 words",
    )


def test_two_suite_folders_with_a_module_of_the_same_name_are_not_mixed_up(
    pytester: pytest.Pytester,
) -> None:
    for team in ("orders", "billing"):
        write(pytester, f"{team}/team_checks.py", f'def owner(context):\n    return (False, "{team}")\n')
        write(
            pytester,
            f"{team}/suite.yaml",
            """
            conversations:
              - name: by module
                turns: [{user: Hello, expect: {python: "team_checks:owner"}}]
              - name: by file
                turns: [{user: Hello, expect: {python: "team_checks.py:owner"}}]
            """,
        )
    result = pytester.runpytest("orders", "billing")
    result.assert_outcomes(failed=4)
    output = result.stdout.str()
    assert output.count("        but orders") == 2  # by module and by file
    assert output.count("        but billing") == 1  # by file only
    orders, billing = pytester.path / "orders", pytester.path / "billing"
    assert (
        "  ✗ billing/suite.yaml:4, conversation 'by module', turn 1: python check `team_checks:owner`: "
        f"`team_checks` is already imported from {orders / 'team_checks.py'}, not from "
        f"{billing / 'team_checks.py'}; rename one of them, or name the file: `team_checks.py:owner`"
    ) in result.stdout.lines
