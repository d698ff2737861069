"""Reading one target's values from convtest.yaml: ``${VAR}`` interpolation, types, did-you-mean.

:mod:`convtest.config` reads the keys every target has with these; an adapter's ``configure``
hook reads its own options through :class:`TargetOptions`, so both give the same
``convtest.yaml:LINE: target 'x': ...`` messages and keep the same values secret.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from convtest.exceptions import ConfigError, Location

__all__ = [
    "COMMON_TARGET_KEYS",
    "ENV_REF",
    "TargetOptions",
    "filled_in",
    "interpolate",
    "reject_unknown",
    "require_mapping",
    "unknown_key",
]

#: the keys of every target, whatever its adapter; an adapter declares the others it reads
COMMON_TARGET_KEYS = frozenset(
    {"adapter", "base_url", "token", "platform", "headers", "timeouts", "limits", "retries"}
)
#: ``${NAME}`` or ``${NAME:-default}``
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: str, environ: Mapping[str, str], where: str) -> str:
    """``value`` with every ``${VAR}`` filled in; an unset one without default is an error."""
    return filled_in(value, environ, where)[0]


def filled_in(value: str, environ: Mapping[str, str], where: str) -> tuple[str, tuple[str, ...]]:
    """:func:`interpolate`, and the values that came from the environment: each is a secret,
    wherever it went (a ``base_url``, a header, a part of a longer string)."""
    from_env: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            from_env.append(environ[name])
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set (export {name}=...)")

    return ENV_REF.sub(replace, value), tuple(from_env)


def require_mapping(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")


def reject_unknown(data: Mapping[str, Any], allowed: Collection[str], where: str) -> None:
    """The first key not in ``allowed`` is an error naming the closest allowed one."""
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{where}: {unknown_key(key, allowed)}")


def unknown_key(key: object, allowed: Collection[str]) -> str:
    """``unknown key `x` — did you mean `y`?``, or the list of valid keys when none is close."""
    close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
    hint = f" — did you mean `{close[0]}`?" if close else f" (valid keys: {', '.join(sorted(allowed))})"
    return f"unknown key `{key}`{hint}"


class TargetOptions:
    """One target's own options, as its adapter's ``configure`` hook reads them.

    ``raw`` holds the adapter's declared options as written (nothing filled in); the methods
    read them with convtest's messages. A value read from the environment through ``${VAR}``
    is a secret: never written to a report, a golden or a failure text.
    """

    def __init__(
        self,
        *,
        name: str,
        where: str,
        raw: Mapping[str, Any],
        base_url: str,
        environ: Mapping[str, str],
        folder: Path | None = None,
        location: Location | None = None,
        key_wheres: Mapping[str, str] | None = None,
    ) -> None:
        #: the target's name in convtest.yaml
        self.name = name
        #: the prefix of every message about this target: ``convtest.yaml:4: target 'x'``
        self.where = where
        #: the prefix of messages about one key, with the key's own line (see :meth:`at`)
        self._key_wheres = key_wheres or {}
        self.raw = raw
        #: the common ``base_url`` (http or https, no trailing slash), or "" when not given
        self.base_url = base_url
        #: the folder of the file that defines the target: relative paths in options start there
        self.folder = folder
        #: the line of the target's name in that file (None when the file has no lines)
        self.location = location
        self._environ = environ
        #: values to keep out of everything convtest writes
        self.secrets: list[str] = []

    def at(self, key: str) -> str:
        """The prefix of a message about ``key``: ``convtest.yaml:6: target 'x'``, with the line
        of the key itself when the config file gave lines, else :attr:`where`."""
        return self._key_wheres.get(key, self.where)

    def error(self, message: str, key: str | None = None) -> ConfigError:
        """A ConfigError about this target (about its ``key``, at that key's line when given):
        ``convtest.yaml:4: target 'x': <message>``."""
        return ConfigError(f"{self.where if key is None else self.at(key)}: {message}")

    def require_base_url(self, example: str) -> str:
        """``base_url``, which this target's adapter cannot do without."""
        if not self.base_url:
            raise self.error(f"`base_url` is required (e.g. {example})")
        return self.base_url

    def text(self, key: str, default: str = "") -> str:
        """A string (or number) option with ``${VAR}`` filled in."""
        value = self.raw.get(key, default)
        if not isinstance(value, str | int | float):
            raise self.error(f"`{key}` must be a string, got {type(value).__name__}", key)
        return self.interpolate(str(value), f"{self.at(key)}: `{key}`")

    def flag(self, key: str, default: bool) -> bool:
        """A true/false option."""
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"`{key}` must be true or false, got {value!r}", key)
        return value

    def mapping(self, key: str, allowed: Collection[str], where: str | None = None) -> Mapping[str, Any]:
        """A mapping option (empty when absent) whose keys must be among ``allowed``."""
        if key not in self.raw:
            return {}
        value, where = self.raw[key], where or f"{self.at(key)}: `{key}`"
        require_mapping(value, where)
        reject_unknown(value, allowed, where)
        return dict(value)

    def interpolate(self, value: str, where: str, *, secret: bool | None = None) -> str:
        """``value`` with ``${VAR}`` filled in; ``where`` prefixes the unset-variable error.

        The result is a secret when ``secret`` says so, or by default when any of it came from
        the environment (a ``${VAR:-default}`` that fell back to its default is not). Whatever
        ``secret`` says, each value filled in from the environment is one."""
        resolved, from_env = filled_in(value, self._environ, where)
        if from_env if secret is None else secret:
            self._keep(resolved)
        self._keep(*from_env)
        return resolved

    def _keep(self, *values: str) -> None:
        self.secrets.extend(value for value in dict.fromkeys(values) if value and value not in self.secrets)

    def interpolate_tree(self, value: Any, where: str) -> Any:
        """Nested YAML data with ``${VAR}`` filled in in every string; each such string is a secret."""
        if isinstance(value, dict):
            return {key: self.interpolate_tree(item, where) for key, item in value.items()}
        if isinstance(value, list):
            return [self.interpolate_tree(item, where) for item in value]
        if not isinstance(value, str) or not ENV_REF.search(value):
            return value
        return self.interpolate(value, where, secret=True)
