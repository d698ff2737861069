"""Which kinds of adapter are installed: the ``convtest.adapters`` entry points, robofy's included.

Names are listed without importing anything; a kind is loaded (its package imported) the first
time a target names it, and kept for the run. A package that cannot be loaded only matters to
the targets that name it, and the error says which entry point and distribution to fix.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from importlib.metadata import EntryPoint

from convtest.adapters.base import ENTRY_POINT_GROUP, AdapterKind
from convtest.adapters.options import COMMON_TARGET_KEYS
from convtest.entry_points import Plugins
from convtest.exceptions import ConfigError, PluginError

__all__ = ["AdapterRegistry", "adapter_kind", "installed_adapters"]


class AdapterRegistry:
    """The adapter kinds that some entry points offer, loaded on demand and cached."""

    def __init__(self, points: Iterable[EntryPoint] | None = None) -> None:
        self._plugins = Plugins(
            ENTRY_POINT_GROUP,
            AdapterKind,
            "adapter",
            kind_name="convtest.adapters.AdapterKind",
            problem=_problem,
            points=points,
        )

    @property
    def names(self) -> list[str]:
        return sorted(self._plugins.names())

    def get(self, name: str, where: str) -> AdapterKind:
        """The kind registered as ``name``; ``where`` prefixes every error (``target 'x'``)."""
        try:
            kind = self._plugins.get(name)
        except PluginError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if kind is None:
            raise self.unknown(name, where)
        return kind

    def find(self, name: str, where: str) -> AdapterKind | None:
        """Like :meth:`get`, but None for a name no distribution registers."""
        return self.get(name, where) if name in self._plugins else None

    def unknown(self, name: str, where: str) -> ConfigError:
        close = difflib.get_close_matches(name, self.names, n=1)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        known = ", ".join(self.names)
        return ConfigError(f"{where}: unknown adapter {name!r}; known adapters: {known}{hint}")


def _problem(kind: AdapterKind, name: str) -> str:
    if kind.name != name:
        return f"names itself {kind.name!r}: the entry point's name must be the adapter's name"
    common = sorted(COMMON_TARGET_KEYS & set(kind.options))
    if common:
        return f"declares options that every target has already: {', '.join(common)}"
    return ""


@functools.cache
def installed_adapters() -> AdapterRegistry:
    """The adapters of this environment, read once per process (entry points do not change)."""
    return AdapterRegistry()


def adapter_kind(name: str, where: str) -> AdapterKind:
    """The installed kind ``name``, or a ConfigError prefixed with ``where``."""
    return installed_adapters().get(name, where)
