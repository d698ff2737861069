"""Is this file a suite? Asked by the pytest plugin of every YAML file pytest meets, so it needs
nothing but the standard library: the suite loader and its imports come only with a suite."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

__all__ = ["is_suite_file"]

_SUITE_KEY_LINE: Final = re.compile(
    r"""^(?:suite|conversations|"(?:suite|conversations)"|'(?:suite|conversations)')[ \t]*:(?:[ \t\r]|$)""",
    re.MULTILINE,
)
_NOT_SUITE_FILES: Final = frozenset({"convtest.yaml", "convtest.yml"})


def is_suite_file(path: Path) -> bool:
    """Cheap sniff for the collector: a YAML file with a top-level ``suite:`` or ``conversations:``.

    A line scan, no YAML parse, so goldens, ``convtest.yaml`` and CI configs cost one read.
    """
    if path.suffix.lower() not in (".yaml", ".yml") or path.name.lower() in _NOT_SUITE_FILES:
        return False
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return _SUITE_KEY_LINE.search(text) is not None
