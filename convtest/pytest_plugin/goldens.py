"""``--update-goldens`` / ``--remove-unused-goldens``: the pytest glue of golden transcripts.

Each conversation's golden is checked (and on update written) right after its run, by its item
(:mod:`convtest.pytest_plugin.collect`) in the process that ran it. Unused goldens are judged
from collection, which only workers do under pytest-xdist: they send their finding in
``workeroutput``. The controller (the process without ``workerinput``) counts outcomes from
``report.convtest["golden"]``, removes unused goldens when asked, and ends the run with a summary
and the command to run next.
"""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from convtest.golden.unused import SuiteGoldens, UnusedGolden

__all__ = ["GoldenPlugin", "add_golden_options", "register_goldens"]

_UPDATE: Final = "--update-goldens"
_REMOVE: Final = "--remove-unused-goldens"
#: ``workeroutput`` key: a worker's unused goldens as ``[path, shown, reason]`` lists
_WORKER_KEY: Final = "convtest_unused_goldens"
_FAILED_RUN: Final = "not written: conversation failed"
_WRITE_ERROR: Final = "not written: write error"
#: the order outcomes are counted in the summary line
_OUTCOMES: Final = ("written", "unchanged", "match", "mismatch", "missing", _FAILED_RUN, _WRITE_ERROR)


def add_golden_options(group: pytest.OptionGroup) -> None:
    group.addoption(
        _UPDATE,
        dest="update_goldens",
        action="store_true",
        help="write the golden transcript of every selected golden conversation that passed and "
        "whose golden is missing or no longer matches",
    )
    group.addoption(
        _REMOVE,
        dest="remove_unused_goldens",
        action="store_true",
        help="delete golden transcripts that no collected conversation uses any more",
    )


def register_goldens(config: pytest.Config) -> None:
    config.pluginmanager.register(GoldenPlugin(config), "convtest-goldens")


class GoldenPlugin:
    """Golden bookkeeping of one pytest process."""

    def __init__(self, config: pytest.Config) -> None:
        self.update = bool(config.getoption("update_goldens"))
        self.remove_unused = bool(config.getoption("remove_unused_goldens"))
        self.controller = not hasattr(config, "workerinput")
        self._config = config
        self._suites: dict[Path, SuiteGoldens] = {}
        self._unused: dict[Path, UnusedGolden] = {}
        self._removed: list[UnusedGolden] = []
        self._counts: Counter[str] = Counter()

    # --- unused goldens, from collection ----------------------------------------------------------

    # innermost wrapper: ``--lf`` narrows the same report in place in its own wrapper, after this one
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        """Every conversation of a suite file, seen as the file is collected: before ``-k``, ``-m``,
        node ids or ``--lf`` narrow the selection. A file that could not be loaded as a whole is
        not recorded, so its goldens are not judged."""
        report = yield
        collect = sys.modules.get("convtest.pytest_plugin.collect")  # not loaded: no suite file met so far
        if collect is not None and isinstance(collector, collect.SuiteFile) and report.passed:
            for node in report.result:
                self._record(node)
        return report

    def _record(self, node: pytest.Item | pytest.Collector) -> None:
        from convtest.golden.unused import SuiteGoldens
        from convtest.models import InvalidConversation
        from convtest.pytest_plugin.collect import ConversationItem, InvalidItem

        if isinstance(node, ConversationItem):
            suite = self._suites.setdefault(node.path, SuiteGoldens())
            suite.add(node.conversation.name, golden=node.conversation.golden is not None)
        elif isinstance(node, InvalidItem) and isinstance(node.entry, InvalidConversation):
            # it cannot say whether it is golden: its golden is taken to be in use
            self._suites.setdefault(node.path, SuiteGoldens()).add(node.entry.name, golden=True)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        unused: list[UnusedGolden] = []
        if self._suites:
            from convtest.golden.unused import find_unused

            unused = find_unused(self._suites, session.config.rootpath)
        if self.controller:
            self._unused.update((golden.path, golden) for golden in unused)
        else:
            workeroutput: dict[str, Any] = session.config.workeroutput  # type: ignore[attr-defined]
            workeroutput[_WORKER_KEY] = [[str(g.path), g.shown, g.reason] for g in unused]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """pytest-xdist: a worker finished; every worker collected all files, so any one will do."""
        found = getattr(node, "workeroutput", {}).get(_WORKER_KEY, [])
        if not found:
            return
        from convtest.golden.unused import UnusedGolden

        for path, shown, reason in found:
            self._unused.setdefault(Path(path), UnusedGolden(Path(path), shown, reason))

    # --- outcomes and the summary, on the controller ----------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "convtest", None)
        if self.controller and report.when == "call" and data and data.get("golden"):
            self._counts[self._outcome(data)] += 1

    def _outcome(self, data: Mapping[str, Any]) -> str:
        status: str = data["golden"]["status"]
        if not self.update or status in ("written", "unchanged"):
            return status
        turns = data["turns"]
        turns_passed = len(turns) == data["turn_count"] and all(turn["passed"] for turn in turns)
        return _WRITE_ERROR if turns_passed else _FAILED_RUN

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Unused goldens go only on request, after a run that was not interrupted (collection is
        all it takes, so ``--collect-only`` removes them too)."""
        if not (self.controller and self.remove_unused) or exitstatus == pytest.ExitCode.INTERRUPTED:
            return
        from convtest.golden.store import remove_golden

        for golden in sorted(self._unused.values(), key=lambda golden: golden.shown):
            remove_golden(golden.path)
            self._removed.append(golden)
        self._unused.clear()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.controller or not (self._counts or self._unused or self._removed):
            return
        terminalreporter.write_sep("-", "convtest goldens")
        for line in self._summary_lines():
            terminalreporter.write_line(line)

    def _summary_lines(self) -> list[str]:
        unused = sorted(self._unused.values(), key=lambda golden: golden.shown)
        lines = [f"unused golden {golden.shown}: {golden.reason}" for golden in unused]
        lines.extend(f"removed unused golden {golden.shown}: {golden.reason}" for golden in self._removed)
        parts = [f"{self._counts[outcome]} {outcome}" for outcome in _OUTCOMES if self._counts[outcome]]
        if unused:
            parts.append(f"{len(unused)} unused (run with {_REMOVE} to delete)")
        if self._removed:
            parts.append(f"{len(self._removed)} unused removed")
        lines.append(f"convtest goldens: {', '.join(parts)}")
        if not self.update and (self._counts["mismatch"] or self._counts["missing"]):
            lines.append(f"{self._next_step()}: {self._command(_UPDATE)}")
        if unused:
            lines.append(f"delete the unused goldens: {self._command(_REMOVE)}")
        return lines

    def _next_step(self) -> str:
        if not self._counts["mismatch"]:
            return "record the missing goldens"
        accept = "review the differences above, then accept them"
        return f"{accept} and record the missing goldens" if self._counts["missing"] else accept

    def _command(self, flag: str) -> str:
        """This run's own command line with ``flag`` added: the exact command to run next."""
        args = [arg for arg in self._config.invocation_params.args if arg != flag]
        return shlex.join(["pytest", *args, flag])
