"""Regexes of checks and save rules, run against bot text with a time limit.

Python's ``re`` backtracks without bound, and it is the bot that writes the text: ``(a+)+$``
against forty ``a`` and a ``!`` runs for hours, past every turn deadline, holding the GIL. The
same pattern is run here with the ``regex`` package, whose matcher stops at a timeout. Patterns
are still compiled with ``re`` at load time, so every message about an invalid one stays the
one Python gives.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Final, TypeAlias

if TYPE_CHECKING:
    import regex

    #: what a search returns: an ``re`` match or a ``regex`` one, which read the same
    Match: TypeAlias = re.Match[str] | regex.Match[str]

__all__ = ["RegexTimeout", "search"]

#: re's flags as the regex package numbers them (re.ASCII is 256 there, 128 here)
_FLAGS: Final = (
    (re.IGNORECASE, 2),
    (re.MULTILINE, 8),
    (re.DOTALL, 16),
    (re.VERBOSE, 64),
    (re.ASCII, 128),
)


class RegexTimeout(Exception):
    """A regex ran past its time limit on a reply: a verdict, never a hang."""

    def __init__(self, pattern: re.Pattern[str], seconds: float, length: int) -> None:
        self.seconds = seconds
        super().__init__(
            f"regex /{pattern.pattern}/ took longer than {seconds:g} s on the "
            f"{length:,}-character text (suite_limits.regex_seconds in convtest.yaml)"
        )


def search(pattern: re.Pattern[str], text: str, seconds: float) -> Match | None:
    """``pattern.search(text)``, stopped after ``seconds`` with :class:`RegexTimeout`."""
    timed = _timed(pattern.pattern, pattern.flags)
    if timed is None:  # a pattern only re understands: it runs as before, without a limit
        return pattern.search(text)
    try:
        return timed.search(text, timeout=seconds)
    except TimeoutError:
        raise RegexTimeout(pattern, seconds, len(text)) from None


@functools.lru_cache(maxsize=1024)
def _timed(source: str, flags: int) -> regex.Pattern[str] | None:
    import regex  # ~10 ms: paid by suites that use a regex, when the first one runs

    timed_flags = 0
    for re_flag, regex_flag in _FLAGS:
        if flags & re_flag:
            timed_flags |= regex_flag
    try:
        return regex.compile(source, timed_flags)
    except regex.error:
        return None
