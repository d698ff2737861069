"""Reading a suite's line-aware tree with every mistake collected at its line, not raised.

A :class:`Reader` is handed to every parser, the built-in check kinds' and a plugin's alike:
its readers check a node's type, record a message at the node's line when it is wrong and
return None, so parsing goes on with the sibling keys and one run reports every mistake.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from convtest.exceptions import Location, SuiteError
from convtest.suite.limits import DEFAULT_LIMITS, SuiteLimits
from convtest.suite.tree import Entry, Node, describe_node, with_hint
from convtest.templating import Value, compile_template

__all__ = ["Reader", "suggest"]


def suggest(word: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word.lower(), sorted(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


class Reader:
    """Collects the problems of one scope (the file, or one conversation) instead of stopping.

    Its readers check a node's type, record a message at the node's line when it is wrong and
    return None, so a parse function can go on with the sibling keys.
    """

    def __init__(
        self,
        file: str,
        conversation: str | None = None,
        *,
        homes: Mapping[str, str] | None = None,
        folder: Path | None = None,
        limits: SuiteLimits = DEFAULT_LIMITS,
    ) -> None:
        self.file = file
        #: the suite file's folder, which a check may resolve relative paths against
        self.folder = folder
        #: what the file may make convtest do; ``regex_seconds`` goes with every regex it compiles
        self.limits = limits
        #: where a key that is valid elsewhere belongs (``under `expect` ``), for a misplaced key
        self.homes: Mapping[str, str] = homes or {}
        self.conversation = conversation
        self.turn: int | None = None
        self.errors: list[SuiteError] = []
        self._seen: set[tuple[str, int, int | None]] = set()

    def at(self, line: int) -> Location:
        return Location(self.file, line)

    def error(self, message: str, line: int) -> None:
        if (message, line, self.turn) in self._seen:  # a shared anchor is read once per use
            return
        self._seen.add((message, line, self.turn))
        error = SuiteError(message, self.at(line), conversation=self.conversation, turn=self.turn)
        self.errors.append(error)

    def type_error(self, node: Node, what: str, expected: str) -> None:
        self.error(with_hint(f"{what} must be {expected}, got {describe_node(node)}", node.hint), node.line)

    def mapping(
        self,
        node: Node,
        what: str,
        keys: frozenset[str] | None,
        *,
        required: Sequence[str] = (),
        where: str | None = None,
        extensions: bool = False,
    ) -> dict[str, Entry] | None:
        """The entries of a mapping whose keys are in ``keys`` (any key when None)."""
        if node.kind != "mapping":
            self.type_error(node, what, "a mapping")
            return None
        for message, line in node.problems:
            self.error(message, line)
        known: dict[str, Entry] = {}
        suggested: set[str] = set()
        for key, entry in node.entries.items():
            if keys is None or key in keys:
                known[key] = entry
            elif not (extensions and key.startswith("x-")):
                suggested.add(self._unknown_key(entry, keys, where or f"in {what}"))
        for key in required:
            if key not in known and key not in suggested:
                self.error(f"{what} is missing `{key}`", node.line)
        return known

    def _unknown_key(self, entry: Entry, keys: frozenset[str], where: str) -> str:
        home = self.homes.get(entry.key)
        if home is not None:
            self.error(f"unknown key `{entry.key}` {where}: `{entry.key}` belongs {home}", entry.line)
            return ""
        match = suggest(entry.key, keys)
        if match is None:
            self.error(
                f"unknown key `{entry.key}` {where} (valid keys: {', '.join(sorted(keys))})", entry.line
            )
            return ""
        self.error(f"unknown key `{entry.key}` {where} — did you mean `{match}`?", entry.line)
        return match

    def sequence(
        self, node: Node, what: str, *, expected: str = "a list", empty_ok: bool = False
    ) -> Sequence[Node] | None:
        if node.kind != "list":
            self.type_error(node, what, expected)
            return None
        for message, line in node.problems:
            self.error(message, line)
        if not node.items and not empty_ok:
            self.error(f"{what} must not be empty", node.line)
            return None
        return node.items

    def string(
        self, node: Node, what: str, *, expected: str = "a string", empty_ok: bool = True
    ) -> str | None:
        """A string; unquoted numbers, booleans and dates count too, as written."""
        if node.kind == "string":
            text = cast(str, node.value)
        elif node.kind in ("number", "boolean", "date"):
            text = node.text
        else:
            self.type_error(node, what, expected)
            return None
        if not text and not empty_ok:
            self.error(f"{what} must not be empty", node.line)
            return None
        return text

    def optional_string(self, entry: Entry | None, what: str) -> str | None:
        """A key's non-empty string, or None when the key is absent (or wrong, recorded)."""
        return None if entry is None else self.string(entry.value, what, empty_ok=False)

    def strings(self, node: Node, what: str, *, single_ok: bool) -> list[tuple[str, int]] | None:
        """A non-empty list of strings (or one string when ``single_ok``), each with its line."""
        if single_ok and node.kind not in ("list", "mapping", "null"):
            text = self.string(node, what, empty_ok=False)
            return None if text is None else [(text, node.line)]
        expected = "a string or a list of strings" if single_ok else "a list of strings"
        items = self.sequence(node, what, expected=expected)
        if items is None:
            return None
        values = [(self.string(item, f"each item of {what}", empty_ok=False), item.line) for item in items]
        return [(text, line) for text, line in values if text is not None]

    def template(self, source: str, line: int) -> Value | None:
        try:
            return compile_template(source, self.at(line))
        except SuiteError as exc:
            self.error(exc.message, line)
            return None

    def operand(self, node: Node, what: str, *, expected: str = "a string") -> Value | None:
        text = self.string(node, what, expected=expected)
        return None if text is None else self.template(text, node.line)

    def regex(self, source: str, entry: Entry, flags: int = 0) -> re.Pattern[str] | None:
        """``source`` compiled; an invalid one is reported at the value's line."""
        try:
            return re.compile(source, flags)
        except re.error as exc:
            self.error(f"invalid regex {source!r} in `{entry.key}`: {exc}", entry.value.line)
            return None

    def integer(self, node: Node, what: str) -> int | None:
        if node.kind != "number" or not isinstance(node.value, int) or node.value < 0:
            got = node.text if node.kind == "number" else describe_node(node)
            self.error(f"{what} must be a whole number ≥ 0, got {got}", node.line)
            return None
        return node.value

    def positive_number(self, node: Node, what: str) -> float | None:
        if node.kind != "number" or not float(node.value) > 0:
            got = node.text if node.kind == "number" else describe_node(node)
            self.error(f"{what} must be a number > 0 (milliseconds), got {got}", node.line)
            return None
        return float(node.value)

    def boolean(self, node: Node, what: str) -> bool | None:
        if node.kind != "boolean":
            self.type_error(node, what, "true or false")
            return None
        return cast(bool, node.value)

    def choice(self, node: Node, what: str, choices: frozenset[str], *, noun: str) -> str | None:
        """One of a fixed set of words; a misspelt one is reported with a did-you-mean."""
        valid = ", ".join(sorted(choices))
        text = self.string(node, what, expected=f"one of {valid}")
        if text is None or text in choices:
            return text
        hint = self.suggestion(text, choices)
        self.error(f"unknown {what} {noun} `{text}`{hint} (one of {valid})", node.line)
        return None

    @staticmethod
    def suggestion(word: str, choices: Iterable[str]) -> str:
        """`` — did you mean `x`?`` for the closest choice, or nothing."""
        match = suggest(word, choices)
        return f" — did you mean `{match}`?" if match else ""

    def plain(self, node: Node, *, templates: bool = False) -> Any:
        """Any YAML value as plain Python; string leaves become templates when asked."""
        if node.kind == "mapping":
            for message, line in node.problems:
                self.error(message, line)
            return {key: self.plain(entry.value, templates=templates) for key, entry in node.entries.items()}
        if node.kind == "list":
            for message, line in node.problems:
                self.error(message, line)
            return [self.plain(item, templates=templates) for item in node.items]
        if templates and node.kind == "string":
            compiled = self.template(cast(str, node.value), node.line)
            return node.value if compiled is None else compiled
        return node.value

    def mapping_value(self, node: Node, what: str) -> dict[str, Any] | None:
        """Any mapping as plain Python, string leaves as templates (a plugin's free-form options)."""
        if self.mapping(node, what, None) is None:
            return None
        return cast(dict[str, Any], self.plain(node, templates=True))

    def sorted_errors(self) -> tuple[SuiteError, ...]:
        """In file order: checks run section by section, a reader expects top to bottom."""
        return tuple(sorted(self.errors, key=lambda error: error.location.line if error.location else 0))

    def raise_errors(self) -> None:
        """File-level problems: raise them as one error, the first one's location leading."""
        if not self.errors:
            return
        first, *rest = self.sorted_errors()
        if not rest:
            raise first
        message = "\n".join([first.message, *(str(error) for error in rest)])
        raise SuiteError(message, first.location)
