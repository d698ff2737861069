"""Make in-process pytester runs fast and faithful."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from convtest.server import ReferenceServer
from convtest.session import run_suite


@pytest.fixture(scope="session", autouse=True)
def _warm_lazy_imports(tmp_path_factory: pytest.TempPathFactory, reference_server: ReferenceServer) -> None:
    """Run one conversation in this process before any pytester run.

    In-process pytester runs restore ``sys.modules`` afterwards, so a module first imported inside
    one (httpcore's anyio backend, for one) is imported again by the next, and its exception
    classes stop matching the ones httpx cached: errors then escape unmapped. Importing them here
    first keeps one copy.
    """
    suite = tmp_path_factory.mktemp("warm") / "warm.yaml"
    suite.write_text("conversations:\n  - name: warm\n    turns: [{user: Hello}]\n")
    assert run_suite(suite, rootdir=suite.parent).passed


@pytest.fixture(autouse=True)
def _inner_runs_skip_unrelated_plugins(pytester: pytest.Pytester) -> Iterator[None]:
    """Plugins installed on the machine but unused here (hypothesis, pytest-benchmark) cost
    seconds per inner run; blocking an absent plugin is harmless. Set after pytester's own
    set-up, which clears PYTEST_ADDOPTS."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -p no:benchmark")
        yield
