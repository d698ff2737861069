"""The text-check tree under ``expect.text`` / ``expect.reasoning``, and what a text operator is.

Each key of a text-check mapping (``contains``, ``matches``, ``any_of``...) is a
:class:`TextOperator`, registered in the ``convtest.text_checks`` entry-point group like a
plugin's own: it parses its operand into a :class:`TextCheck` node, evaluates it against the
text and describes it for the failure line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convtest.exceptions import Location
from convtest.suite.limits import DEFAULT_LIMITS
from convtest.templating import Value

if TYPE_CHECKING:
    from convtest.suite.reader import Reader
    from convtest.suite.tree import Entry

__all__ = ["Miss", "TextCheck", "TextOperator", "TextSubject"]


@dataclass(frozen=True, slots=True)
class TextCheck:
    """One predicate on the turn's reassembled text, named by its operator's key (``op``).

    - ``equals``/``contains``/``not_contains``/``starts_with``/``ends_with``: one operand in
      ``values``; ``contains_any``/``contains_all``: several.
    - ``matches``/``not_matches``: the regex source in ``values[0]``; ``pattern`` is compiled at
      load time unless the source is a template (then it is compiled after rendering).
    - ``min_length``/``max_length``: ``number``.
    - ``all_of``/``any_of``: ``children``; ``not``: exactly one child.
    - a plugin's operator keeps what it parsed in ``operand``.
    """

    op: str
    location: Location
    values: tuple[Value, ...] = ()
    number: int | None = None
    children: tuple[TextCheck, ...] = ()
    ignore_case: bool = False
    pattern: re.Pattern[str] | None = None
    operand: Any = None
    #: how long ``pattern`` may run on one reply (``suite_limits.regex_seconds``)
    regex_seconds: float = DEFAULT_LIMITS.regex_seconds


class TextSubject:
    """The turn's text (or reasoning), casefolded at most once however many checks ignore case."""

    __slots__ = ("_folded", "name", "text")

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        #: what the checks are about, as failures say it: ``text`` or ``reasoning``
        self.name = name
        self._folded: str | None = None

    def view(self, ignore_case: bool) -> str:
        if not ignore_case:
            return self.text
        if self._folded is None:
            self._folded = self.text.casefold()
        return self._folded


@dataclass(frozen=True, slots=True)
class Miss:
    """A text check that did not hold, before it is described."""

    check: TextCheck
    #: detail beyond the text itself; "" when the text says it all
    note: str
    #: the check could not be evaluated at all (template, regex); combinators never hide it
    error: bool = False


#: the misses of one check: an empty tuple when it holds
Evaluate = Callable[[TextCheck, TextSubject, Mapping[str, Any]], Sequence[Miss]]
#: what a check expects, in words; variables are None when describing without a turn
Describe = Callable[[TextCheck, Mapping[str, Any] | None, str], str]


@dataclass(frozen=True, slots=True)
class TextOperator:
    """One key of a text-check mapping; ``parse`` gets the entry and the ``ignore_case`` in force."""

    key: str
    parse: Callable[[Reader, Entry, bool], TextCheck | None]
    evaluate: Evaluate
    describe: Describe
