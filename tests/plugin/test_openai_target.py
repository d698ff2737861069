"""`adapter: openai` as a user meets it: pytest runs of suites against the built-in
`reference-openai` target and against an `adapter: openai` target in convtest.yaml."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from convtest.server import ReferenceServer

EXAMPLES = Path(__file__).resolve().parents[2] / "suites"

FAILING = """
target: reference-openai
conversations:
  - name: wrong tool expectation
    turns:
      - user: "Where is my order 1234?"
        expect:
          tool_calls:
            - {name: lookup_order, output: {status: delivered}}
"""


def test_the_example_suite_passes_on_the_built_in_openai_target(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLES / "openai.yaml", pytester.path / "openai.yaml")
    result = pytester.runpytest("-n", "2")
    result.assert_outcomes(passed=8)


def test_the_robofy_example_suites_run_over_openai_too(pytester: pytest.Pytester) -> None:
    """Every example but those of robofy_protocol.yaml (pinned to `reference`: they check what only
    the Robofy stream carries) goes through OpenAI's chat completions, goldens included."""
    names = ("orders.yaml", "knowledge.yaml", "memory.yaml", "protocol.yaml", "robofy_protocol.yaml")
    for name in names:
        shutil.copy(EXAMPLES / name, pytester.path / name)
    shutil.copytree(EXAMPLES / "__goldens__", pytester.path / "__goldens__")
    result = pytester.runpytest("--convtest-target", "reference-openai", "-v")
    result.assert_outcomes(passed=21)
    over_openai = [line for line in result.outlines if " PASSED" in line and "robofy_protocol" not in line]
    assert len(over_openai) == 17


def test_a_failed_tool_expectation_shows_the_call_and_its_result(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("fail.yaml").write_text(textwrap.dedent(FAILING), encoding="utf-8")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*target: reference-openai*",
            '*tool: lookup_order(input={"order_id": "1234"}) → {"found": true*',
            "*expected tool calls are exactly*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_configured_target_runs_the_tool_loop_with_fixed_results(
    pytester: pytest.Pytester, reference_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPT_KEY", str(reference_server.token))
    pytester.path.joinpath("convtest.yaml").write_text(
        textwrap.dedent(
            f"""
            default_target: gpt
            targets:
              gpt:
                adapter: openai
                base_url: {reference_server.url}/v1
                token: ${{GPT_KEY}}
                model: any-model
                stream: false
                tools:
                  lookup_order:
                    parameters: {{type: object, properties: {{order_id: {{type: string}}}}}}
                tool_results:
                  lookup_order: {{status: lost}}
            """
        ),
        encoding="utf-8",
    )
    pytester.path.joinpath("orders.yaml").write_text(
        textwrap.dedent(
            """
            conversations:
              - name: fixed result
                turns:
                  - user: "Where is my order 1234?"
                    expect:
                      tool_calls: [{name: lookup_order, input: {order_id: "1234"}, output: {status: lost}}]
                      steps: 2
            """
        ),
        encoding="utf-8",
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_a_misspelt_openai_key_is_named_with_a_suggestion(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("convtest.yaml").write_text(
        "targets:\n  gpt:\n    adapter: openai\n    base_url: http://127.0.0.1:9/v1\n"
        "    model: m\n    tool_result: {}\n",
        encoding="utf-8",
    )
    pytester.path.joinpath("hi.yaml").write_text(
        "conversations:\n  - name: hi\n    turns: [{user: hi}]\n", encoding="utf-8"
    )
    result = pytester.runpytest("--convtest-target", "gpt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*convtest.yaml:6: target 'gpt': unknown key `tool_result` — did you mean `tool_results`?*"]
    )
