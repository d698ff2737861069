"""Which check a YAML key names: the ``convtest.checks`` and ``convtest.text_checks`` entry points.

Keys under ``expect`` are :class:`~convtest.checks.base.CheckKind` s; keys of a text-check
mapping (under ``expect.text`` and ``expect.reasoning``) are
:class:`~convtest.checks.text_model.TextOperator` s. convtest registers its own in its
``pyproject.toml`` exactly as a plugin package does.
"""

from __future__ import annotations

import functools

from convtest.checks.base import CheckKind, Scope
from convtest.checks.text_model import TextOperator
from convtest.entry_points import Plugins
from convtest.exceptions import PluginError

__all__ = ["CHECK_GROUP", "IGNORE_CASE", "TEXT_CHECK_GROUP", "CheckRegistry", "check_registry"]

#: modifies the checks of its text-check mapping, and what they nest; not a check of its own
IGNORE_CASE = "ignore_case"
CHECK_GROUP = "convtest.checks"
TEXT_CHECK_GROUP = "convtest.text_checks"


class CheckRegistry:
    """Every registered check kind and text operator, loaded on first use of its key."""

    def __init__(self) -> None:
        self._kinds = Plugins(
            CHECK_GROUP, CheckKind, "check", kind_name="convtest.checks.CheckKind", problem=_key_problem
        )
        self._operators = Plugins(
            TEXT_CHECK_GROUP,
            TextOperator,
            "text check",
            kind_name="convtest.checks.TextOperator",
            problem=_key_problem,
        )
        self._defaults: list[CheckKind] | None = None
        self._text_mapping_keys = self._operators.names() | {IGNORE_CASE}
        if "text" not in self._kinds.names():
            raise PluginError(
                "convtest's built-in checks are not registered: install convtest "
                "(`pip install convtest`, or `pip install -e .` in a checkout) rather than "
                "putting its folder on sys.path"
            )

    @property
    def kind_keys(self) -> frozenset[str]:
        return self._kinds.names()

    @property
    def operator_keys(self) -> frozenset[str]:
        return self._operators.names()

    @property
    def text_mapping_keys(self) -> frozenset[str]:
        """Every key a text-check mapping may hold: the operators and ``ignore_case``."""
        return self._text_mapping_keys

    def kind(self, key: str) -> CheckKind | None:
        """The kind registered for ``key`` under ``expect``; raises PluginError if it is broken."""
        kind = self._kinds.get(key)
        if kind is not None and kind.key != key:
            raise PluginError(
                f"check `{key}` is registered under another key: its CheckKind says `{kind.key}`"
            )
        return kind

    def all_kinds(self) -> list[CheckKind]:
        """Every kind that loads; a broken plugin is left out here and reported where it is used."""
        kinds = []
        for key in self._kinds:
            try:
                kind = self.kind(key)
            except PluginError:
                continue
            if kind is not None:
                kinds.append(kind)
        return kinds

    def kinds_with_defaults(self, scope: Scope) -> list[CheckKind]:
        """The kinds that check every turn (or conversation) which does not name them."""
        if self._defaults is None:
            self._defaults = [kind for kind in self.all_kinds() if kind.default is not None]
        return [kind for kind in self._defaults if scope in kind.scopes]

    def key_homes(self) -> dict[str, str]:
        """Where each check key belongs, for a key written at the wrong level."""
        homes = dict.fromkeys(self.operator_keys, "under `expect.text`")
        for kind in self.all_kinds():
            homes.update(dict.fromkeys(kind.subkeys, f"under `expect.{kind.key}`"))
        homes.update(dict.fromkeys(self.kind_keys, "under `expect`"))
        return homes

    def operator(self, key: str) -> TextOperator:
        """The text operator for ``key``; the loader only builds text checks with registered keys."""
        operator = self._operators.get(key)
        if operator is None:
            raise PluginError(f"no text check `{key}` is registered")
        return operator


def _key_problem(registered: CheckKind | TextOperator, name: str) -> str:
    if registered.key != name:
        return f"has the key {registered.key!r}: the entry point's name must be the check's key"
    return ""


@functools.cache
def check_registry() -> CheckRegistry:
    """One registry per process: entry points are read once."""
    return CheckRegistry()
