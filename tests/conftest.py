"""Shared fixtures: one reference agent per test session for the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from convtest.server import ReferenceServer


@pytest.fixture(scope="session")
def reference_server() -> Iterator[ReferenceServer]:
    with ReferenceServer(token="test-token") as server:
        yield server
