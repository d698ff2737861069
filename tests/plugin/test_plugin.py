"""The pytest plugin as a user meets it: real pytest runs on generated suites (pytester), against
the embedded reference agent over real HTTP."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET

import pytest

from convtest.server import ReferenceServer

GREETING_SUITE = """
suite: greetings
conversations:
  - name: remembers the name
    tags: [smoke, memory]
    turns:
      - user: "Hi, my name is Ada"
        expect:
          text: {contains: Ada}
          finish_reason: stop
      - user: "What is my name?"
        expect:
          text: {matches: '\\bAda\\b'}
          tool_calls: {none: true}
  - name: looks up an order
    turns:
      - user: "Where is my order 1234?"
        expect:
          tool_calls:
            - {name: lookup_order, input: {order_id: "1234"}}
        save:
          tracking: {from: text, regex: 'tracking number is (\\w+)'}
      - user: "Please resend tracking {{ tracking }}"
        expect:
          text: {contains: "{{ tracking }}"}
"""

FAILING_SUITE = """
conversations:
  - name: wrong expectation
    turns:
      - user: "Hello"
        expect:
          text: {contains: Hello}
      - user: "What is my name?"
        expect:
          text: {contains: Ada}
          finish_reason: length
      - user: "never sent"
"""


def write(pytester: pytest.Pytester, name: str, text: str) -> None:
    pytester.path.joinpath(name).write_text(textwrap.dedent(text), encoding="utf-8")


def test_each_conversation_is_one_passing_item_with_a_stable_id(pytester: pytest.Pytester) -> None:
    write(pytester, "greet.yaml", GREETING_SUITE)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["greet.yaml::remembers the name PASSED*", "greet.yaml::looks up an order PASSED*"]
    )


def test_failure_shows_turn_user_message_reply_and_each_failed_expectation(
    pytester: pytest.Pytester,
) -> None:
    write(pytester, "fail.yaml", FAILING_SUITE)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*conversation 'wrong expectation' failed at turn 2 of 3 (fail.yaml:3)*",
            "*turn 1/3 (fail.yaml:5)*",
            "*user: What is my name?*",
            "*bot:  I don't know your name yet. What should I call you?*",
            '*expected text contains "Ada"*(fail.yaml:10)*',
            '*expected finish_reason is "length"*(fail.yaml:11)*',
            '*but finish_reason was "stop"*',
        ]
    )
    assert "never sent" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()
    assert "convtest/" not in result.stdout.str()


def test_invalid_conversation_fails_with_file_line_and_did_you_mean_while_others_run(
    pytester: pytest.Pytester,
) -> None:
    write(
        pytester,
        "mixed.yaml",
        """
        conversations:
          - name: typo
            turns:
              - user: "Hello"
                exepct:
                  text: {contains: Hello}
          - name: fine
            turns:
              - user: "Hello"
        """,
    )
    write(pytester, "broken.yaml", "conversations:\n  - name: [unclosed\n")
    write(pytester, "greet.yaml", GREETING_SUITE)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, failed=2)
    output = result.stdout.str()
    assert "mixed.yaml:6" in output
    assert "did you mean `expect`?" in output
    assert "conversation 'typo'" in output
    assert "broken.yaml:" in output
    assert "Traceback" not in output


def test_k_and_tag_markers_select_conversations(pytester: pytest.Pytester) -> None:
    write(pytester, "greet.yaml", GREETING_SUITE)
    pytester.runpytest("-k", "order").assert_outcomes(passed=1)
    pytester.runpytest("-m", "smoke", "--strict-markers").assert_outcomes(passed=1)
    pytester.runpytest("-m", "not memory").assert_outcomes(passed=1)


def test_x_stops_at_first_failing_conversation(pytester: pytest.Pytester) -> None:
    write(pytester, "a_fail.yaml", FAILING_SUITE)
    write(pytester, "b_greet.yaml", GREETING_SUITE)
    pytester.runpytest("-x").assert_outcomes(failed=1)


def test_last_failed_reruns_only_the_failed_conversation(pytester: pytest.Pytester) -> None:
    write(pytester, "a_fail.yaml", FAILING_SUITE)
    write(pytester, "b_greet.yaml", GREETING_SUITE)
    pytester.runpytest().assert_outcomes(passed=2, failed=1)
    result = pytester.runpytest("--lf", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*a_fail.yaml::wrong expectation FAILED*"])


def test_junitxml_names_each_conversation_and_carries_the_failure_text(
    pytester: pytest.Pytester,
) -> None:
    write(pytester, "fail.yaml", FAILING_SUITE)
    write(pytester, "greet.yaml", GREETING_SUITE)
    pytester.runpytest("--junitxml=out.xml")
    cases = {case.get("name"): case for case in ET.parse(pytester.path / "out.xml").iter("testcase")}
    assert set(cases) == {"wrong expectation", "remembers the name", "looks up an order"}
    failure = cases["wrong expectation"].find("failure")
    assert failure is not None
    assert 'expected text contains "Ada"' in (failure.text or "") + failure.get("message", "")


def test_runs_under_xdist(pytester: pytest.Pytester) -> None:
    write(pytester, "fail.yaml", FAILING_SUITE)
    write(pytester, "greet.yaml", GREETING_SUITE)
    result = pytester.runpytest("-n", "2")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(['*expected text contains "Ada"*'])


def test_skip_and_xfail_come_from_the_suite(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "marks.yaml",
        """
        conversations:
          - name: skipped
            skip: "bot not ready"
            turns: [{user: Hello}]
          - name: known bug
            xfail: "forgets names"
            turns:
              - user: Hello
                expect: {text: {contains: Ada}}
        """,
    )
    result = pytester.runpytest("-rsx")
    result.assert_outcomes(skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*bot not ready*", "*forgets names*"])


def test_unknown_target_option_is_a_usage_error_with_suggestion(pytester: pytest.Pytester) -> None:
    write(pytester, "greet.yaml", GREETING_SUITE)
    result = pytester.runpytest("--convtest-target", "referense")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown target 'referense' — did you mean 'reference'?*"])


def test_unset_env_var_in_target_names_the_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROBOFY_TOKEN", raising=False)
    write(
        pytester,
        "convtest.yaml",
        """
        default_target: staging
        targets:
          staging:
            base_url: http://127.0.0.1:9
            token: ${ROBOFY_TOKEN}
        """,
    )
    write(pytester, "greet.yaml", GREETING_SUITE)
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*target 'staging'*environment variable ROBOFY_TOKEN is not set*"])


def test_unreachable_target_fails_with_a_connect_message(pytester: pytest.Pytester) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    write(
        pytester,
        "convtest.yaml",
        f"""
        targets:
          local:
            base_url: http://127.0.0.1:{port}
        """,
    )
    write(pytester, "greet.yaml", GREETING_SUITE)
    result = pytester.runpytest("--convtest-target", "local", "-k", "remembers")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*cannot connect*127.0.0.1:{port}*"])
    assert "Traceback" not in result.stdout.str()


def test_rejected_token_names_the_env_var_that_holds_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, bot_target: None
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "not-the-right-token")
    write(pytester, "greet.yaml", GREETING_SUITE)
    result = pytester.runpytest("--convtest-target", "bot", "-k", "remembers")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "401" in output
    assert "BOT_TOKEN" in output
    assert "not-the-right-token" not in output


def test_cut_stream_fails_with_the_partial_reply_kept(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "cut.yaml",
        """
        conversations:
          - name: cut
            turns:
              - user: "Hello [[fault:cut]]"
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*bot:  Hello*", "*ended before ?DONE? after * events*"])


