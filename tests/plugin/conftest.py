"""Every test here runs pytest in-process on generated suites."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _pytester_runs(warm_imports: None, quiet_inner_runs: None) -> None:
    """See ``warm_imports`` and ``quiet_inner_runs`` in tests/conftest.py."""
