"""The shape every check has, the built-in ones and a plugin's alike.

A :class:`CheckKind` owns one YAML key under ``expect``: it parses its operands with the loader's
:class:`~convtest.suite.reader.Reader` (so mistakes are reported at their line, with a
did-you-mean) into a :class:`Check`, which evaluates against a turn and returns
:class:`Failure` s that say what was expected and what came instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

from convtest.exceptions import Location
from convtest.transcript import Exchange, TurnTranscript

if TYPE_CHECKING:
    from convtest.suite.reader import Reader
    from convtest.suite.tree import Entry
    from convtest.templating import Template

__all__ = [
    "SCOPES",
    "Check",
    "CheckContext",
    "CheckKind",
    "Exchange",
    "Failure",
    "Scope",
    "check_templates",
]

#: ``turn``: under a turn's ``expect`` (and ``defaults.expect``); ``conversation``: under the
#: conversation's ``expect``, evaluated once after its last turn
Scope = Literal["turn", "conversation"]
SCOPES: Final = ("turn", "conversation")


@dataclass(frozen=True, slots=True)
class Failure:
    """One expectation that did not hold."""

    #: what was expected, e.g. ``text contains "Ada"``
    check: str
    #: what came instead, short and readable, e.g. ``text was "Hello!"``
    actual: str
    #: the YAML line of the check
    location: Location | None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.check} — {self.actual}"


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a check evaluates against."""

    #: the turn checked; for a conversation-level check, the last turn
    transcript: TurnTranscript
    #: the template variables as the turn saw them: ``vars``, saved values, ``session_id``, ``env``
    variables: Mapping[str, Any]
    #: every turn of the conversation so far, oldest first; the checked turn is the last one
    conversation: Sequence[Exchange] = ()


@runtime_checkable
class Check(Protocol):
    """A parsed check, ready to evaluate: no failures means it held.

    A check whose operands hold templates may also define ``templates() -> Iterator[Template]``,
    so the loader can reject an undefined variable before anything is sent.
    """

    def evaluate(self, context: CheckContext) -> Sequence[Failure]: ...


@dataclass(frozen=True, slots=True)
class CheckKind:
    """One YAML key under ``expect``: what registers in the ``convtest.checks`` entry-point group.

    ``parse`` reads the key's value and returns the check, or None when the value turns the check
    off (``key: null``) or has mistakes, which it records on the reader at their lines.
    """

    key: str
    parse: Callable[[Reader, Entry], Check | None]
    #: failures of a turn are listed in this order (built-ins use 10-110; plugins default after them)
    order: int = 1000
    scopes: frozenset[Scope] = frozenset({"turn"})
    #: the check a turn has when it does not name the key (``errors``, ``aborted``); None: none
    default: Check | None = None
    #: keys that belong inside this one, so a key written one level too high gets a hint
    subkeys: frozenset[str] = frozenset()


def check_templates(check: Check) -> Iterator[Template]:
    """The templates a check holds, when it says (see :class:`Check`)."""
    templates: Callable[[], Iterator[Template]] | None = getattr(check, "templates", None)
    return iter(()) if templates is None else templates()