def test_unset_env_var_in_a_turn_template_names_variable_and_turn(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONVTEST_NOT_SET", raising=False)
    write(
        pytester,
        "env.yaml",
        """
        conversations:
          - name: uses env
            turns:
              - user: "Hello"
              - user: "My key is {{ env.CONVTEST_NOT_SET }}"
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*failed at turn 2 of 2*", "*env.yaml:6*environment variable CONVTEST_NOT_SET is not set*"]
    )


def test_files_without_conversations_are_not_collected(pytester: pytest.Pytester) -> None:
    write(pytester, "config.yaml", "name: not a suite\nitems: [1, 2]\n")
    write(pytester, "greet.yaml", GREETING_SUITE)
    pytester.runpytest().assert_outcomes(passed=2)


def many_conversations(count: int, failing: set[int]) -> str:
    lines = ["conversations:"]
    for index in range(count):
        expected = "Nobody" if index in failing else "Ada"
        lines += [
            f"  - name: c{index:02d}",
            "    turns:",
            "      - user: Hi, my name is Ada",
            "      - user: What is my name?",
            f"        expect: {{text: {{contains: {expected}}}}}",
        ]
    return "\n".join(lines) + "\n"


def test_concurrent_run_reports_the_same_outcomes_in_collection_order(pytester: pytest.Pytester) -> None:
    write(pytester, "many.yaml", many_conversations(12, failing={3, 8}))
    sequential = pytester.runpytest("-v", "-p", "no:cacheprovider")
    concurrent = pytester.runpytest("-v", "-p", "no:cacheprovider", "--convtest-concurrency", "4")
    for result in (sequential, concurrent):
        result.assert_outcomes(passed=10, failed=2)

    def verdicts(result: pytest.RunResult) -> list[str]:
        return [
            line.split(" ")[0] + " " + line.split(" ")[1]
            for line in result.outlines
            if "::c" in line and line.startswith("many")
        ]

    assert verdicts(concurrent) == verdicts(sequential)
    concurrent.stdout.fnmatch_lines(['*expected text contains "Nobody"*'])


def test_x_with_concurrency_stops_at_the_first_failure(pytester: pytest.Pytester) -> None:
    write(pytester, "many.yaml", many_conversations(12, failing={2}))
    result = pytester.runpytest("-x", "--convtest-concurrency", "4")
    result.assert_outcomes(passed=2, failed=1)


def test_concurrency_under_xdist(pytester: pytest.Pytester) -> None:
    write(pytester, "many.yaml", many_conversations(10, failing={5}))
    result = pytester.runpytest("-n", "2", "--convtest-concurrency", "3")
    result.assert_outcomes(passed=9, failed=1)


@pytest.mark.parametrize("given", ["0", "-2", "two", "1.5"])
def test_concurrency_that_is_not_a_whole_number_from_1_is_a_usage_error_saying_so(
    pytester: pytest.Pytester, given: str
) -> None:
    write(pytester, "greet.yaml", GREETING_SUITE)
    result = pytester.runpytest(f"--convtest-concurrency={given}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*: error: argument --convtest-concurrency: expected a whole number >= 1, got '{given}'"]
    )
    assert "invalid" not in result.stderr.str()  # argparse's words for a failed type function
    assert "Traceback" not in result.stderr.str()


def test_failure_text_shows_reasoning_sources_and_retries(
    pytester: pytest.Pytester, reference_server: ReferenceServer
) -> None:
    pytester.path.joinpath("convtest.yaml").write_text(
        f"targets:\n  bot:\n    base_url: {reference_server.url}\n    token: {reference_server.token}\n"
        "    pid: p1\n    chatbot_id: c1\n    retries: {max: 2, backoff: 0.01}\n",
        encoding="utf-8",
    )
    write(
        pytester,
        "details.yaml",
        """
        target: bot
        conversations:
          - name: reasoning
            turns:
              - {user: "What is 12 * 7?", expect: {text: {contains: "85"}}}
          - name: source
            turns:
              - {user: "What is your return policy?", expect: {text: {contains: "60 days"}}}
          - name: busy
            turns:
              - {user: "[[fault:status:503]] hello"}
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*reasoning: *"])
    result.stdout.fnmatch_lines(["*source: *"])
    result.stdout.fnmatch_lines(
        ["*retry: attempt 1: HTTP 503*retried after*", "*retry: attempt 2: HTTP 503*", "*HTTP 503 from*"]
    )
