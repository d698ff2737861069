"""Fixtures for the report tests; the data builders live in ``report_samples``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from report_samples import sample_entries

from convtest.report.entry import Entry
from convtest.report.html import RunInfo


@pytest.fixture
def entries() -> list[Entry]:
    return sample_entries()


@pytest.fixture
def run_info() -> RunInfo:
    return RunInfo(started=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), duration_s=3.5)
