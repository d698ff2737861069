"""Checks on a turn's other stream parts: ``sources``, ``data``, ``errors``, ``steps``, ``aborted``
and ``unknown_events``.

Two of them hold on every turn that does not mention them: an ``error`` chunk or an ``abort``
fails the turn unless it says ``errors:`` / ``aborted:``, so a stream that failed politely never
passes by accident.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from convtest.checks.base import CheckContext, CheckKind, Failure
from convtest.checks.counts import Count, describe_count, parse_count, parse_none_or_count, within
from convtest.checks.subset import find_mismatch
from convtest.checks.wording import CALLS_SHOWN, OperandError, excerpt, json_text, plural, quote, quote_all
from convtest.exceptions import Location
from convtest.templating import Template, templates_in
from convtest.transcript import Source

if TYPE_CHECKING:
    from convtest.suite.reader import Reader
    from convtest.suite.tree import Entry

__all__ = [
    "ABORTED",
    "DATA",
    "ERRORS",
    "ERRORS_KEYS",
    "NOT_ABORTED",
    "NO_ERRORS",
    "SOURCES",
    "SOURCES_KEYS",
    "STEPS",
    "UNKNOWN_EVENTS",
    "UNKNOWN_EVENTS_KEYS",
    "AbortedCheck",
    "DataCheck",
    "DataChecks",
    "ErrorsCheck",
    "SourcesCheck",
    "StepsCheck",
    "UnknownEventsCheck",
]

SOURCES_KEYS: Final = frozenset({"none", "count", "contains_url", "contains_title"})
ERRORS_KEYS: Final = frozenset({"none", "count", "contains"})
UNKNOWN_EVENTS_KEYS: Final = frozenset({"none", "count", "types"})


# --- sources -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourcesCheck:
    """The turn's cited sources (``source-url`` / ``source-document``)."""

    location: Location
    count: Count | None = None
    #: each is part of some source's URL
    urls: tuple[str, ...] = ()
    #: each is part of some source's title
    titles: tuple[str, ...] = ()

    def evaluate(self, context: CheckContext) -> Sequence[Failure]:
        sources = context.transcript.sources
        failures = []
        if self.count is not None and not within(self.count, len(sources)):
            failures.append(
                Failure(describe_count(self.count, "source"), _sources_actual(sources), self.location)
            )
        for field_name, label, wanted in (("url", "URL", self.urls), ("title", "title", self.titles)):
            for part in wanted:
                if not any(part in (getattr(source, field_name) or "") for source in sources):
                    description = f"a source {label} contains {quote(part)}"
                    failures.append(Failure(description, _sources_actual(sources), self.location))
        return failures


def _format_source(source: Source) -> str:
    if source.kind == "url":
        title = f" ({quote(source.title)})" if source.title else ""
        return f"{source.url}{title}"
    return f"document {quote(source.title or '')} ({source.media_type})"


def _sources_actual(sources: Sequence[Source]) -> str:
    if not sources:
        return "no sources arrived"
    shown = [_format_source(source) for source in sources[:CALLS_SHOWN]]
    more = [f"… {len(sources) - CALLS_SHOWN} more"] if len(sources) > CALLS_SHOWN else []
    return f"sources were [{', '.join([*shown, *more])}]"


def _substrings(reader: Reader, entry: Entry | None, what: str) -> tuple[str, ...]:
    if entry is None:
        return ()
    items = reader.strings(entry.value, what, single_ok=True) or []
    return tuple(text for text, _ in items)


def _counted_entries(
    reader: Reader, entry: Entry, keys: frozenset[str], others: tuple[str, ...]
) -> tuple[Mapping[str, Entry], Count | None] | None:
    """What ``sources``, ``errors`` and ``unknown_events`` share: ``null`` (None) lets anything
    pass; otherwise a non-empty mapping of ``keys`` with an optional count, where a count of 0
    cannot go with any of ``others``."""
    name = entry.key
    if entry.value.kind == "null":
        return None
    entries = reader.mapping(entry.value, f"`{name}`", keys)
    if entries is None:
        return None
    if not entry.value.entries:
        reader.error(f"`{name}` is empty: expected one of {', '.join(sorted(keys))}", entry.value.line)
    count = parse_none_or_count(reader, entries, name)
    if count is not None and count.max == 0:  # `none: true` with `contains...` can never hold
        for key in others:
            if key in entries:
                message = f"`{key}` contradicts a count of 0 (`none: true` or `count: 0`)"
                reader.error(message, entries[key].line)
    return entries, count


