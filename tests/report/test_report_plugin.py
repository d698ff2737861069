"""``--convtest-report`` as a user meets it: real pytest runs of generated suites against the
reference agent, with and without pytest-xdist, and the report file they leave."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from convtest.server import ReferenceServer

SUITE = """
suite: demo
conversations:
  - name: greets back
    tags: [smoke]
    turns:
      - user: "Hello"
        expect:
          text: {contains: Hello}
  - name: wrong expectation
    tags: [memory]
    turns:
      - user: "Hi, my name is Grace"
      - user: "What is my name?"
        expect:
          text: {contains: Ada}
  - name: later
    skip: "bot not ready"
    turns: [{user: Hello}]
  - name: known bug
    xfail: "forgets names"
    turns:
      - user: "What is my name?"
        expect: {text: {contains: Ada}}
  - name: typo
    turns:
      - user: Hello
        exepct: {text: {contains: Hello}}
"""


@pytest.fixture(autouse=True)
def _pytester_runs(warm_imports: None, quiet_inner_runs: None) -> None:
    """See ``warm_imports`` and ``quiet_inner_runs`` in tests/conftest.py."""


def write(pytester: pytest.Pytester, name: str, text: str) -> None:
    pytester.path.joinpath(name).write_text(textwrap.dedent(text), encoding="utf-8")


def counts(html: str) -> dict[str, int]:
    """The summary's numbers, as a reader sees them at the top of the page."""
    found = re.findall(r'<div class="fact-count outcome-(\w+)"><dt>\w+</dt><dd>(\d+)</dd></div>', html)
    return {outcome: int(number) for outcome, number in found}


def assert_report_of_the_demo_suite(html: str) -> None:
    assert counts(html) == {"failed": 2, "error": 0, "passed": 1, "xfailed": 1, "skipped": 1}
    for name in ("greets back", "wrong expectation", "later", "known bug", "typo"):
        assert f'<span class="conv-name">{name}</span>' in html
    assert "expected text contains &#34;Ada&#34;" in html
    assert "Nice to meet you, Grace" in html
    assert "bot not ready" in html and "forgets names" in html
    assert "unknown key `exepct` in turn — did you mean `expect`?" in html
    assert html.count('class="conv ') == 5


def test_report_has_counts_names_replies_and_failure_text(pytester: pytest.Pytester) -> None:
    write(pytester, "demo.yaml", SUITE)
    result = pytester.runpytest("--convtest-report", "out/report.html")
    result.assert_outcomes(passed=1, failed=2, skipped=1, xfailed=1)
    report = pytester.path / "out" / "report.html"
    result.stdout.fnmatch_lines([f"*convtest report: {report}*"])
    assert_report_of_the_demo_suite(report.read_text(encoding="utf-8"))
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.html"]


def test_under_xdist_the_controller_writes_one_report_of_every_worker(pytester: pytest.Pytester) -> None:
    write(pytester, "demo.yaml", SUITE)
    write(pytester, "more.yaml", "conversations:\n  - name: also greets\n    turns: [{user: Hello}]\n")
    result = pytester.runpytest("-n", "2", "--convtest-report", "report.html")
    result.assert_outcomes(passed=2, failed=2, skipped=1, xfailed=1)
    html = (pytester.path / "report.html").read_text(encoding="utf-8")
    result.stdout.fnmatch_lines([f"*convtest report: {pytester.path / 'report.html'}*"])
    assert counts(html)["passed"] == 2
    assert '<span class="conv-name">also greets</span>' in html
    assert "expected text contains &#34;Ada&#34;" in html
    assert sorted(p.name for p in pytester.path.iterdir() if "report" in p.name) == ["report.html"]


def test_target_token_and_secret_env_values_never_reach_the_report(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    reference_server: ReferenceServer,
    bot_target: None,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", reference_server.token)
    monkeypatch.setenv("CUSTOMER_NAME", "Zanzibar")
    write(
        pytester,
        "secret.yaml",
        """
        conversations:
          - name: uses a secret name
            turns:
              - user: "Hi, my name is {{ env.CUSTOMER_NAME }}"
                expect:
                  text: {contains: "{{ env.CUSTOMER_NAME }} the Great"}
        """,
    )
    result = pytester.runpytest("--convtest-target", "bot", "--convtest-report", "report.html")
    result.assert_outcomes(failed=1)
    html = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert "Zanzibar" not in html
    assert reference_server.token not in html
    assert "Nice to meet you, ***" in html
    assert "expected text contains &#34;*** the Great&#34;" in html


def test_without_the_option_nothing_is_written_or_printed(pytester: pytest.Pytester) -> None:
    write(pytester, "demo.yaml", SUITE)
    result = pytester.runpytest()
    assert "convtest report" not in result.stdout.str()
    assert not list(pytester.path.glob("*.html"))


def test_a_directory_as_report_path_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write(pytester, "demo.yaml", SUITE)
    pytester.mkdir("reports")
    result = pytester.runpytest("--convtest-report", "reports")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--convtest-report: *reports is a directory; give a file name*"])


def test_an_unwritable_report_path_fails_the_run_with_one_clear_line(pytester: pytest.Pytester) -> None:
    write(pytester, "demo.yaml", "conversations:\n  - name: greets\n    turns: [{user: Hello}]\n")
    Path(pytester.path / "afile").write_text("not a folder")
    result = pytester.runpytest("--convtest-report", "afile/report.html")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*convtest report: could not write *afile/report.html: *"])
