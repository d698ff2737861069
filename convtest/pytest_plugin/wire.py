"""What a worker sends to the pytest-xdist controller: strings that UTF-8 can encode.

execnet encodes every string as UTF-8, and a lone surrogate a bot sent (JSON's ``"\\ud800"``)
cannot be: the worker would stop with an internal error. Such a character travels as its
``\\ud800`` escape instead; everything else is passed on as it is.
"""

from __future__ import annotations

from typing import Any

__all__ = ["utf8_safe"]


def utf8_safe(value: Any) -> Any:
    """``value`` with each string UTF-8 cannot encode replaced by its escaped form."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {utf8_safe(key): utf8_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(utf8_safe(item) for item in value)
    return value
