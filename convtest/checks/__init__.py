"""Checks: one :class:`CheckKind` per ``expect`` key, one :class:`TextOperator` per text-check key.

The public API for writing your own (see docs/writing-checks.md): register a ``CheckKind`` in the
``convtest.checks`` entry-point group, or a ``TextOperator`` in ``convtest.text_checks``; or
point ``expect: {python: "module:function"}`` at a plain function. convtest's own checks
register the same way, one family per module: ``text`` (with ``text_ops``), ``tools``,
``parts``, ``finish``, ``python``.
"""

from __future__ import annotations

from convtest.checks.base import Check, CheckContext, CheckKind, Exchange, Failure, Scope
from convtest.checks.evaluate import check_conversation, check_turn
from convtest.checks.python import Verdict
from convtest.checks.text_model import Miss, TextCheck, TextOperator, TextSubject

__all__ = [
    "Check",
    "CheckContext",
    "CheckKind",
    "Exchange",
    "Failure",
    "Miss",
    "Scope",
    "TextCheck",
    "TextOperator",
    "TextSubject",
    "Verdict",
    "check_conversation",
    "check_turn",
]
