"""Target adapters: one module per kind of chatbot API, all behind :class:`Adapter`.

The public adapter API (docs/writing-adapters.md): :class:`Adapter`, :class:`TurnRequest`,
:class:`Exchange`, :class:`AdapterKind` (what a package registers under the entry-point group
``convtest.adapters``) and :class:`TargetOptions` (what its ``configure`` hook reads).

The adapters themselves (and httpx with them) load on first use, so a pytest run without
suites, where the plugin is loaded all the same, does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from convtest.adapters.base import ENTRY_POINT_GROUP, Adapter, AdapterKind, Exchange, TurnRequest
from convtest.adapters.options import TargetOptions

if TYPE_CHECKING:
    from convtest.adapters.discovery import installed_adapters
    from convtest.adapters.registry import create_adapter
    from convtest.adapters.robofy import RobofyAdapter

__all__ = [
    "ENTRY_POINT_GROUP",
    "Adapter",
    "AdapterKind",
    "Exchange",
    "RobofyAdapter",
    "TargetOptions",
    "TurnRequest",
    "create_adapter",
    "installed_adapters",
]

_LAZY = {
    "create_adapter": "convtest.adapters.registry",
    "installed_adapters": "convtest.adapters.discovery",
    "RobofyAdapter": "convtest.adapters.robofy",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
