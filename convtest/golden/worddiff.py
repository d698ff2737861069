"""Word-level differences between two texts, and how alike they are.

A reply that moved is read word by word, as ``git diff --word-diff`` shows prose: the text is cut
into words, runs of white space and single punctuation marks, and difflib lines those tokens up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Final

from convtest.golden.result import WordOp

__all__ = ["mark_words", "normalize_space", "similarity", "word_diff"]

_TOKEN: Final = re.compile(r"\s+|\w+|[^\w\s]")
#: characters of unchanged text kept on each side of a change in terminal output
_CONTEXT: Final = 40


def normalize_space(text: str) -> str:
    """Runs of white space as one space, none at the ends: what ``text: normalized`` compares."""
    return " ".join(text.split())


def word_diff(old: str, new: str) -> tuple[WordOp, ...]:
    """``(op, text)`` pieces, op being ``equal``, ``delete`` or ``insert``; adjacent pieces merged."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    ops: list[WordOp] = []
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        if tag == "equal":
            _append(ops, "equal", a[i1:i2])
            continue
        _append(ops, "delete", a[i1:i2])
        _append(ops, "insert", b[j1:j2])
    return tuple(ops)


def _opcodes(a: Sequence[str], b: Sequence[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes, with white space between two changes taken into one change:
    ``[-1234 and-]{+4321 or+}`` reads better than ``[-1234-]{+4321+} [-and-]{+or+}``."""
    codes = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    merged: list[tuple[str, int, int, int, int]] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(codes):
        # difflib alternates equal and unequal opcodes, so an inner equal one sits between changes
        absorbed = tag == "equal" and 0 < index < len(codes) - 1 and not "".join(a[i1:i2]).strip()
        if (tag != "equal" or absorbed) and merged and merged[-1][0] != "equal":
            _, p1, _, q1, _ = merged[-1]
            merged[-1] = ("replace", p1, i2, q1, j2)
        else:
            merged.append(("replace" if absorbed else tag, i1, i2, j1, j2))
    return merged


def _append(ops: list[WordOp], op: str, tokens: Sequence[str]) -> None:
    text = "".join(tokens)
    if not text:
        return
    if ops and ops[-1][0] == op:
        ops[-1] = (op, ops[-1][1] + text)
    else:
        ops.append((op, text))


def similarity(old: str, new: str) -> float:
    """How alike two texts are, 0 to 1: difflib's ratio over their words and punctuation."""
    a = [token for token in _TOKEN.findall(old) if not token.isspace()]
    b = [token for token in _TOKEN.findall(new) if not token.isspace()]
    if not a and not b:
        return 1.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def mark_words(diff: Sequence[WordOp]) -> str:
    """The diff as one text: removed ``[-words-]``, added ``{+words+}``, long unchanged stretches cut."""
    parts = []
    for index, (op, text) in enumerate(diff):
        if op == "delete":
            parts.append(f"[-{text}-]")
        elif op == "insert":
            parts.append(f"{{+{text}+}}")
        else:
            parts.append(_shorten(text, first=index == 0, last=index == len(diff) - 1))
    return "".join(parts)


def _shorten(text: str, *, first: bool, last: bool) -> str:
    if len(text) <= 2 * _CONTEXT + 5:
        return text
    head = "" if first else text[:_CONTEXT]
    tail = "" if last else text[-_CONTEXT:]
    return f"{head}…{tail}"
