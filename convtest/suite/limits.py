"""What one suite file may make convtest do: its size, its nesting, what its aliases expand to,
and how long one of its regexes may take on a reply. Each has a default, a key under
``suite_limits`` in convtest.yaml, and a message naming that key when it is exceeded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_LIMITS", "SUITE_LIMIT_KEYS", "SuiteLimits"]


@dataclass(frozen=True, slots=True)
class SuiteLimits:
    #: the suite file's size in bytes
    max_bytes: int = 64 * 1024 * 1024
    #: mappings and lists nested in one another (deeper YAML is refused, never a RecursionError)
    max_depth: int = 100
    #: the values that aliases (``*name``, ``<<: *name``) add when expanded: a "billion laughs"
    #: file is refused at its first line past this, not expanded
    max_alias_values: int = 1_000_000
    #: one regex of a check or save rule against one reply (bot text can make a regex backtrack)
    regex_seconds: float = 1.0


DEFAULT_LIMITS: Final = SuiteLimits()
SUITE_LIMIT_KEYS: Final = frozenset(SuiteLimits.__dataclass_fields__)
