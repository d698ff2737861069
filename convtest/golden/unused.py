"""Goldens no conversation uses any more: its suite file, its conversation or its ``golden: true``
is gone. Judged from what collection saw of each suite file, before ``-k`` or ``-m`` deselect
anything, so a golden of a conversation that merely was not selected is still in use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from convtest.golden.paths import GOLDENS_DIR, SUITE_SUFFIXES, golden_slug

__all__ = ["SuiteGoldens", "UnusedGolden", "find_unused"]


@dataclass(slots=True)
class SuiteGoldens:
    """The golden file names one collected suite file accounts for."""

    #: every conversation's slug, golden or not
    conversations: set[str] = field(default_factory=set)
    #: the slugs of golden conversations: their goldens are in use
    golden: set[str] = field(default_factory=set)

    def add(self, name: str, *, golden: bool) -> None:
        slug = golden_slug(name)
        self.conversations.add(slug)
        if golden:
            self.golden.add(slug)


@dataclass(frozen=True, slots=True)
class UnusedGolden:
    path: Path
    #: relative to the rootdir, as the summary shows it
    shown: str
    reason: str


def find_unused(suites: Mapping[Path, SuiteGoldens], rootdir: Path) -> list[UnusedGolden]:
    """Unused goldens beside the collected suites, in path order.

    A suite file that exists but was not collected in this run (not among the arguments, skipped
    by ``--lf``, or not loadable as a whole) is not judged: nothing is known about it.
    """
    unused: list[UnusedGolden] = []
    for directory in sorted({suite.parent for suite in suites}):
        for folder in _golden_folders(directory / GOLDENS_DIR):
            candidates = [directory / f"{folder.name}{suffix}" for suffix in SUITE_SUFFIXES]
            owners = [suites[path] for path in candidates if path in suites]
            if any(path.is_file() and path not in suites for path in candidates):
                continue  # a file not collected in this run (``orders.yml``): its goldens may be here
            unused.extend(_unused_in(folder, _merged(owners), rootdir))
    return unused


def _merged(owners: list[SuiteGoldens]) -> SuiteGoldens | None:
    """``orders.yaml`` and ``orders.yml`` keep their goldens in one folder: both account for it."""
    if not owners:
        return None
    merged = SuiteGoldens()
    for suite in owners:
        merged.conversations |= suite.conversations
        merged.golden |= suite.golden
    return merged


def _golden_folders(root: Path) -> list[Path]:
    return sorted(path for path in root.iterdir() if path.is_dir()) if root.is_dir() else []


def _unused_in(folder: Path, suite: SuiteGoldens | None, rootdir: Path) -> Iterable[UnusedGolden]:
    for path in sorted(folder.glob("*.yaml")):
        reason = _reason(path.stem, suite)
        if reason is not None:
            yield UnusedGolden(path, _shown(path, rootdir), reason)


def _reason(slug: str, suite: SuiteGoldens | None) -> str | None:
    if suite is None:
        return "its suite file no longer exists"
    if slug in suite.golden:
        return None
    if slug in suite.conversations:
        return "the conversation is no longer `golden: true`"
    return "no conversation of its suite has this name any more"


def _shown(path: Path, rootdir: Path) -> str:
    try:
        return path.relative_to(rootdir).as_posix()
    except ValueError:
        return str(path)