def _parse_sources(reader: Reader, entry: Entry) -> SourcesCheck | None:
    """``sources: {count: 2, contains_url: help.example.com}``; ``none: true`` for none at all."""
    head = _counted_entries(reader, entry, SOURCES_KEYS, ("contains_url", "contains_title"))
    if head is None:
        return None
    entries, count = head
    urls = _substrings(reader, entries.get("contains_url"), "`contains_url`")
    titles = _substrings(reader, entries.get("contains_title"), "`contains_title`")
    return SourcesCheck(reader.at(entry.line), count, urls, titles)


# --- error chunks and unknown events ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorsCheck:
    """The turn's ``error`` chunks: how many, and what they say."""

    #: None for the implicit check every turn has
    location: Location | None
    count: Count | None = None
    #: each is part of some error's text
    contains: tuple[str, ...] = ()

    def evaluate(self, context: CheckContext) -> Sequence[Failure]:
        errors = context.transcript.errors
        if not errors and self is NO_ERRORS:
            return ()
        actual = f"error chunks were [{quote_all(errors)}]" if errors else "no error chunk arrived"
        failures = []
        if self.count is not None and not within(self.count, len(errors)):
            description = describe_count(self.count, "error chunk")
            if self is NO_ERRORS:
                description += " (set `expect.errors` to expect them)"
            failures.append(Failure(description, actual, self.location))
        for part in self.contains:
            if not any(part in error for error in errors):
                failures.append(Failure(f"an error chunk contains {quote(part)}", actual, self.location))
        return failures


#: a turn that says nothing about errors fails on an ``error`` chunk: never a silent pass
NO_ERRORS: Final = ErrorsCheck(None, Count(None, max=0))


def _parse_errors(reader: Reader, entry: Entry) -> ErrorsCheck | None:
    """``errors: {contains: quota}`` expects error chunks; ``errors: null`` lets any pass."""
    head = _counted_entries(reader, entry, ERRORS_KEYS, ("contains",))
    if head is None:
        return None
    entries, count = head
    contains = _substrings(reader, entries.get("contains"), "`contains`")
    return ErrorsCheck(reader.at(entry.line), count, contains)


@dataclass(frozen=True, slots=True)
class UnknownEventsCheck:
    """Chunks of types convtest does not know (kept verbatim, never fatal): how many, which."""

    location: Location
    count: Count | None = None
    #: each must be the type of some unknown chunk
    types: tuple[str, ...] = ()

    def evaluate(self, context: CheckContext) -> Sequence[Failure]:
        events = context.transcript.unknown_events
        types = [str(event.get("type")) for event in events]
        actual = f"unknown events were [{quote_all(types)}]" if types else "no unknown event arrived"
        failures = []
        if self.count is not None and not within(self.count, len(events)):
            failures.append(Failure(describe_count(self.count, "unknown event"), actual, self.location))
        for wanted in self.types:
            if wanted not in types:
                failures.append(Failure(f"an unknown event of type {quote(wanted)}", actual, self.location))
        return failures


def _parse_unknown_events(reader: Reader, entry: Entry) -> UnknownEventsCheck | None:
    """``unknown_events: {types: [brand-new-chunk]}`` or ``{none: true}``: chunks convtest does not know."""
    head = _counted_entries(reader, entry, UNKNOWN_EVENTS_KEYS, ("types",))
    if head is None:
        return None
    entries, count = head
    types = _substrings(reader, entries.get("types"), "`types`")
    return UnknownEventsCheck(reader.at(entry.line), count, types)


# --- steps and abort ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepsCheck:
    """The number of model steps (``start-step`` chunks)."""

    count: Count

    def evaluate(self, context: CheckContext) -> Sequence[Failure]:
        steps = context.transcript.steps
        if within(self.count, steps):
            return ()
        actual = f"{plural(steps, 'step')} (start-step chunks)"
        return (Failure(describe_count(self.count, "step"), actual, self.count.location),)


def _parse_steps(reader: Reader, entry: Entry) -> StepsCheck | None:
    """``steps: 2`` or ``steps: {min: 1, max: 3}``: the number of ``start-step`` chunks."""
    if entry.value.kind == "null":
        return None
    count = parse_count(reader, entry.value, "`steps`")
    return None if count is None else StepsCheck(count)


