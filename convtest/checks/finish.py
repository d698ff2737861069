"""How a turn ended: ``finish_reason`` (``stop``, or a list of accepted reasons) and ``latency``
(``{first_token_ms: 800, total_ms: 5000}``, maxima)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from convtest.checks.base import CheckContext, CheckKind, Failure
from convtest.checks.wording import quote, quote_all
from convtest.exceptions import Location

if TYPE_CHECKING:
    from convtest.suite.reader import Reader
    from convtest.suite.tree import Entry

__all__ = ["FINISH_REASON", "LATENCY", "LATENCY_KEYS", "FinishReasonCheck", "LatencyCheck"]

LATENCY_KEYS: Final = frozenset({"first_token_ms", "total_ms"})


@dataclass(frozen=True, slots=True)
class FinishReasonCheck:
    """The turn's finish reason is one of ``accepted``."""

    accepted: tuple[str, ...]
    location: Location | None

    def evaluate(self, context: CheckContext) -> Sequence[Failure]:
        accepted, finish_reason = self.accepted, context.transcript.finish_reason
        if not accepted or finish_reason in accepted:
            return ()
        wanted = f"is {quote(accepted[0])}" if len(accepted) == 1 else f"is one of {quote_all(accepted)}"
        unusable = context.transcript.invalid.get("finish_reason")
        if finish_reason is not None:
            actual = f"finish_reason was {quote(finish_reason)}"
        else:
            actual = (
                "no finish reason arrived" if unusable is None else f"no usable finish reason: {unusable}"
            )
        return (Failure(f"finish_reason {wanted}", actual, self.location),)


def _parse_finish_reason(reader: Reader, entry: Entry) -> FinishReasonCheck | None:
    if entry.value.kind == "null":
        return None
    reasons = reader.strings(entry.value, "`finish_reason`", single_ok=True) or []
    return FinishReasonCheck(tuple(reason for reason, _ in reasons), reader.at(entry.line))


@dataclass(frozen=True, slots=True)
class LatencyCheck:
    """Maxima in milliseconds for the first text token and the whole turn."""

    max_first_token_ms: float | None
    max_total_ms: float | None
    location: Location | None

    def evaluate(self, context: CheckContext) -> Sequence[Failure]:
        timings = context.transcript.timings
        failures = []
        for subject, limit, measured, missing in (
            ("first token", self.max_first_token_ms, timings.first_token_ms, "no text token arrived"),
            ("turn finished", self.max_total_ms, timings.total_ms, "the turn never finished"),
        ):
            if limit is None or (measured is not None and measured <= limit):
                continue
            actual = missing if measured is None else f"{subject} after {_ms_over(measured, limit)} ms"
            failures.append(Failure(f"{subject} within {_ms(limit)} ms", actual, self.location))
        return failures


def _ms(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _ms_over(measured: float, limit: float) -> str:
    """Whole milliseconds, unless rounding would make a late value look on time."""
    for digits in range(4):
        shown = f"{measured:.{digits}f}"
        if float(shown) > limit:
            return shown
    return repr(measured)


def _parse_latency(reader: Reader, entry: Entry) -> LatencyCheck | None:
    if entry.value.kind == "null":
        return None
    entries = reader.mapping(entry.value, "`latency`", LATENCY_KEYS)
    if entries is None:
        return None
    if not entry.value.entries:
        reader.error("`latency` is empty: expected `first_token_ms` and/or `total_ms`", entry.value.line)
    first_token = total = None
    if "first_token_ms" in entries:
        first_token = reader.positive_number(entries["first_token_ms"].value, "`first_token_ms`")
    if "total_ms" in entries:
        total = reader.positive_number(entries["total_ms"].value, "`total_ms`")
    return LatencyCheck(first_token, total, reader.at(entry.line))


FINISH_REASON = CheckKind("finish_reason", _parse_finish_reason, order=100)
LATENCY = CheckKind("latency", _parse_latency, order=110)
