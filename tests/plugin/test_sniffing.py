"""YAML files that look like suites are never skipped silently (issue 14 item 17): a file
plainly meant as a suite fails as an invalid suite with the reason, an empty one is named in a
warning; YAML files that are not suites at all (CI configs, goldens, data) stay silent."""

from __future__ import annotations

import pytest

TURNS = "    turns:\n      - user: hi\n"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(
            f"conversation:\n  - name: a\n{TURNS}".encode(),
            "unknown key `conversation` at the top level — did you mean `conversations`?",
            id="misspelt top-level key",
        ),
        pytest.param(
            f"Conversations:\n  - name: a\n{TURNS}".encode(),
            "unknown key `Conversations` at the top level — did you mean `conversations`?",
            id="capitalised top-level key",
        ),
        pytest.param(
            b"- suite: x\n  conversations:\n    - name: a\n      turns: [{user: hi}]\n",
            "a suite file must be a mapping with `conversations`, got a list",
            id="top-level list",
        ),
        pytest.param(
            b"[{conversations: [{name: a, turns: [{user: hi}]}]}]\n",
            "a suite file must be a mapping with `conversations`, got a list",
            id="flow-style list",
        ),
        pytest.param(
            f"conversations:\n  - name: a\n{TURNS}".encode("utf-16"),
            "suite file is not valid UTF-8 (byte 0xff): the file is UTF-16; save it as UTF-8",
            id="UTF-16",
        ),
    ],
)
def test_a_file_meant_as_a_suite_fails_with_the_reason(
    pytester: pytest.Pytester, content: bytes, reason: str
) -> None:
    pytester.path.joinpath("suite.yaml").write_bytes(content)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"invalid suite: suite.yaml:1: {reason}"])


def test_a_flow_style_suite_runs(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("flow.yaml").write_text(
        "{suite: flow, conversations: [{name: a, turns: [{user: hi, expect: {text: {contains: Hello}}}]}]}\n"
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# a suite, one day\n---\n"], ids=["empty", "blank", "comments"]
)
def test_an_empty_yaml_file_is_named_in_a_warning(pytester: pytest.Pytester, text: str) -> None:
    pytester.path.joinpath("new.yaml").write_text(text)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "*warnings summary*",
            "*new.yaml:1: PytestCollectionWarning: empty YAML file, not collected as a suite "
            "(a suite needs `conversations:`)",
        ]
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "ci.yml",
            "on: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: pytest\n",
        ),
        ("compose.yaml", "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n"),
        ("data.yaml", "sessions:\n  - turns:\n      - user: hi\n"),
        ("chat.yaml", "conversation: order status\nturns:\n  - user: hi\n    text: hello\n"),
        ("__goldens__/orders/a.yaml", "conversation:\n  - x\nturns:\n  - user: hi\n"),
        ("__goldens__/orders/b.yaml", ""),
        ("convtest.yaml", ""),
        ("list.yaml", "- name: a\n- name: b\n"),
    ],
)
def test_yaml_files_that_are_not_suites_stay_silent(pytester: pytest.Pytester, name: str, text: str) -> None:
    path = pytester.path.joinpath(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "warning" not in result.stdout.str().lower()
