"""Shared fixtures: one reference agent per test session, and what in-process pytester runs need."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from convtest.server import ReferenceServer
from convtest.session import run_suite


@pytest.fixture(scope="session")
def reference_server() -> Iterator[ReferenceServer]:
    with ReferenceServer(token="test-token") as server:
        yield server


@pytest.fixture(scope="session")
def warm_imports(tmp_path_factory: pytest.TempPathFactory, reference_server: ReferenceServer) -> None:
    """Run one conversation in this process before any pytester run.

    In-process pytester runs restore ``sys.modules`` afterwards, so a module first imported inside
    one (httpcore's anyio backend, for one) is imported again by the next, and its exception
    classes stop matching the ones httpx cached: errors then escape unmapped. Importing them here
    first keeps one copy. The template imports Jinja2, whose environment convtest caches.
    """
    suite = tmp_path_factory.mktemp("warm") / "warm.yaml"
    suite.write_text("conversations:\n  - name: warm\n    turns: [{user: \"Hello {{ 'you' }}\"}]\n")
    assert run_suite(suite, rootdir=suite.parent).passed


@pytest.fixture
def quiet_inner_runs(pytester: pytest.Pytester) -> Iterator[None]:
    """Plugins installed on the machine but unused here (hypothesis, pytest-benchmark) cost
    seconds per inner run; blocking an absent plugin is harmless. Set after pytester's own
    set-up, which clears PYTEST_ADDOPTS."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -p no:benchmark")
        yield


@pytest.fixture
def bot_target(pytester: pytest.Pytester, reference_server: ReferenceServer) -> None:
    """A ``convtest.yaml`` with target ``bot``: the reference agent, its token read from
    ``$BOT_TOKEN`` (each test sets it: right, wrong or secret)."""
    pytester.path.joinpath("convtest.yaml").write_text(
        f"targets:\n  bot:\n    base_url: {reference_server.url}\n"
        "    token: ${BOT_TOKEN}\n    pid: p1\n    chatbot_id: c1\n",
        encoding="utf-8",
    )
