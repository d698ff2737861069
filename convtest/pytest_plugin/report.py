"""``--convtest-report PATH``: the pytest glue of the HTML report.

Registered on every process when the option is given. Workers only tag their reports with what
each item is; the controller (the process without ``workerinput``) gathers every report, from
itself or from pytest-xdist workers, and writes the page once at the end of the session.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from datetime import datetime
from pathlib import Path

import pytest

# what the report gathers, and the page, load only when ``--convtest-report`` is given

__all__ = ["ReportPlugin", "add_report_option", "register_report"]

_OPTION = "convtest_report"


def add_report_option(group: pytest.OptionGroup) -> None:
    group.addoption(
        "--convtest-report",
        dest=_OPTION,
        metavar="PATH",
        default=None,
        help="write a self-contained HTML report of every conversation to PATH",
    )


def register_report(config: pytest.Config) -> None:
    """Register the report plugin when ``--convtest-report`` was given; otherwise do nothing."""
    raw = config.getoption(_OPTION, None)
    if not raw:
        return
    path = (config.invocation_params.dir / os.path.expanduser(raw)).resolve()
    if path.is_dir():
        raise pytest.UsageError(f"--convtest-report: {path} is a directory; give a file name")
    config.pluginmanager.register(ReportPlugin(config, path), "convtest-report")


class ReportPlugin:
    """Tags reports everywhere; gathers and writes only in the controller."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.path = path
        self.controller = not hasattr(config, "workerinput")
        self._config = config
        from convtest.pytest_plugin.gather import Gatherer

        self._gatherer = Gatherer()
        self._started = datetime.now().astimezone()
        self._clock = time.monotonic()
        self._error: str | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Every phase carries the item's description: a skipped item has no call phase."""
        from convtest.pytest_plugin.gather import ITEM_ATTR, describe_item

        report = yield
        description = describe_item(item)
        if description is not None:
            setattr(report, ITEM_ATTR, description)
        return report

    def pytest_sessionstart(self) -> None:
        self._started = datetime.now().astimezone()
        self._clock = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.controller:
            self._gatherer.add(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if self.controller:
            self._gatherer.add_collect_error(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.controller:
            return
        # the page's modules (views, chart, Jinja2 environment) load only when a report is asked for
        from convtest.report.html import RunInfo, render_report, write_report

        run = RunInfo(
            started=self._started,
            duration_s=time.monotonic() - self._clock,
            default_target=self._config.getoption("convtest_target", None),
        )
        try:
            write_report(self.path, render_report(self._gatherer.entries, run))
        except OSError as error:
            self._error = f"{error.strerror or error}"
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.controller:
            return
        if self._error is None:
            terminalreporter.write_sep("-", f"convtest report: {self.path}")
        else:
            message = f"convtest report: could not write {self.path}: {self._error}"
            terminalreporter.write_sep("-", message, red=True)
