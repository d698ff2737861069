"""Plugins that register themselves: named objects in an entry-point group, loaded when used.

convtest's own check kinds and adapters register in the same groups as a third-party package's,
so the core is its own first user. Names are listed without importing anything; an object is
imported the first time its name is asked for, so a broken plugin only affects what uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from convtest.exceptions import PluginError

__all__ = ["Plugins"]

T = TypeVar("T")


class Plugins(Generic[T]):
    """The objects of one entry-point group, each of type ``kind``, by entry-point name."""

    def __init__(self, group: str, kind: type[T], noun: str) -> None:
        self.group = group
        self._kind = kind
        #: what the objects are called in messages: "check", "adapter"
        self._noun = noun
        self._points: dict[str, EntryPoint] = {}
        self._clashes: dict[str, list[EntryPoint]] = {}
        self._loaded: dict[str, T] = {}
        for point in entry_points(group=group):
            first = self._points.setdefault(point.name, point)
            if first is not point and _origin(first) != _origin(point):
                self._clashes.setdefault(point.name, [first]).append(point)
        self._names = frozenset(self._points)

    def names(self) -> frozenset[str]:
        return self._names

    def __contains__(self, name: object) -> bool:
        return name in self._points

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._points))

    def get(self, name: str) -> T | None:
        """The object registered as ``name``, imported now if need be; None if none is."""
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded
        point = self._points.get(name)
        if point is None:
            return None
        if name in self._clashes:
            origins = " and ".join(_origin(clash) for clash in self._clashes[name])
            raise PluginError(f"{self._noun} `{name}` is registered twice ({origins}); uninstall one")
        try:
            obj = point.load()
        except Exception as exc:  # the plugin's own import failed: say which and why
            raise PluginError(
                f"{self._noun} `{name}` cannot be loaded from {_origin(point)}: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(obj, self._kind):
            raise PluginError(
                f"{self._noun} `{name}` from {_origin(point)} is a {type(obj).__name__}, "
                f"not a {self._kind.__name__}"
            )
        self._loaded[name] = obj
        return obj


def _origin(point: EntryPoint) -> str:
    """``entry point polite = mypkg.checks:POLITE of mypkg 1.0``"""
    dist = point.dist
    where = f" of {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point `{point.name} = {point.value}` in group {point.group}{where}"
