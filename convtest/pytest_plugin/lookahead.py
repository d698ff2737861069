"""Concurrency under pytest: start the conversations pytest will run next, so up to N are in
flight while pytest still runs, reports and stops (``-x``) item by item, in collection order.

The only pytest-xdist knowledge here is how to see a worker's own queue, so a worker starts
only conversations it was given; without it, a worker still runs its items one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import pytest

from convtest.models import Conversation
from convtest.runner import ConversationResult
from convtest.session import RunSession

__all__ = ["Lookahead"]

_UNKNOWN = object()


class Lookahead:
    """Keeps the next ``2 * concurrency`` conversations submitted; the session's own bound keeps
    ``concurrency`` of them running and the rest queued. They move on while pytest waits for
    an item's result, so at concurrency N pytest's reporting of one item overlaps nothing but
    network time of the others."""

    def __init__(self, session: RunSession) -> None:
        self._session = session
        self._window = 2 * session.concurrency
        self._futures: dict[str, asyncio.Future[ConversationResult]] = {}
        self._positions: dict[str, int] | None = None
        self._worker: Any = _UNKNOWN

    def result(self, item: pytest.Item, conversation: Conversation) -> ConversationResult:
        future = self._futures.pop(item.nodeid, None) or self._session.submit(conversation)
        for nodeid, upcoming in islice(self._upcoming(item), self._window):
            if nodeid not in self._futures:
                self._futures[nodeid] = self._session.submit(upcoming)
        return self._session.result(future)

    def close(self) -> None:
        """Forget the conversations started for items that will not run (``-x``, Ctrl-C): the
        session cancels those still running; an error already held is marked as seen."""
        for future in self._futures.values():
            if future.done() and not future.cancelled():
                future.exception()
        self._futures.clear()

    def _upcoming(self, item: pytest.Item) -> Iterator[tuple[str, Conversation]]:
        """The items this process will run after ``item``, that will really run a conversation."""
        items = item.session.items
        if self._worker is _UNKNOWN:
            self._worker = _xdist_worker(item.config)
        later: Iterable[pytest.Item]
        if self._worker is None:
            if self._positions is None:
                self._positions = {node.nodeid: index for index, node in enumerate(items)}
            later = islice(items, self._positions[item.nodeid] + 1, None)
        else:
            later = [items[index] for index in _worker_queue(self._worker)]
        for node in later:
            conversation = getattr(node, "conversation", None)
            if isinstance(conversation, Conversation) and _will_run(node):
                yield node.nodeid, conversation


def _will_run(item: pytest.Item) -> bool:
    return item.get_closest_marker("skip") is None and item.get_closest_marker("skipif") is None


def _xdist_worker(config: pytest.Config) -> Any:
    if not hasattr(config, "workerinput"):
        return None
    for plugin in config.pluginmanager.get_plugins():
        if hasattr(plugin, "torun") and hasattr(plugin, "nextitem_index"):
            return plugin
    return None


def _worker_queue(worker: Any) -> list[int]:
    """The indices this worker was sent and has not started: its next item, then its queue."""
    try:
        with worker.torun.lock() as queue:
            pending = list(queue)
        nxt = worker.nextitem_index
    except Exception:  # an xdist whose internals moved: fall back to one at a time
        return []
    return [index for index in (nxt, *pending) if isinstance(index, int)]
