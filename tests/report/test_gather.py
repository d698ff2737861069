"""Folding pytest's phase reports into one entry per conversation, as the controller sees them."""

from __future__ import annotations

from typing import Any

import pytest

from convtest.pytest_plugin.gather import ITEM_ATTR, Gatherer

META = {"kind": "conversation", "name": "greets", "file": "s.yaml", "location": "s.yaml:3", "tags": ["smoke"]}


def report(
    when: str, outcome: str, longrepr: Any = None, nodeid: str = "s.yaml::greets", **extra: Any
) -> pytest.TestReport:
    rep = pytest.TestReport(nodeid, ("s.yaml", 2, "greets"), {}, outcome, longrepr, when, duration=0.5)  # type: ignore[arg-type]
    for name, value in {ITEM_ATTR: META, **extra}.items():
        setattr(rep, name, value)
    return rep


def gather(*reports: pytest.TestReport) -> Gatherer:
    gatherer = Gatherer()
    for rep in reports:
        gatherer.add(rep)
    return gatherer


def test_three_phases_make_one_entry_with_the_call_data() -> None:
    data = {"name": "greets", "passed": True, "turns": []}
    (entry,) = gather(
        report("setup", "passed"), report("call", "passed", convtest=data), report("teardown", "passed")
    ).entries
    assert (entry.name, entry.file, entry.tags, entry.outcome) == ("greets", "s.yaml", ["smoke"], "passed")
    assert entry.data == data
    assert entry.duration_s == pytest.approx(1.5)


def test_failed_call_keeps_pytests_failure_text() -> None:
    (entry,) = gather(
        report("setup", "passed"), report("call", "failed", "conversation 'greets' failed")
    ).entries
    assert entry.outcome == "failed"
    assert entry.messages == ["conversation 'greets' failed"]


def test_skip_in_setup_keeps_the_reason() -> None:
    (entry,) = gather(report("setup", "skipped", ("s.yaml", 3, "Skipped: waiting for KB"))).entries
    assert entry.outcome == "skipped"
    assert entry.messages == ["waiting for KB"]


def test_xfail_and_xpass_are_told_apart() -> None:
    (xfailed,) = gather(report("call", "skipped", "boom", wasxfail="BUG-1")).entries
    (xpassed,) = gather(report("call", "passed", wasxfail="BUG-1")).entries
    assert (xfailed.outcome, xfailed.messages) == ("xfailed", ["expected to fail: BUG-1"])
    assert xpassed.outcome == "xpassed"


def test_teardown_error_turns_a_pass_into_an_error_but_does_not_hide_a_failure() -> None:
    (errored,) = gather(report("call", "passed"), report("teardown", "failed", "cleanup broke")).entries
    (failed,) = gather(report("call", "failed", "bad"), report("teardown", "failed", "cleanup broke")).entries
    assert errored.outcome == "error"
    assert errored.messages == ["error in teardown:\ncleanup broke"]
    assert failed.outcome == "failed"


def test_reports_of_other_tests_are_ignored() -> None:
    plain = pytest.TestReport("test_x.py::test_y", ("test_x.py", 1, "test_y"), {}, "passed", None, "call")
    assert gather(plain).entries == []


def test_a_collection_error_is_an_entry_that_says_why() -> None:
    gatherer = Gatherer()
    gatherer.add_collect_error(pytest.CollectReport("broken.yaml", "failed", "yaml parser exploded", []))
    gatherer.add_collect_error(pytest.CollectReport("fine.yaml", "passed", None, []))
    (entry,) = gatherer.entries
    assert (entry.kind, entry.outcome, entry.messages) == ("collect", "error", ["yaml parser exploded"])
