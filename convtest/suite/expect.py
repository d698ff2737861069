"""``expect``: each key handed to the check kind registered for it, then one :class:`Expectation`.

A turn's checks are its own keys over ``defaults.expect`` (a turn's key replaces the default's
whole entry, and ``key: null`` turns a default off), plus the checks some kinds apply to every
turn that does not name them (``errors``, ``aborted``), in the kinds' order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from convtest.checks.base import Check, Scope
from convtest.checks.registry import check_registry
from convtest.exceptions import PluginError
from convtest.models import Expectation

if TYPE_CHECKING:
    from convtest.suite.reader import Reader
    from convtest.suite.tree import Entry

__all__ = ["ExpectParts", "build_expectation", "parse_expect"]

#: the check of each ``expect`` key as written; None where the key turns its check off
ExpectParts = Mapping[str, Check | None]


def parse_expect(reader: Reader, entry: Entry | None, scope: Scope = "turn") -> dict[str, Check | None]:
    """Each key's check; a key whose kind does not apply at this ``scope`` is a mistake."""
    if entry is None or entry.value.kind == "null":
        return {}
    registry = check_registry()
    entries = reader.mapping(entry.value, "`expect`", registry.kind_keys) or {}
    parts: dict[str, Check | None] = {}
    for key, item in entries.items():
        try:
            kind = registry.kind(key)
        except PluginError as exc:
            reader.error(exc.args[0], item.line)
            continue
        if kind is None:  # pragma: no cover - the mapping only lets registered keys through
            continue
        if scope not in kind.scopes:
            reader.error(_scope_message(key, scope), item.line)
            continue
        parts[key] = kind.parse(reader, item)
    return parts


def _scope_message(key: str, scope: Scope) -> str:
    if scope == "turn":
        return f"`{key}` checks the whole conversation: put it under the conversation's `expect`"
    keys = sorted(kind.key for kind in check_registry().all_kinds() if "conversation" in kind.scopes)
    where = f"a conversation's `expect` takes {', '.join(keys)}"
    return f"`{key}` checks a turn: put it under a turn's `expect` ({where})"


def build_expectation(*layers: ExpectParts, scope: Scope = "turn") -> Expectation:
    """Later layers win key by key; kinds with a default check add it where no layer names them."""
    merged: dict[str, Check | None] = {}
    for layer in layers:
        merged.update(layer)
    registry = check_registry()
    checks: list[tuple[int, str, Check]] = []
    for with_default in registry.kinds_with_defaults(scope):
        if with_default.key not in merged and with_default.default is not None:
            checks.append((with_default.order, with_default.key, with_default.default))
    for key, check in merged.items():
        kind = registry.kind(key)
        if check is not None and kind is not None:
            checks.append((kind.order, key, check))
    checks.sort(key=lambda item: (item[0], item[1]))
    return Expectation(tuple(check for _, _, check in checks))
