"""Keeping secrets out of everything convtest writes: failure text, reports, goldens, logs.

A secret is a value convtest was given to keep: a target's token, a value filled in from a
``${VAR}`` of convtest.yaml, a handshake's client token, an ``env`` value a template read (and
what a template printed from one). One rule decides what counts: a value shorter than
:data:`MIN_SECRET` characters is not one (it would blank out ordinary words), and one function,
:func:`redact`, replaces every other with ``***``.

Redaction happens on whole texts, before any text is cut for display: a cut of a redacted text
can show no part of a secret. A text that arrived cut (a stream that broke off mid-token) is
caught at its edges: a start that is a secret's end, or an end that is a secret's start, of at
least :data:`MIN_FRAGMENT` characters, is redacted too.

While a conversation runs, its secrets are also kept in a context variable (:func:`keeping`):
code that cuts bot text for a message on the way (previews, excerpts, log records) calls
:func:`hide` and redacts first, without every caller passing the secrets along.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

__all__ = [
    "MASK",
    "MIN_FRAGMENT",
    "MIN_SECRET",
    "SecretSet",
    "current",
    "hide",
    "keeping",
    "note",
    "redact",
    "redact_value",
    "running",
    "widen",
]

#: shorter values would blank out ordinary words; tokens and keys are longer
MIN_SECRET: Final = 4
#: the shortest piece of a secret redacted at the edge of a text that arrived cut
MIN_FRAGMENT: Final = 8
#: what a secret is replaced with
MASK: Final = "***"


class SecretSet:
    """The secret values of one conversation; it grows as the conversation runs."""

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: dict[str, None] = {}
        self.add(*values)

    def add(self, *values: str) -> None:
        """Keep ``values``; those too short to be secrets (see :data:`MIN_SECRET`) are ignored."""
        for value in values:
            if isinstance(value, str) and len(value) >= MIN_SECRET:
                self._values.setdefault(value)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(self._values)


_CURRENT: ContextVar[SecretSet | None] = ContextVar("convtest_secrets", default=None)


@contextmanager
def keeping(values: Iterable[str] = ()) -> Iterator[SecretSet]:
    """Within the block (one conversation's run), :func:`note` adds to, and :func:`hide` and
    :func:`current` read, a new set that starts with ``values``."""
    found = SecretSet(values)
    token = _CURRENT.set(found)
    try:
        yield found
    finally:
        _CURRENT.reset(token)


def note(*values: str) -> None:
    """A secret met while a conversation runs (an ``env`` read, a client token); outside a
    conversation there is nothing to add it to."""
    found = _CURRENT.get()
    if found is not None:
        found.add(*values)


def running() -> bool:
    """Inside a conversation's run (a :func:`keeping` block)?"""
    return _CURRENT.get() is not None


def current() -> tuple[str, ...]:
    """The secrets of the conversation being run; none outside one."""
    found = _CURRENT.get()
    return () if found is None else found.values


def hide(text: str) -> str:
    """:func:`redact` with the secrets of the conversation being run: call it before cutting."""
    found = _CURRENT.get()
    return text if found is None else redact(text, found.values)


def _ordered(secrets: Iterable[str]) -> list[str]:
    """Longest first: a secret that contains another is replaced whole."""
    return sorted({s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in ``text`` with ``***``, and a piece of one at either edge."""
    ordered = _ordered(secrets)
    return _redact(text, ordered) if ordered else text


def redact_value(value: Any, secrets: Iterable[str]) -> Any:
    """:func:`redact` applied to every string inside nested dicts and lists (keys too)."""
    ordered = _ordered(secrets)
    if not ordered:
        return value
    return _walk(value, ordered)


def widen(text: str, low: int, high: int, secrets: Iterable[str]) -> tuple[int, int]:
    """``low:high`` widened so that it cuts no secret of ``text`` in two: a window of a long
    text then holds each secret whole (for :func:`redact` to replace) or not at all."""
    for secret in _ordered(secrets):
        start = text.find(secret, max(0, low - len(secret) + 1))
        while 0 <= start < high:
            end = start + len(secret)
            if start < low < end:
                low = start
            if start < high < end:
                high = end
            start = text.find(secret, start + 1)
    return low, high


def _walk(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return _redact(value, secrets)
    if isinstance(value, dict):
        return {_walk(key, secrets): _walk(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, secrets) for item in value]
    return value


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return _redact_edges(text, secrets)


def _redact_edges(text: str, secrets: list[str]) -> str:
    """A text that ends with a secret's first characters, or starts with its last ones."""
    for secret in secrets:
        if len(secret) <= MIN_FRAGMENT:
            continue  # whole occurrences are gone; a shorter piece is below the fragment rule
        cut = _tail_piece(text, secret)
        if cut:
            text = text[: len(text) - cut] + MASK
        cut = _head_piece(text, secret)
        if cut:
            text = MASK + text[cut:]
    return text


def _tail_piece(text: str, secret: str) -> int:
    """Length of the longest start of ``secret`` (MIN_FRAGMENT or more) that ends ``text``."""
    tail = text[-(len(secret) - 1) :]
    start = tail.find(secret[:MIN_FRAGMENT])
    while start >= 0:
        if secret.startswith(tail[start:]):
            return len(tail) - start
        start = tail.find(secret[:MIN_FRAGMENT], start + 1)
    return 0


def _head_piece(text: str, secret: str) -> int:
    """Length of the longest end of ``secret`` (MIN_FRAGMENT or more) that starts ``text``."""
    head = text[: len(secret) - 1]
    end = head.rfind(secret[-MIN_FRAGMENT:])
    while end >= 0:
        if secret.endswith(head[: end + MIN_FRAGMENT]):
            return end + MIN_FRAGMENT
        end = head.rfind(secret[-MIN_FRAGMENT:], 0, end + MIN_FRAGMENT - 1)
    return 0
