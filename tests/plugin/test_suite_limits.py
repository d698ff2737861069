"""``suite_limits`` in convtest.yaml: every limit a suite file is read under can be raised or
lowered there, and a mistake in it is named at its line (issue 14: each limit has a default, a
config key and a named verdict)."""

from __future__ import annotations

import textwrap

import pytest

from convtest.config import load_config
from convtest.suite.limits import DEFAULT_LIMITS, SuiteLimits

NESTED = """\
conversations:
  - name: nested
    vars:
      v: {a: {b: {c: {d: {e: {f: 1}}}}}}
    turns: [{user: Hello}]
  - name: flat
    turns: [{user: Hello}]
"""


def write(pytester: pytest.Pytester, name: str, text: str) -> None:
    pytester.path.joinpath(name).write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_limits_are_read_from_convtest_yaml(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "convtest.yaml",
        "suite_limits: {max_bytes: 2048, max_depth: 7, max_alias_values: 10, regex_seconds: 0.5}\n",
    )
    assert load_config(pytester.path).suite_limits == SuiteLimits(2048, 7, 10, 0.5)
    write(pytester, "convtest.yaml", "targets: {}\n")
    assert load_config(pytester.path).suite_limits == DEFAULT_LIMITS


def test_a_lowered_max_depth_invalidates_only_the_conversation_that_goes_deeper(
    pytester: pytest.Pytester, warm_imports: None, quiet_inner_runs: None
) -> None:
    write(pytester, "convtest.yaml", "suite_limits: {max_depth: 6}\n")
    write(pytester, "deep.yaml", NESTED)
    result = pytester.runpytest("deep.yaml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*deep.yaml:4, conversation 'nested': YAML nested deeper than 6 levels (suite_limits.max_depth*"]
    )


def test_a_lowered_max_bytes_refuses_the_file_by_name(
    pytester: pytest.Pytester, warm_imports: None, quiet_inner_runs: None
) -> None:
    write(pytester, "convtest.yaml", "suite_limits: {max_bytes: 100}\n")
    write(pytester, "big.yaml", NESTED)
    result = pytester.runpytest("big.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*big.yaml:1: suite file is larger than 100 bytes (suite_limits.max_bytes*"])


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (
            "{max_dept: 5}",
            "convtest.yaml:1: `suite_limits`: unknown key `max_dept` — did you mean `max_depth`?",
        ),
        (
            "{max_depth: 0}",
            "convtest.yaml:1: `suite_limits.max_depth` must be a whole number of at least 1, got 0",
        ),
        (
            "{regex_seconds: soon}",
            "convtest.yaml:1: `suite_limits.regex_seconds` must be a number of seconds above 0, got soon",
        ),
        ("[1, 2]", "convtest.yaml:1: `suite_limits`: expected a mapping, got a list"),
    ],
)
def test_a_mistake_in_suite_limits_is_named_at_its_line(
    pytester: pytest.Pytester, warm_imports: None, quiet_inner_runs: None, limits: str, message: str
) -> None:
    write(pytester, "convtest.yaml", f"suite_limits: {limits}\n")
    write(pytester, "flat.yaml", "conversations:\n  - name: flat\n    turns: [{user: Hello}]\n")
    result = pytester.runpytest("flat.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*{message}*"])
    assert "Traceback" not in result.stdout.str()
