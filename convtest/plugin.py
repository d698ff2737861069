"""The pytest plugin (entry point ``pytest11``): options, collection hook, per-process state.

Thin glue: everything it calls works without pytest (see :mod:`convtest.session`).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

import pytest

from convtest.golden_plugin import add_golden_options, register_goldens
from convtest.report_plugin import add_report_option, register_report
from convtest.sniff import is_suite_file

if TYPE_CHECKING:
    from convtest.collect import ConversationItem, SuiteFile
    from convtest.config import Config
    from convtest.lookahead import Lookahead
    from convtest.session import RunSession

__all__ = ["PluginState", "state_of"]


class PluginState:
    """Per-process state: the config and the run session, both created on first use so a
    pytest run without suites pays nothing."""

    def __init__(self, config: pytest.Config) -> None:
        self._pytest_config = config
        self._config: Config | None = None
        self._session: RunSession | None = None
        self._lookahead: Lookahead | None = None
        self._tags: set[str] = set()

    @property
    def config(self) -> Config:
        if self._config is None:
            from convtest.config import load_config

            self._config = load_config(self._pytest_config.rootpath)
        return self._config

    @property
    def session(self) -> RunSession:
        if self._session is None:
            from convtest.session import RunSession

            target = self._pytest_config.getoption("convtest_target")
            concurrency = self._pytest_config.getoption("convtest_concurrency")
            self._session = RunSession(self.config, target=target, concurrency=concurrency)
        return self._session

    @property
    def lookahead(self) -> Lookahead:
        if self._lookahead is None:
            from convtest.lookahead import Lookahead

            self._lookahead = Lookahead(self.session)
        return self._lookahead

    def register_tags(self, tags: Iterable[str]) -> None:
        """Declare suite tags as markers, so ``-m`` and ``--strict-markers`` accept them."""
        for tag in tags:
            if tag not in self._tags:
                self._tags.add(tag)
                self._pytest_config.addinivalue_line("markers", f"{tag}: convtest suite tag")

    def close(self) -> None:
        if self._lookahead is not None:
            self._lookahead.close()
            self._lookahead = None
        if self._session is not None:
            self._session.close()
            self._session = None


_STATE = pytest.StashKey[PluginState]()


def state_of(config: pytest.Config) -> PluginState:
    return config.stash[_STATE]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("convtest", "chatbot conversation suites")
    add_report_option(group)
    add_golden_options(group)
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
        type=_positive_int,
        default=1,
        help="conversations in flight at once in this process (turns of one conversation stay in "
        "order; pytest still reports them one by one, in order); default 1",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def pytest_configure(config: pytest.Config) -> None:
    state = config.stash[_STATE] = PluginState(config)
    register_report(config)
    register_goldens(config)
    target = config.getoption("convtest_target")
    if target is not None:
        from convtest.exceptions import ConfigError

        try:
            state.config.resolve(target)
        except ConfigError as error:
            raise pytest.UsageError(f"--convtest-target: {error}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()


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
            report.convtest = item.result.to_dict(transcripts=detailed)  # type: ignore[attr-defined]
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
    if file_path.suffix in (".yaml", ".yml") and is_suite_file(file_path):
        from convtest.collect import SuiteFile  # the suite loader, only once there is a suite

        return SuiteFile.from_parent(parent, path=file_path)
    return None


def is_conversation(node: object) -> TypeGuard[ConversationItem]:
    """A conversation item? Asked of every item of every run: before a suite was collected (or,
    under xdist, on the controller, which collects nothing) the answer needs no import."""
    collect = sys.modules.get("convtest.collect")
    return collect is not None and isinstance(node, collect.ConversationItem)
