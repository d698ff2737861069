"""What one pytest process holds for convtest, in a module of its own: the nodes
(:mod:`convtest.pytest_plugin.collect`) reach it without importing the hooks that create them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from convtest.config import Config
    from convtest.pytest_plugin.lookahead import Lookahead
    from convtest.session import RunSession
    from convtest.suite.limits import SuiteLimits

__all__ = ["PluginState", "close_state", "start_state", "state_of"]


class PluginState:
    """Per-process state: the config and the run session, both created on first use so a
    pytest run without suites pays nothing."""

    def __init__(self, config: pytest.Config) -> None:
        self._pytest_config = config
        self._config: Config | None = None
        self._session: RunSession | None = None
        self._lookahead: Lookahead | None = None
        self._tags: set[str] = set()
        #: ``--update-goldens``: each conversation's golden is written where it ran
        self.update_goldens = bool(config.getoption("update_goldens"))

    @property
    def config(self) -> Config:
        if self._config is None:
            from convtest.config import load_config

            self._config = load_config(self._pytest_config.rootpath)
        return self._config

    @property
    def suite_limits(self) -> SuiteLimits:
        """``suite_limits`` of convtest.yaml; the defaults when the file cannot be read at all
        (that error is every conversation's verdict, where it is shown once per item)."""
        from convtest.exceptions import ConfigError
        from convtest.suite.limits import DEFAULT_LIMITS

        try:
            return self.config.suite_limits
        except ConfigError:
            return DEFAULT_LIMITS

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
            from convtest.pytest_plugin.lookahead import Lookahead

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


def start_state(config: pytest.Config) -> PluginState:
    """Create this process's state (``pytest_configure``)."""
    state = config.stash[_STATE] = PluginState(config)
    return state


def state_of(config: pytest.Config) -> PluginState:
    return config.stash[_STATE]


def close_state(config: pytest.Config) -> None:
    """Close what the state opened, if it was ever created (``pytest_unconfigure``)."""
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()
