"""Dotted paths into JSON answers (``data.answer``, ``items.0.text``), as configured for a target."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["MISSING", "lookup", "shape"]

#: what :func:`lookup` returns when the path leads nowhere (``None`` is a value JSON can hold)
MISSING: Final[Any] = object()


def lookup(value: Any, path: str) -> Any:
    """The value at ``path``: keys of objects, numbers index lists; :data:`MISSING` if absent."""
    for segment in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(segment, MISSING)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def shape(value: Any) -> str:
    """What a JSON value is, for a message saying a path was not found in it."""
    if isinstance(value, Mapping):
        return f"an object with keys {', '.join(map(str, value)) or '(none)'}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__}"
