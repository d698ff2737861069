"""Mistakes in convtest.yaml and in a suite's ``target:`` as a user meets them (issue 14 items 5,
6, 15, 16): only the conversations they concern fail, each with every mistake at its own line,
and never with a traceback."""

from __future__ import annotations

import textwrap

import pytest

TWO_TARGETS_SUITE = """
conversations:
  - name: on the reference agent
    turns:
      - user: "Hello"
  - name: on staging
    target: staging
    turns:
      - user: "Hello"
"""


def write(pytester: pytest.Pytester, name: str, text: str) -> None:
    path = pytester.path.joinpath(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_a_mistake_in_one_target_fails_only_the_conversations_on_it(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "convtest.yaml",
        """\
        targets:
          staging:
            base_url: http://127.0.0.1:9
            adaptor: robofy
            timeouts: {idel: 3, total: -1}
        """,
    )
    write(pytester, "suites/two.yaml", TWO_TARGETS_SUITE)
    result = pytester.runpytest("suites")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ conversation: on staging _*",
            "convtest.yaml:4: target 'staging': unknown key `adaptor` — did you mean `adapter`?",
            "convtest.yaml:5: target 'staging': `timeouts`: unknown key `idel` — did you mean `idle`?",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_every_value_mistake_of_a_target_is_shown_at_its_keys_line(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "convtest.yaml",
        """\
        targets:
          staging:
            base_url: ftp://127.0.0.1:9
            timeouts:
              idle: -1
            limits:
              max_events: 0
        """,
    )
    write(pytester, "suites/two.yaml", TWO_TARGETS_SUITE)
    result = pytester.runpytest("suites")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "convtest.yaml:3: target 'staging': `base_url` must start with http:// or https://, *",
            "convtest.yaml:5: target 'staging': timeout `idle` must be a positive number of seconds, got -1",
            "convtest.yaml:7: target 'staging': `limits.max_events` must be a whole number of at least 1, "
            "got 0",
        ]
    )


def test_a_yaml_syntax_error_in_convtest_yaml_names_its_line_like_a_suite(
    pytester: pytest.Pytester,
) -> None:
    write(pytester, "convtest.yaml", "targets:\n  staging:\n    base_url: http://x\n   token: [\n")
    write(pytester, "suites/two.yaml", TWO_TARGETS_SUITE)
    result = pytester.runpytest("suites")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["convtest.yaml:4: invalid YAML: *"])
    assert "<unicode string>" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "targets:\n  staging:\n    base_url: http://x\n    headers: " + "[" * 10_000 + "]" * 10_000,
            # libyaml's own limit (1,000 levels) when its scanner reads that far ahead before the
            # first events (PyYAML 6.0.4), else ours: both are named, neither a RecursionError
            "(invalid YAML: exceeded maximum nesting depth|nested too deeply: more than 64 levels)",
        ),
        (
            "targets:\n  staging:\n    base_url: http://x\n    headers:\n"
            + "".join(" " * (6 + 2 * depth) + f"k{depth}:\n" for depth in range(100)),
            "nested too deeply: more than 64 levels of mappings and lists",
        ),
        (
            "targets:\n  staging:\n    base_url: http://x\n    headers:\n"
            "      a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"      a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n" for i in range(1, 30)
            ),
            "too many values once aliases are expanded",
        ),
    ],
    ids=["nested 10k deep", "nested 100 deep", "alias bomb"],
)
def test_a_hostile_convtest_yaml_fails_every_conversation_with_a_named_error(
    pytester: pytest.Pytester, text: str, message: str
) -> None:
    write(pytester, "convtest.yaml", text)
    write(pytester, "suites/two.yaml", TWO_TARGETS_SUITE)
    result = pytester.runpytest("suites")
    result.assert_outcomes(failed=2)
    result.stdout.re_match_lines([rf"convtest\.yaml:\d+: {message}"])
    assert "Traceback" not in result.stdout.str()
    assert "RecursionError" not in result.stdout.str()


def test_a_header_value_that_is_not_a_string_is_named_with_its_line(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "convtest.yaml",
        """\
        targets:
          staging:
            base_url: http://127.0.0.1:9
            headers:
              X-Team: {name: qa}
              X-Version: 1.10
        """,
    )
    write(pytester, "suites/two.yaml", TWO_TARGETS_SUITE)
    result = pytester.runpytest("suites")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["convtest.yaml:5: target 'staging': header 'X-Team' must be a string, got mapping"]
    )
    assert "X-Version" not in result.stdout.str()


@pytest.mark.parametrize("with_config", [False, True], ids=["without convtest.yaml", "with convtest.yaml"])
def test_an_unknown_target_in_a_suite_is_named_at_its_line_with_a_suggestion(
    pytester: pytest.Pytester, with_config: bool
) -> None:
    if with_config:
        write(pytester, "convtest.yaml", "targets:\n  staging:\n    base_url: http://127.0.0.1:9\n")
    write(
        pytester,
        "suites/x.yaml",
        """\
        conversations:
          - name: fine
            turns:
              - user: "Hello"
          - name: c
            target: referense
            turns:
              - user: "Hello"
        """,
    )
    result = pytester.runpytest("suites")
    result.assert_outcomes(passed=1, failed=1)
    defined = (
        "reference, reference-openai, staging; see convtest.yaml"
        if with_config
        else "reference, reference-openai; see built-in defaults"
    )
    result.stdout.fnmatch_lines(
        [
            "suites/x.yaml:6, conversation 'c': unknown target 'referense' — did you mean 'reference'? "
            f"(defined: {defined})"
        ]
    )


def test_a_suites_own_target_is_named_at_the_files_target_line(pytester: pytest.Pytester) -> None:
    write(pytester, "convtest.yaml", "targets:\n  staging:\n    base_url: http://127.0.0.1:9\n")
    write(pytester, "suites/x.yaml", "target: stagin\nconversations:\n  - name: c\n    turns: [{user: hi}]\n")
    result = pytester.runpytest("suites")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["suites/x.yaml:1, conversation 'c': unknown target 'stagin' — did you mean 'staging'? *"]
    )


def test_an_unknown_default_target_fails_only_the_conversations_that_use_it(
    pytester: pytest.Pytester,
) -> None:
    write(
        pytester,
        "convtest.yaml",
        "default_target: stagin\ntargets:\n  staging:\n    base_url: http://127.0.0.1:9\n",
    )
    write(pytester, "suites/x.yaml", "conversations:\n  - name: c\n    turns: [{user: hi}]\n")
    write(
        pytester, "suites/y.yaml", "target: reference\nconversations:\n  - name: d\n    turns: [{user: hi}]\n"
    )
    result = pytester.runpytest("suites")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["convtest.yaml:1: `default_target`: unknown target 'stagin' — did you mean 'staging'? *"]
    )
