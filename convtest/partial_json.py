"""Parse the JSON of a tool input that is still streaming, the way the ``ai`` client does.

A port of the ``ai`` package's ``parsePartialJson`` and ``fixJson`` (``src/util/``): the text is
parsed as it is; failing that, it is cut after its last complete token and closed (an open string
gets its quote, open objects and arrays their brackets, a started ``tru`` its ``e``) and parsed
again; failing that too, there is no value. So ``{"city": "Os`` is ``{"city": "Os"}``, as a
``useChat`` user sees it while the input streams.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["fix_json", "parse_partial_json"]

_LITERALS = ("true", "false", "null")
_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_OBJECT_STATES = frozenset(
    {
        "object-key",
        "object-after-key",
        "object-after-comma",
        "object-start",
        "object-before-value",
        "object-after-value",
    }
)
_ARRAY_STATES = frozenset({"array-start", "array-after-comma", "array-after-value"})


def parse_partial_json(text: str) -> Any:
    """The value of ``text``, repaired as the client repairs it; ``None`` when even that fails."""
    for candidate in (text, None):
        try:
            return _loads(text if candidate is not None else fix_json(text))
        except (ValueError, RecursionError):
            continue
    return None


def _loads(text: str) -> Any:
    """``JSON.parse``: no ``NaN`` or ``Infinity``, which Python's parser would accept."""
    return json.loads(text, parse_constant=_reject)


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Fixer:
    """The state machine of ``fixJson``: a stack of states, and the end of the last valid token."""

    __slots__ = ("last_valid", "literal_start", "stack", "text", "unicode_digits")

    def __init__(self, text: str) -> None:
        self.text = text
        self.stack = ["root"]
        self.last_valid = -1
        self.literal_start = 0
        self.unicode_digits = 0

    def value_start(self, char: str, at: int, swap: str) -> None:
        opened = {'"': "string", "{": "object-start", "[": "array-start"}.get(char)
        if opened is None and char in "ftn":
            opened, self.literal_start = "literal", at
        elif opened is None and (char == "-" or char in _DIGITS):
            opened = "number"
        if opened is None:
            return
        if char != "-":
            self.last_valid = at
        self.stack[-1] = swap
        self.stack.append(opened)

    def after_object_value(self, char: str, at: int) -> None:
        if char == ",":
            self.stack[-1] = "object-after-comma"
        elif char == "}":
            self.last_valid = at
            self.stack.pop()

    def after_array_value(self, char: str, at: int) -> None:
        if char == ",":
            self.stack[-1] = "array-after-comma"
        elif char == "]":
            self.last_valid = at
            self.stack.pop()

    def step(self, char: str, at: int) -> None:
        """One character: one branch per state, as in the original."""
        state = self.stack[-1]
        if state == "root":
            self.value_start(char, at, "finish")
        elif state in ("object-start", "object-after-comma"):
            if char == '"':
                self.stack[-1] = "object-key"
            elif char == "}" and state == "object-start":
                self.last_valid = at
                self.stack.pop()
        elif state == "object-key":
            if char == '"':
                self.stack[-1] = "object-after-key"
        elif state == "object-after-key":
            if char == ":":
                self.stack[-1] = "object-before-value"
        elif state == "object-before-value":
            self.value_start(char, at, "object-after-value")
        elif state == "object-after-value":
            self.after_object_value(char, at)
        elif state == "string":
            if char == '"':
                self.stack.pop()
                self.last_valid = at
            elif char == "\\":
                self.stack.append("string-escape")
            else:
                self.last_valid = at
        elif state == "array-start":
            if char == "]":
                self.last_valid = at
                self.stack.pop()
            else:
                self.last_valid = at
                self.value_start(char, at, "array-after-value")
        elif state == "array-after-value":
            if char == ",":
                self.stack[-1] = "array-after-comma"
            elif char == "]":
                self.last_valid = at
                self.stack.pop()
            else:
                self.last_valid = at
        elif state == "array-after-comma":
            self.value_start(char, at, "array-after-value")
        elif state == "string-escape":
            self.stack.pop()
            if char == "u":
                self.unicode_digits = 0
                self.stack.append("string-unicode")
            else:
                self.last_valid = at
        elif state == "string-unicode":
            if char in _HEX:
                self.unicode_digits += 1
                if self.unicode_digits == 4:
                    self.stack.pop()
                    self.last_valid = at
        elif state == "number":
            self.in_number(char, at)
        elif state == "literal":
            self.in_literal(char, at)

    def in_number(self, char: str, at: int) -> None:
        if char in _DIGITS:
            self.last_valid = at
        elif char in "eE-.":
            return
        else:
            self.stack.pop()
            if char in ",]" and self.stack[-1] == "array-after-value":
                self.after_array_value(char, at)
            elif char in ",}" and self.stack[-1] == "object-after-value":
                self.after_object_value(char, at)

    def in_literal(self, char: str, at: int) -> None:
        partial = self.text[self.literal_start : at + 1]
        if any(literal.startswith(partial) for literal in _LITERALS):
            self.last_valid = at
            return
        self.stack.pop()
        if self.stack[-1] == "object-after-value":
            self.after_object_value(char, at)
        elif self.stack[-1] == "array-after-value":
            self.after_array_value(char, at)

    def closing(self) -> str:
        tail = []
        for state in reversed(self.stack):
            if state == "string":
                tail.append('"')
            elif state in _OBJECT_STATES:
                tail.append("}")
            elif state in _ARRAY_STATES:
                tail.append("]")
            elif state == "literal":
                partial = self.text[self.literal_start :]
                literal = next((word for word in _LITERALS if word.startswith(partial)), None)
                if literal is not None:
                    tail.append(literal[len(partial) :])
        return "".join(tail)


def fix_json(text: str) -> str:
    """``text`` cut after its last complete token and closed, as ``fixJson`` does."""
    fixer = _Fixer(text)
    for at, char in enumerate(text):
        fixer.step(char, at)
    return text[: fixer.last_valid + 1] + fixer.closing()
