"""The pytest plugin (entry point ``pytest11``): options and hooks only.

Thin glue: the per-process state lives in :mod:`.state`, the nodes in :mod:`.collect`, the golden
and report bookkeeping in :mod:`.goldens` and :mod:`.report`; everything they call works without
pytest (see :mod:`convtest.session`).
"""

from __future__ import annotations

import argparse
import gc
import sys
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

import pytest

from convtest.pytest_plugin.goldens import add_golden_options, register_goldens
from convtest.pytest_plugin.report import add_report_option, register_report
from convtest.pytest_plugin.select import add_select_option, register_select
from convtest.pytest_plugin.state import close_state, start_state
from convtest.pytest_plugin.wire import utf8_safe
from convtest.sniff import sniff

if TYPE_CHECKING:
    from convtest.pytest_plugin.collect import ConversationItem, SuiteFile

#: where the nodes live; imported only once a suite file is met
_COLLECT = "convtest.pytest_plugin.collect"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("convtest", "chatbot conversation suites")
    add_report_option(group)
    add_golden_options(group)
    add_select_option(group)
    group.addoption(
        "--convtest-target",
        metavar="NAME",
        default=None,
        help="target to run suites against (from convtest.yaml / [tool.convtest]); "
        "default: the config's default_target, else the embedded reference agent",
    )
    group.addoption(
        "--convtest-concurrency",
        metavar="N",
        type=_concurrency,
        default=1,
        help="conversations in flight at once in this process (turns of one conversation stay in "
        "order; pytest still reports them one by one, in order); default 1",
    )


def _concurrency(text: str) -> int:
    """argparse prefixes the message with the option's name; pytest makes it a usage error."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def pytest_configure(config: pytest.Config) -> None:
    state = start_state(config)
    register_report(config)
    register_goldens(config)
    register_select(config)
    target = config.getoption("convtest_target")
    if target is not None:
        from convtest.exceptions import ConfigError

        try:
            state.config.resolve(target)
        except ConfigError as error:
            raise pytest.UsageError(f"--convtest-target: {error}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    close_state(config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Put the conversation's result on its report as plain data when someone will read it (the
    HTML report, the golden bookkeeping): it survives xdist, and the controller reads it from
    there. Transcripts travel only when the HTML report will show them; the item lets go of its
    result either way (pytest keeps every report until the run ends)."""
    report = yield
    if call.when == "call" and is_conversation(item) and item.result is not None:
        detailed = item.config.getoption("convtest_report", None) is not None
        if detailed or item.result.golden is not None:
            data = utf8_safe(item.result.to_dict(transcripts=detailed))
            report.convtest = data  # type: ignore[attr-defined]
        item.result = None
    return report


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what is loaded by now (pytest, plugins, parsed suites) out of the garbage
    collector's sight when conversations will run: those objects live for the whole run anyway,
    and every full collection walks all of them (pytest alone runs five at exit, ~0.3 s on a
    2-core machine)."""
    if any(is_conversation(item) for item in session.items):
        gc.freeze()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SuiteFile | None:
    """A suite, or a file plainly meant as one (it then fails with the reason); a YAML file that
    might have been meant as one but cannot say why not (an empty one) gets a warning."""
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    found = sniff(file_path)
    if found.collect:
        from convtest.pytest_plugin.collect import SuiteFile  # the suite loader, once there is a suite

        return SuiteFile.from_parent(parent, path=file_path)
    if found.warning:  # shown at the file's path in pytest's warnings summary
        warnings.warn_explicit(pytest.PytestCollectionWarning(found.warning), None, str(file_path), 1)
    return None


def is_conversation(node: object) -> TypeGuard[ConversationItem]:
    """A conversation item? Asked of every item of every run: before a suite was collected (or,
    under xdist, on the controller, which collects nothing) the answer needs no import."""
    collect = sys.modules.get(_COLLECT)
    return collect is not None and isinstance(node, collect.ConversationItem)