@dataclass(frozen=True, slots=True)
class AbortedCheck:
    """Whether the stream was aborted (an ``abort`` chunk)."""

    expected: bool
    #: None for the implicit check every turn has
    location: Location | None

    def evaluate(self, context: CheckContext) -> Sequence[Failure]:
        transcript = context.transcript
        if self.expected == transcript.aborted:
            return ()
        if self.expected:
            return (Failure("the stream is aborted", "no abort chunk arrived", self.location),)
        reason = f" (reason {quote(transcript.abort_reason)})" if transcript.abort_reason else ""
        actual = f"an abort chunk arrived{reason}; text so far {excerpt(transcript.text)}"
        description = "the stream is not aborted" + ("" if self.location else " (set `expect.aborted`)")
        return (Failure(description, actual, self.location),)


#: a turn that says nothing about aborting fails on an ``abort`` chunk
NOT_ABORTED: Final = AbortedCheck(False, None)


def _parse_aborted(reader: Reader, entry: Entry) -> AbortedCheck | None:
    """``aborted: true`` expects an ``abort`` chunk; without it, an abort fails the turn."""
    if entry.value.kind == "null":
        return None
    flag = reader.boolean(entry.value, "`aborted`")
    return None if flag is None else AbortedCheck(flag, reader.at(entry.line))


# --- data parts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataCheck:
    """A ``data-<name>`` part must have arrived with data matching ``expected`` as a subset."""

    #: without the ``data-`` prefix
    name: str
    #: a nested YAML value whose string leaves may be templates
    expected: Any
    location: Location


@dataclass(frozen=True, slots=True)
class DataChecks:
    """Everything ``expect.data`` says: one part per name."""

    checks: tuple[DataCheck, ...]

    def evaluate(self, context: CheckContext) -> Sequence[Failure]:
        failures = (_data_failure(check, context) for check in self.checks)
        return [failure for failure in failures if failure is not None]

    def templates(self) -> Iterator[Template]:
        for check in self.checks:
            yield from templates_in(check.expected)


def _data_failure(check: DataCheck, context: CheckContext) -> Failure | None:
    """Holds when some ``data-<name>`` part contains the expected data; else says why the last did not."""
    transcript, variables = context.transcript, context.variables
    label = f"data-{check.name}"
    parts = transcript.data(check.name)
    try:
        mismatches = [find_mismatch(check.expected, part.data, variables) for part in parts]
    except OperandError as exc:
        return Failure(_describe_data(check, variables), exc.message, check.location)
    if parts and None in mismatches:
        return None
    if not parts:
        names = ", ".join(dict.fromkeys(f"data-{part.name}" for part in transcript.data_parts))
        actual = f"no {label} part arrived" + (f"; parts were {names}" if names else "")
    else:
        last = mismatches[-1]
        assert last is not None
        actual = last.describe(label)
    return Failure(_describe_data(check, variables), actual, check.location)


def _describe_data(check: DataCheck, variables: Mapping[str, Any]) -> str:
    relation = "⊇" if isinstance(check.expected, Mapping | list) else "is"
    return f"data-{check.name} {relation} {json_text(check.expected, variables)}"


def _parse_data(reader: Reader, entry: Entry) -> DataChecks | None:
    """``data: {session: "{{ session_id }}", weather: {city: Oslo}}``: a part per name, subset match."""
    if entry.value.kind == "null":
        return None
    entries = reader.mapping(entry.value, "`data`", None)
    if entries is None:
        return None
    if not entries:
        message = "`data` is empty: expected part names with their data, e.g. `session: abc`"
        reader.error(message, entry.value.line)
    checks = []
    for key, item in entries.items():
        name = key.removeprefix("data-")
        if not name:
            reader.error("a data part needs a name after `data-`", item.line)
            continue
        checks.append(DataCheck(name, reader.plain(item.value, templates=True), reader.at(item.line)))
    return DataChecks(tuple(checks))


SOURCES = CheckKind(
    "sources", _parse_sources, order=40, subkeys=frozenset({"contains_url", "contains_title"})
)
DATA = CheckKind("data", _parse_data, order=50)
ERRORS = CheckKind("errors", _parse_errors, order=60, default=NO_ERRORS)
STEPS = CheckKind("steps", _parse_steps, order=70)
ABORTED = CheckKind("aborted", _parse_aborted, order=80, default=NOT_ABORTED)
UNKNOWN_EVENTS = CheckKind("unknown_events", _parse_unknown_events, order=90)
