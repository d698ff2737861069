"""Every example suite of the README and docs/*.md passes, verbatim, against the reference agent
(issue 14 item 21): a reader who copies one into suites/ sees it pass before changing it."""

from __future__ import annotations

import pytest
from docs_examples import DocSuite, doc_suites

from convtest.suite import load_suite_text

EXAMPLES = [example for example in doc_suites() if not example.skipped]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: example.where)
def test_a_docs_example_suite_passes_against_the_reference_agent(
    pytester: pytest.Pytester, example: DocSuite
) -> None:
    pytester.mkdir("suites").joinpath("example.yaml").write_text(example.text, encoding="utf-8")
    if "golden" in example.text:  # its goldens are recorded first, as the docs say to
        pytester.runpytest("suites", "--update-goldens").assert_outcomes(passed=len(example_names(example)))
    pytester.runpytest("suites").assert_outcomes(passed=len(example_names(example)))


def example_names(example: DocSuite) -> list[str]:
    return [conversation.name for conversation in load_suite_text(example.text, "example.yaml").conversations]


def test_every_example_left_out_says_why() -> None:
    left_out = [example for example in doc_suites() if example.skipped]
    assert len(EXAMPLES) >= 6
    # only the pages on writing plugins have examples that need a plugin
    assert {example.where.partition(":")[0] for example in left_out} == {
        "docs/writing-adapters.md",
        "docs/writing-checks.md",
    }
    assert all("plugin" in example.skipped or "adapter" in example.skipped for example in left_out)
