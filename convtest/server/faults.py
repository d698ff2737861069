"""Fault switches of the reference agent: what to break in one response, and how to ask for it.

A fault is asked for with ``[[fault:NAME]]`` in the message or the ``X-Convtest-Fault`` header
(comma-separated); a wrong name or argument is a 400 naming the valid ones, so a typo never
silently tests the happy path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FAULT_HEADER", "FAULT_NAMES", "HOLD_SECONDS", "BadRequest", "Faults", "read_faults"]

FAULT_HEADER = "X-Convtest-Fault"
#: longest a ``hold-open`` or ``silent`` response waits when nobody ends it
HOLD_SECONDS = 60.0
_FAULT_OPENING = re.compile(r"\[\[fault:", re.IGNORECASE)
_MAX_FAULT_MS = 600_000.0


class BadRequest(Exception):
    """The request cannot be served; ``detail`` says which field or fault is wrong."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(slots=True)
class Faults:
    """What to break in one response; the default breaks nothing."""

    first_token_delay: float = 0.0
    stall: float = 0.0
    status: int | None = None
    cut: bool = False
    malformed: bool = False
    error_chunk: bool = False
    done: bool = True
    hold_open: bool = False
    keep_alive: bool = False
    unknown_events: bool = False
    non_sse: bool = False
    #: seconds before the response headers: a server that does not answer
    silent: float = 0.0
    abort: bool = False


_FaultSetter = Callable[[Faults, str, str], None]


def _flag(attribute: str, value: bool = True) -> _FaultSetter:
    def set_flag(faults: Faults, name: str, argument: str) -> None:
        if argument:
            raise BadRequest(f"Fault '{name}' takes no argument, got '{argument}'.")
        setattr(faults, attribute, value)

    return set_flag


def _delay(attribute: str, default_ms: float) -> _FaultSetter:
    def set_delay(faults: Faults, name: str, argument: str) -> None:
        setattr(faults, attribute, _millis(name, argument, default_ms) / 1000)

    return set_delay


def _millis(name: str, argument: str, default: float) -> float:
    if not argument:
        return default
    try:
        value = float(argument)
    except ValueError:
        value = -1.0
    if not 0 <= value <= _MAX_FAULT_MS:
        raise BadRequest(
            f"Fault '{name}' needs milliseconds between 0 and {_MAX_FAULT_MS:.0f}, got '{argument}'."
        )
    return value


def _status(faults: Faults, name: str, argument: str) -> None:
    if not (argument.isdigit() and 400 <= int(argument) <= 599):
        raise BadRequest(f"Fault 'status' needs an HTTP error code from 400 to 599, got '{argument}'.")
    faults.status = int(argument)


def _status_500(faults: Faults, name: str, argument: str) -> None:
    if argument:
        raise BadRequest(f"Fault '{name}' takes no argument, got '{argument}'.")
    faults.status = 500


#: name -> (how to write it, what it sets)
_FAULTS: dict[str, tuple[str, _FaultSetter]] = {
    "abort": ("abort", _flag("abort")),
    "cut": ("cut", _flag("cut")),
    "error-chunk": ("error-chunk", _flag("error_chunk")),
    "hold-open": ("hold-open", _flag("hold_open")),
    "keep-alive": ("keep-alive", _flag("keep_alive")),
    "malformed": ("malformed", _flag("malformed")),
    "no-done": ("no-done", _flag("done", False)),
    "non-sse": ("non-sse", _flag("non_sse")),
    "silent": ("silent[:ms]", _delay("silent", HOLD_SECONDS * 1000)),
    "slow-first-token": ("slow-first-token[:ms]", _delay("first_token_delay", 1500)),
    "stall": ("stall[:ms]", _delay("stall", 3000)),
    "status": ("status:<code>", _status),
    "status-500": ("status-500", _status_500),
    "unknown-event": ("unknown-event", _flag("unknown_events")),
}
FAULT_NAMES = tuple(_FAULTS)


def read_faults(header: str | None, query: str) -> tuple[Faults, str]:
    """Collect faults from the header (comma-separated) and the query; return the cleaned query."""
    specs = [spec for spec in (header or "").split(",") if spec.strip()]
    phrases, without_phrases = _fault_phrases(query)
    specs += phrases
    faults = Faults()
    for spec in specs:
        name, _, argument = spec.strip().partition(":")
        name = name.strip().lower()
        if name not in _FAULTS:
            usage = ", ".join(usage for usage, _ in _FAULTS.values())
            raise BadRequest(f"Unknown fault '{name}'. Valid faults: {usage}.")
        _FAULTS[name][1](faults, name, argument.strip())
    if specs:
        query = " ".join(without_phrases.split())
    return faults, query


def _fault_phrases(query: str) -> tuple[list[str], str]:
    """The specs of the ``[[fault:SPEC]]`` phrases in ``query``, and ``query`` with each phrase
    replaced by a space.

    A phrase ends at the first ``]`` after its opening, which must be doubled. Scanned by hand:
    a regex search starts again at every opening, so a message of openings never closed would be
    read once per opening, seconds for 100 KB.
    """
    specs: list[str] = []
    kept: list[str] = []
    start = kept_from = 0
    while (opening := _FAULT_OPENING.search(query, start)) is not None:
        end = query.find("]", opening.end())
        if end < 0:
            break
        if query.startswith("]]", end):
            specs.append(query[opening.end() : end])
            kept += [query[kept_from : opening.start()], " "]
            start = kept_from = end + 2
        else:
            # every later opening before this single "]" would stop at it as well
            start = end + 1
    kept.append(query[kept_from:])
    return specs, "".join(kept)
