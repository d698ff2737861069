"""Bot and tool text made safe to print: control characters shown, never obeyed.

A bot's reply can hold ESC sequences that retitle the terminal, move the cursor or rewrite the
PASSED line above, a carriage return that overwrites a line, a bell. Everything convtest prints
that came from a bot or a tool goes through :func:`printable`, which shows each such character
as a visible escape (``\\x1b``, ``\\r``, ``\\x9b``) and leaves the rest alone.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["printable"]

#: C0 controls, DEL and C1 controls; tab and newline only when they are not part of the layout
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_KEEP_LINES: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAMED: Final = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def printable(text: str, *, lines: bool = False) -> str:
    """``text`` with every control character but tab shown as an escape; with ``lines`` its
    newlines stay (the text is convtest's own layout of lines)."""
    pattern = _CONTROL_KEEP_LINES if lines else _CONTROL
    return pattern.sub(_escape, text)
