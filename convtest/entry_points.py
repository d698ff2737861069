"""Plugins that register themselves: named objects in an entry-point group, loaded when used.

convtest's own check kinds and adapters register in the same groups as a third-party package's,
so the core is its own first user. Names are listed without importing anything; an object is
imported the first time its name is asked for, so a broken plugin only matters to what uses it,
and the error names the entry point and the distribution to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from convtest.exceptions import PluginError

__all__ = ["Plugins", "describe_entry_point"]

T = TypeVar("T")


class Plugins(Generic[T]):
    """The objects of one entry-point group, each an instance of ``kind``, by entry-point name.

    ``problem(obj, name)`` may refuse a loaded object by saying what is wrong with it ("" if
    nothing is); ``points`` replaces the installed entry points (tests).
    """

    def __init__(
        self,
        group: str,
        kind: type[T],
        noun: str,
        *,
        kind_name: str,
        problem: Callable[[T, str], str] | None = None,
        points: Iterable[EntryPoint] | None = None,
    ) -> None:
        #: what the objects are called in messages: "check", "adapter"
        self._noun = noun
        self._kind = kind
        self._kind_name = kind_name
        self._problem = problem
        self._points: dict[str, list[EntryPoint]] = {}
        seen: set[tuple[str, str]] = set()
        for point in entry_points(group=group) if points is None else points:
            # one distribution found twice on sys.path (an editable install, say) counts once
            key = (point.name, point.dist.name if point.dist is not None else point.value)
            if key not in seen:
                seen.add(key)
                self._points.setdefault(point.name, []).append(point)
        self._names = frozenset(self._points)
        self._loaded: dict[str, T] = {}

    def names(self) -> frozenset[str]:
        return self._names

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names))

    def get(self, name: str) -> T | None:
        """The object registered as ``name``, imported now if need be; None if none is.

        Raises :class:`PluginError` when two distributions register the name, when the import
        fails, or when the object is not a fitting one."""
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded
        points = self._points.get(name)
        if not points:
            return None
        what = f"{self._noun} {name!r}"
        if len(points) > 1:
            both = " and ".join(describe_entry_point(point) for point in points)
            raise PluginError(f"{what} is registered twice, by {both}; uninstall one of them")
        point = points[0]
        try:
            obj: object = point.load()
        except Exception as exc:  # whatever the plugin's import raises, it is the plugin's fault
            raise PluginError(
                f"{what} cannot be loaded from {describe_entry_point(point)}: {type(exc).__name__}: {exc}"
            ) from None
        origin = describe_entry_point(point)
        if not isinstance(obj, self._kind):
            raise PluginError(f"{what} from {origin} is a {type(obj).__name__}, not a {self._kind_name}")
        problem = self._problem(obj, name) if self._problem is not None else ""
        if problem:
            raise PluginError(f"{what} from {origin} {problem}")
        self._loaded[name] = obj
        return obj


def describe_entry_point(point: EntryPoint) -> str:
    """``entry point 'echo = convtest_echo:ECHO' of convtest-echo 0.1.0``."""
    dist = point.dist
    origin = "an unknown distribution" if dist is None else f"{dist.name} {dist.version}"
    return f"entry point '{point.name} = {point.value}' of {origin}"
