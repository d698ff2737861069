"""Loading the checks on a turn's protocol parts: ``sources``, ``data``, ``errors``, ``steps``,
``aborted``, ``unknown_events``, a tool call's ``error`` and ``input_schema``, and a turn's
``timeouts``.

:mod:`convtest.suite` owns the file's structure and calls these with its line-aware context,
whose readers record every mistake at its YAML line and let loading go on; a JSON schema is
checked here, when the file is loaded, so a broken one is reported at the line that breaks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from convtest.models import Count, DataCheck, ErrorsCheck, SourcesCheck, UnknownEventsCheck
from convtest.targets import TIMEOUT_KINDS

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from convtest.suite import _Context, _Entry, _Node

__all__ = [
    "COUNT_KEYS",
    "ERRORS_KEYS",
    "SOURCES_KEYS",
    "TIMEOUT_KEYS",
    "UNKNOWN_EVENTS_KEYS",
    "parse_aborted",
    "parse_count",
    "parse_data",
    "parse_errors",
    "parse_input_schema",
    "parse_sources",
    "parse_steps",
    "parse_timeouts",
    "parse_tool_error",
    "parse_unknown_events",
]

SOURCES_KEYS: Final = frozenset({"none", "count", "contains_url", "contains_title"})
ERRORS_KEYS: Final = frozenset({"none", "count", "contains"})
UNKNOWN_EVENTS_KEYS: Final = frozenset({"none", "count", "types"})
COUNT_KEYS: Final = frozenset({"min", "max"})
TIMEOUT_KEYS: Final = frozenset(TIMEOUT_KINDS)

#: the Expectation fields one ``expect`` key sets
_Part = dict[str, Any]


# --- counts ---------------------------------------------------------------------------------------


def parse_count(ctx: _Context, node: _Node, what: str) -> Count | None:
    """A whole number (exactly), or ``{min: ..., max: ...}`` (either may be left out)."""
    if node.kind == "number":
        number = ctx.integer(node, what)
        return None if number is None else Count(ctx.at(node.line), number, number)
    if node.kind != "mapping":
        ctx.type_error(node, what, "a whole number or a mapping with `min` and/or `max`")
        return None
    entries = ctx.mapping(node, what, COUNT_KEYS)
    if entries is None:
        return None
    if not entries:
        ctx.error(f"{what} needs `min` and/or `max`", node.line)
        return None
    low = ctx.integer(entries["min"].value, f"{what} `min`") if "min" in entries else 0
    high = ctx.integer(entries["max"].value, f"{what} `max`") if "max" in entries else None
    if low is None:
        return None
    if high is not None and low > high:
        ctx.error(f"{what} `min` {low} is greater than `max` {high}", entries["max"].line)
        return None
    return Count(ctx.at(node.line), low, high)


def _none_or_count(ctx: _Context, entries: Mapping[str, _Entry], what: str) -> Count | None:
    """``none: true`` (exactly zero) or ``count``; both at once contradict each other."""
    found: Count | None = None
    none = entries.get("none")
    if none is not None:
        flag = ctx.boolean(none.value, "`none`")
        if flag is False:
            ctx.error("`none: false` checks nothing; remove it", none.line)
        elif flag:
            found = Count(ctx.at(none.line), 0, 0)
    if "count" in entries:
        if found is not None:
            ctx.error(f"`none: true` contradicts `count` in `{what}`", entries["count"].line)
        found = parse_count(ctx, entries["count"].value, "`count`")
    return found


def _substrings(ctx: _Context, entry: _Entry | None, what: str) -> tuple[str, ...]:
    if entry is None:
        return ()
    items = ctx.strings(entry.value, what, single_ok=True) or []
    return tuple(text for text, _ in items)


def _check_none_alone(
    ctx: _Context, count: Count | None, entries: Mapping[str, _Entry], keys: tuple[str, ...]
) -> None:
    """``none: true`` with ``contains...`` can never hold."""
    if count is None or count.max != 0:
        return
    for key in keys:
        if key in entries:
            ctx.error(f"`{key}` contradicts a count of 0 (`none: true` or `count: 0`)", entries[key].line)


# --- expect keys ----------------------------------------------------------------------------------


def _counted_entries(
    ctx: _Context, entry: _Entry, name: str, keys: frozenset[str], others: tuple[str, ...]
) -> tuple[Mapping[str, _Entry], Count | None] | None:
    """What ``sources``, ``errors`` and ``unknown_events`` share: ``null`` (None) lets anything
    pass; otherwise a non-empty mapping of ``keys`` with an optional count, where a count of 0
    cannot go with any of ``others``."""
    if entry.value.kind == "null":
        return None
    entries = ctx.mapping(entry.value, f"`{name}`", keys)
    if entries is None:
        return None
    if not entry.value.entries:
        ctx.error(f"`{name}` is empty: expected one of {', '.join(sorted(keys))}", entry.value.line)
    count = _none_or_count(ctx, entries, name)
    _check_none_alone(ctx, count, entries, others)
    return entries, count


def parse_sources(ctx: _Context, entry: _Entry) -> _Part:
    """``sources: {count: 2, contains_url: help.example.com}``; ``none: true`` for none at all."""
    head = _counted_entries(ctx, entry, "sources", SOURCES_KEYS, ("contains_url", "contains_title"))
    if head is None:
        return {"sources": None}
    entries, count = head
    urls = _substrings(ctx, entries.get("contains_url"), "`contains_url`")
    titles = _substrings(ctx, entries.get("contains_title"), "`contains_title`")
    return {"sources": SourcesCheck(ctx.at(entry.line), count, urls, titles)}


def parse_errors(ctx: _Context, entry: _Entry) -> _Part:
    """``errors: {contains: quota}`` expects error chunks; ``errors: null`` lets any pass."""
    head = _counted_entries(ctx, entry, "errors", ERRORS_KEYS, ("contains",))
    if head is None:
        return {"errors": None}
    entries, count = head
    contains = _substrings(ctx, entries.get("contains"), "`contains`")
    return {"errors": ErrorsCheck(ctx.at(entry.line), count, contains)}


def parse_unknown_events(ctx: _Context, entry: _Entry) -> _Part:
    """``unknown_events: {types: [brand-new-chunk]}`` or ``{none: true}``: chunks convtest does not know."""
    head = _counted_entries(ctx, entry, "unknown_events", UNKNOWN_EVENTS_KEYS, ("types",))
    if head is None:
        return {"unknown_events": None}
    entries, count = head
    types = _substrings(ctx, entries.get("types"), "`types`")
    return {"unknown_events": UnknownEventsCheck(ctx.at(entry.line), count, types)}


def parse_steps(ctx: _Context, entry: _Entry) -> _Part:
    """``steps: 2`` or ``steps: {min: 1, max: 3}``: the number of ``start-step`` chunks."""
    if entry.value.kind == "null":
        return {"steps": None}
    return {"steps": parse_count(ctx, entry.value, "`steps`")}


def parse_aborted(ctx: _Context, entry: _Entry) -> _Part:
    """``aborted: true`` expects an ``abort`` chunk; without it, an abort fails the turn."""
    if entry.value.kind == "null":
        return {"aborted": None, "aborted_location": None}
    return {"aborted": ctx.boolean(entry.value, "`aborted`"), "aborted_location": ctx.at(entry.line)}


def parse_data(ctx: _Context, entry: _Entry) -> _Part:
    """``data: {session: "{{ session_id }}", weather: {city: Oslo}}``: a part per name, subset match."""
    if entry.value.kind == "null":
        return {"data": ()}
    entries = ctx.mapping(entry.value, "`data`", None)
    if entries is None:
        return {"data": ()}
    if not entries:
        ctx.error(
            "`data` is empty: expected part names with their data, e.g. `session: abc`", entry.value.line
        )
    checks = []
    for key, item in entries.items():
        name = key.removeprefix("data-")
        if not name:
            ctx.error("a data part needs a name after `data-`", item.line)
            continue
        checks.append(DataCheck(name, ctx.plain(item.value, templates=True), ctx.at(item.line)))
    return {"data": tuple(checks)}


# --- a tool call ----------------------------------------------------------------------------------


def parse_tool_error(ctx: _Context, entry: _Entry | None) -> bool | str | None:
    """``error: true`` (the call failed), ``false`` (it did not) or a part of the error text."""
    if entry is None or entry.value.kind == "null":
        return None
    if entry.value.kind == "boolean":
        return bool(entry.value.value)
    expected = "true, false or a part of the error text"
    return ctx.string(entry.value, "tool call `error`", expected=expected, empty_ok=False)


def parse_input_schema(ctx: _Context, entry: _Entry | None) -> Validator | None:
    """A JSON schema (its ``$schema`` picks the draft; 2020-12 by default), checked now."""
    if entry is None or entry.value.kind == "null":
        return None
    if entry.value.kind != "mapping":
        ctx.type_error(entry.value, "`input_schema`", "a JSON schema (a mapping, e.g. `{type: object}`)")
        return None
    import jsonschema  # ~90 ms: paid only by suites that use input_schema
    import jsonschema.validators

    schema = ctx.plain(entry.value)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(part) for part in exc.path)
        at = f" at `{where}`" if where else ""
        ctx.error(
            f"invalid JSON schema in `input_schema`{at}: {exc.message}", _line_at(entry.value, exc.path)
        )
        return None
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _line_at(node: _Node, path: Any) -> int:
    """The line of the deepest node of ``path`` that exists, so the error points at the culprit."""
    line = node.line
    for part in path:
        if node.kind == "mapping" and str(part) in node.entries:
            entry = node.entries[str(part)]
            node, line = entry.value, entry.line
        elif node.kind == "list" and isinstance(part, int) and part < len(node.items):
            node = node.items[part]
            line = node.line
        else:
            break
    return line


# --- a turn ---------------------------------------------------------------------------------------


def parse_timeouts(ctx: _Context, entry: _Entry | None) -> dict[str, float] | None:
    """``timeouts: {first_token: 2, total: 30}``: seconds, overriding the target's for one turn."""
    if entry is None or entry.value.kind == "null":
        return None
    entries = ctx.mapping(entry.value, "`timeouts`", TIMEOUT_KEYS)
    if entries is None:
        return None
    seconds: dict[str, float] = {}
    for key, item in entries.items():
        node = item.value
        if node.kind != "number" or not float(node.value) > 0:
            got = node.text if node.kind == "number" else f"a {node.kind}"
            ctx.error(f"timeout `{key}` must be a number of seconds > 0, got {got}", node.line)
            continue
        seconds[key] = float(node.value)
    return seconds
