"""``--convtest-conversation NAME``: run only the conversations named exactly NAME.

A node id cannot name every conversation: pytest cuts it at each ``::``, reads a ``[`` as the start
of a parametrization, and lets ``orders.yaml::refund`` select ``refund [v2]`` too. The command that
accepts one conversation's golden (:func:`convtest.golden.text.update_command`) selects with this
option instead, so it runs that conversation and no other.
"""

from __future__ import annotations

from typing import Final

import pytest

__all__ = ["SelectPlugin", "add_select_option", "register_select"]

_DEST: Final = "convtest_conversations"


def add_select_option(group: pytest.OptionGroup) -> None:
    group.addoption(
        "--convtest-conversation",
        dest=_DEST,
        action="append",
        metavar="NAME",
        default=None,
        help="run only the conversations with exactly this name (repeat it for several); "
        "everything else collected is deselected",
    )


def register_select(config: pytest.Config) -> None:
    names = config.getoption(_DEST)
    if names:
        config.pluginmanager.register(SelectPlugin(frozenset(names)), "convtest-select")


class SelectPlugin:
    """Deselects every item but the conversations of the given names."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        from convtest.pytest_plugin.collect import ConversationItem, InvalidItem

        def chosen(item: pytest.Item) -> bool:
            return isinstance(item, ConversationItem | InvalidItem) and item.name in self.names

        deselected = [item for item in items if not chosen(item)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if chosen(item)]
