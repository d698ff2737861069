"""Which kinds of adapter are installed: the ``convtest.adapters`` entry points, robofy's included.

Names are listed without importing anything; a kind is loaded (its package imported) the first
time a target names it, and kept for the run. A package that cannot be loaded only matters to
the targets that name it, and the error says which entry point and distribution to fix.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from convtest.adapters.base import ENTRY_POINT_GROUP, AdapterKind
from convtest.adapters.options import COMMON_TARGET_KEYS
from convtest.exceptions import ConfigError

__all__ = ["AdapterRegistry", "adapter_kind", "installed_adapters"]


class AdapterRegistry:
    """The adapter kinds that some entry points offer, loaded on demand and cached."""

    def __init__(self, points: Iterable[EntryPoint]) -> None:
        self._points: dict[str, list[EntryPoint]] = {}
        seen: set[tuple[str, str]] = set()
        for point in points:
            # one distribution found twice on sys.path (an editable install, say) counts once
            key = (point.name, point.dist.name if point.dist is not None else point.value)
            if key not in seen:
                seen.add(key)
                self._points.setdefault(point.name, []).append(point)
        self._kinds: dict[str, AdapterKind] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._points)

    def get(self, name: str, where: str) -> AdapterKind:
        """The kind registered as ``name``; ``where`` prefixes every error (``target 'x'``)."""
        kind = self._kinds.get(name)
        if kind is None:
            kind = self._kinds[name] = self._load(name, where)
        return kind

    def find(self, name: str, where: str) -> AdapterKind | None:
        """Like :meth:`get`, but None for a name no distribution registers."""
        return self.get(name, where) if name in self._points else None

    def unknown(self, name: str, where: str) -> ConfigError:
        close = difflib.get_close_matches(name, self.names, n=1)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        known = ", ".join(self.names)
        return ConfigError(f"{where}: unknown adapter {name!r}; known adapters: {known}{hint}")

    def _load(self, name: str, where: str) -> AdapterKind:
        points = self._points.get(name)
        if not points:
            raise self.unknown(name, where)
        if len(points) > 1:
            both = " and ".join(_describe(point) for point in points)
            raise ConfigError(
                f"{where}: adapter {name!r} is registered twice, by {both}; uninstall one of them"
            )
        point = points[0]
        try:
            kind = point.load()
        except Exception as exc:  # whatever the plugin's import raises, it is the plugin's fault
            raise ConfigError(
                f"{where}: adapter {name!r} cannot be loaded from {_describe(point)}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        problem = _problem(kind, name)
        if problem:
            raise ConfigError(f"{where}: adapter {name!r} from {_describe(point)} {problem}")
        assert isinstance(kind, AdapterKind)
        return kind


def _problem(kind: object, name: str) -> str:
    if not isinstance(kind, AdapterKind):
        return f"is a {type(kind).__name__}, not a convtest.adapters.AdapterKind"
    if kind.name != name:
        return f"names itself {kind.name!r}: the entry point's name must be the adapter's name"
    common = sorted(COMMON_TARGET_KEYS & set(kind.options))
    if common:
        return f"declares options that every target has already: {', '.join(common)}"
    return ""


def _distribution(point: EntryPoint) -> str:
    dist = point.dist
    return "an unknown distribution" if dist is None else f"{dist.name} {dist.version}"


def _describe(point: EntryPoint) -> str:
    """``entry point 'echo = convtest_echo:ECHO' of convtest-echo 0.1.0``."""
    return f"entry point '{point.name} = {point.value}' of {_distribution(point)}"


@functools.cache
def installed_adapters() -> AdapterRegistry:
    """The adapters of this environment, read once per process (entry points do not change)."""
    return AdapterRegistry(entry_points(group=ENTRY_POINT_GROUP))


def adapter_kind(name: str, where: str) -> AdapterKind:
    """The installed kind ``name``, or a ConfigError prefixed with ``where``."""
    return installed_adapters().get(name, where)
