"""Every test here runs pytest in-process on generated suites."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _pytester_runs(warm_imports: None, quiet_inner_runs: None) -> None:
    """See ``warm_imports`` and ``quiet_inner_runs`` in tests/conftest.py."""


@pytest.fixture(autouse=True)
def _inner_runs_not_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest prints every failure's whole message a second time in its short summary when it
    sees ``CI`` (or ``BUILD_NUMBER``) set; the inner runs here assert on their output line by line,
    so they run as on a developer's machine whatever the outer run's environment."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
