"""Keeping secrets out of everything convtest writes: failure text, reports, goldens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["redact", "redact_value"]

#: shorter values would blank out ordinary words; tokens and keys are longer
_MIN_SECRET = 4


def _ordered(secrets: Iterable[str]) -> list[str]:
    return sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value (token, env values read by templates) with ``***``."""
    for secret in _ordered(secrets):
        text = text.replace(secret, "***")
    return text


def redact_value(value: Any, secrets: Iterable[str]) -> Any:
    """:func:`redact` applied to every string inside nested dicts and lists."""
    ordered = _ordered(secrets)
    if not ordered:
        return value
    return _walk(value, ordered)


def _walk(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {_walk(key, secrets): _walk(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, secrets) for item in value]
    return value
