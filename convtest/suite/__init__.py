"""Suite files: YAML with line numbers (``tree``), read with every mistake collected (``reader``),
then parsed into :mod:`convtest.models` (``loader``, with ``expect``, ``save``, ``golden``,
``names``); each ``expect`` key is parsed by its check kind (:mod:`convtest.checks`).

``load_suite`` and ``load_suite_text`` load on first use: the check kinds import this package's
reader, and the pytest plugin imports this package before any suite exists.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from convtest.sniff import is_suite_file
    from convtest.suite.loader import load_suite, load_suite_text

__all__ = ["is_suite_file", "load_suite", "load_suite_text"]

_LAZY = {
    "load_suite": "convtest.suite.loader",
    "load_suite_text": "convtest.suite.loader",
    "is_suite_file": "convtest.sniff",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
