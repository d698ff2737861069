"""Target adapters: one module per kind of chatbot API, all behind :class:`Adapter`.

The adapters themselves (and httpx with them) load on first use, so a pytest run without
suites, where the plugin is loaded all the same, does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from convtest.adapters.base import Adapter, TurnRequest

if TYPE_CHECKING:
    from convtest.adapters.registry import ADAPTERS, create_adapter
    from convtest.adapters.robofy import RobofyAdapter

__all__ = ["ADAPTERS", "Adapter", "RobofyAdapter", "TurnRequest", "create_adapter"]

_LAZY = {
    "ADAPTERS": "convtest.adapters.registry",
    "create_adapter": "convtest.adapters.registry",
    "RobofyAdapter": "convtest.adapters.robofy",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
