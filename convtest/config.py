"""Where targets come from: ``convtest.yaml`` or ``[tool.convtest]`` in ``pyproject.toml``.

Targets are kept raw until one is selected, so an unset ``${ENV_VAR}`` only matters for the
target actually used, and the error then names the variable, the key and the file. A mistake
inside one target makes only that target unusable: the conversations on the others still run,
and those on the broken one fail with every mistake it has, each at its key's line.

The keys every target has are read here; the others belong to the target's adapter, which
declares them and reads them with its ``configure`` hook (:class:`~convtest.adapters.AdapterKind`).
"""

from __future__ import annotations

import difflib
import functools
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from convtest.adapters.base import AdapterKind
from convtest.adapters.discovery import adapter_kind, installed_adapters
from convtest.adapters.options import (
    COMMON_TARGET_KEYS,
    ENV_REF,
    TargetOptions,
    filled_in,
    require_mapping,
    unknown_key,
)
from convtest.config_yaml import key_line, node_problems, read_config_tree, read_suite_limits, to_plain
from convtest.exceptions import ConfigError, Location
from convtest.secrets import redact
from convtest.suite.limits import DEFAULT_LIMITS, SuiteLimits
from convtest.suite.tree import Node
from convtest.targets import (
    REFERENCE_OPENAI_TARGET,
    REFERENCE_TARGET,
    REFERENCE_TARGETS,
    TIMEOUT_KINDS,
    RetryPolicy,
    Target,
    Timeouts,
)

__all__ = ["CONFIG_FILE", "DEFAULT_ADAPTER", "Config", "load_config"]

CONFIG_FILE = "convtest.yaml"
#: the adapter of a target without an ``adapter:`` key
DEFAULT_ADAPTER = "robofy"

_TOP_KEYS = frozenset({"default_target", "targets", "suite_limits"})
_TIMEOUT_KEYS = frozenset(TIMEOUT_KINDS)
_LIMIT_KEYS = frozenset(
    {"max_in_flight", "requests_per_second", "max_event_bytes", "max_turn_bytes", "max_events"}
)
#: the limits that count something, so must be whole numbers
_WHOLE_LIMITS = frozenset({"max_in_flight", "max_event_bytes", "max_turn_bytes", "max_events"})
_RETRY_KEYS = frozenset({"max", "backoff", "max_delay"})
_SECTIONS = (("timeouts", _TIMEOUT_KEYS), ("limits", _LIMIT_KEYS), ("retries", _RETRY_KEYS))
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Config:
    """The targets a run may use; ``resolve`` turns one into a :class:`Target`."""

    source: str = "built-in defaults"
    default_target: str = REFERENCE_TARGET
    raw_targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: the line of each target's name (and of ``default_target``) in convtest.yaml
    lines: Mapping[str, int] = field(default_factory=dict)
    #: each target's mapping as read from convtest.yaml: the line of each of its keys
    nodes: Mapping[str, Node] = field(default_factory=dict)
    #: mistakes of the file as a whole: no target, not even the built-in one, can be trusted
    problems: tuple[str, ...] = ()
    #: mistakes found when the file was read, by the target they make unusable
    target_problems: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: the folder of the config file: adapters resolve relative paths from it (None: the cwd)
    folder: Path | None = None
    #: what one suite file may make convtest do (``suite_limits:``)
    suite_limits: SuiteLimits = DEFAULT_LIMITS

    @property
    def target_names(self) -> list[str]:
        return sorted({*REFERENCE_TARGETS, *self.raw_targets})

    def resolve(self, name: str | None, environ: Mapping[str, str] | None = None) -> Target:
        """The named target (the default when None), with ``${VAR}`` references filled in; a
        ConfigError lists every mistake that makes it unusable, one a line."""
        name = name or self.default_target
        problems = [*self.problems, *self.target_problems.get(name, ())]
        try:
            target = self._target(name, environ, problems)
        except ConfigError as error:
            if not problems:
                raise
            problems += str(error).splitlines()
        if problems:
            raise ConfigError("\n".join(_by_line(list(dict.fromkeys(problems)))))
        return target

    def _target(self, name: str, environ: Mapping[str, str] | None, problems: list[str]) -> Target:
        raw = self.raw_targets.get(name)
        if raw is None and name in REFERENCE_TARGETS:
            return Target(name=name, adapter="openai" if name == REFERENCE_OPENAI_TARGET else DEFAULT_ADAPTER)
        if raw is None or not isinstance(raw, dict):  # the latter is among the problems
            raise ConfigError("\n".join(problems) or self.unknown_target(name))
        env = os.environ if environ is None else environ
        return _build_target(name, raw, self._place(name), env)

    def unknown_target(self, name: str) -> str:
        """``unknown target 'x' — did you mean 'y'? (defined: ...; see convtest.yaml)``."""
        close = difflib.get_close_matches(name, self.target_names, n=1)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        return f"unknown target {name!r}{hint} (defined: {', '.join(self.target_names)}; see {self.source})"

    def _place(self, name: str) -> _Place:
        return _Place(self.source, name, self.lines.get(name), self.nodes.get(name), self.folder)


@dataclass(frozen=True, slots=True)
class _Place:
    """Where messages about one target point: ``convtest.yaml:6: target 'x'``, at the line of
    the key concerned when the file gave lines, else at the target's own."""

    source: str
    name: str
    line: int | None = None
    node: Node | None = None
    #: the folder of the config file (relative paths in options start there)
    folder: Path | None = None

    @property
    def location(self) -> Location | None:
        """The line of the target's name, when the file gave lines."""
        return None if self.line is None else Location(self.source, self.line)

    def at(self, *path: str) -> str:
        line = key_line(self.node, *path) or self.line
        return (
            f"{self.source}:{line}: target {self.name!r}" if line else f"{self.source}: target {self.name!r}"
        )

    def written(self, value: Any, *path: str) -> Any:
        """A number as written (``1.10`` stays "1.10", ``0012`` stays "0012"), else ``value``."""
        node = self.node
        for key in path:
            entry = node.entries.get(key) if node is not None else None
            node = entry.value if entry is not None else None
        return node.text if node is not None and node.kind == "number" else value


def load_config(rootdir: Path) -> Config:
    """Read ``convtest.yaml``, else ``[tool.convtest]`` of ``pyproject.toml``, else defaults.

    Raises only for a file that cannot be read at all; other mistakes are kept on the Config
    and raised by :meth:`Config.resolve` for the targets they concern."""
    yaml_path = rootdir / CONFIG_FILE
    if yaml_path.is_file():
        root = read_config_tree(yaml_path)
        if root is None or root.kind == "null":
            return Config(source=CONFIG_FILE, folder=rootdir)
        return _parse(to_plain(root), CONFIG_FILE, root, rootdir)
    toml_path = rootdir / "pyproject.toml"
    if toml_path.is_file():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"pyproject.toml: invalid TOML: {exc}") from None
        section = data.get("tool", {}).get("convtest")
        if section is not None:
            return _parse(section, "pyproject.toml [tool.convtest]", folder=rootdir)
    return Config()


def _parse(data: Any, source: str, root: Node | None = None, folder: Path | None = None) -> Config:
    """Every mistake is kept: those of the whole file, and those of each target apart."""
    require_mapping(data, f"{source}:{root.line}" if root is not None else source)
    top = root.entries if root is not None else {}

    def at(key: str) -> str:
        return f"{source}:{top[key].line}" if key in top else source

    problems = [f"{source}:{line}: {message}" for message, line in (root.problems if root else ())]
    problems += [f"{at(str(key))}: {unknown_key(key, _TOP_KEYS)}" for key in data if key not in _TOP_KEYS]
    targets = data.get("targets") or {}
    if not isinstance(targets, dict):
        problems.append(f"{at('targets')}: `targets`: expected a mapping, got {type(targets).__name__}")
        targets = {}
    named = top["targets"].value.entries if "targets" in top else {}
    lines = {name: entry.line for name, entry in named.items()}
    if "default_target" in top:
        lines["default_target"] = top["default_target"].line
    nodes = {name: entry.value for name, entry in named.items()}
    config = Config(source, raw_targets=targets, lines=lines, nodes=nodes, folder=folder)
    found = {name: _read_problems(raw, config._place(name)) for name, raw in targets.items()}
    if "targets" in top:  # a problem of the `targets` mapping itself is its target's, if at one's line
        names = {line: name for name, line in lines.items() if name in targets}
        for message, line in node_problems(top["targets"].value, deep=False):
            if line in names:
                found[names[line]].append(f"{config._place(names[line]).at()}: {message}")
            else:
                problems.append(f"{source}:{line}: {message}")
    suite_limits = read_suite_limits(
        top["suite_limits"].value if "suite_limits" in top else None, source, problems
    )
    default = data.get("default_target", REFERENCE_TARGET)
    if not isinstance(default, str):
        kind = type(default).__name__
        problems.append(f"{at('default_target')}: `default_target` must be a target's name, got {kind}")
        default = REFERENCE_TARGET
    elif default not in config.target_names:
        found[default] = [f"{at('default_target')}: `default_target`: {config.unknown_target(default)}"]
    return Config(
        source=source,
        default_target=default,
        raw_targets=targets,
        lines=lines,
        nodes=nodes,
        problems=tuple(_by_line(problems)),
        target_problems={name: tuple(_by_line(messages)) for name, messages in found.items() if messages},
        folder=folder,
        suite_limits=suite_limits,
    )


def _by_line(messages: list[str]) -> list[str]:
    """Messages in the order of their ``file:LINE:`` (stable for those without a line)."""

    def line(message: str) -> int:
        head = message.split(": ", 1)[0].rpartition(":")[2]
        return int(head) if head.isdigit() else 0

    return sorted(messages, key=line)


def _read_problems(raw: Any, place: _Place) -> list[str]:
    """What is wrong with one target as written (its keys and their types), all of it; what
    depends on the environment waits until the target is used."""
    found = [
        f"{place.source}:{line}: target {place.name!r}: {message}" for message, line in _problems_in(place)
    ]
    if not isinstance(raw, dict):
        return [*found, f"{place.at()}: expected a mapping, got {type(raw).__name__}"]
    found += [f"{place.at(key)}: {unknown_key(key, allowed)}" for key, allowed in _unknown_keys(raw)]
    for section, keys in _SECTIONS:
        value = raw.get(section)
        if section not in raw:
            continue
        if not isinstance(value, dict):
            found.append(f"{place.at(section)}: `{section}`: expected a mapping, got {type(value).__name__}")
        else:
            found += [
                f"{place.at(section, key)}: `{section}`: {unknown_key(key, keys)}"
                for key in value
                if key not in keys
            ]
    errors = _Errors()
    no_headers: dict[str, str] = {}
    errors.attempt(lambda: _headers_as_written(raw, place), no_headers)
    return found + errors.messages


def _problems_in(place: _Place) -> list[tuple[str, int]]:
    return node_problems(place.node) if place.node is not None else []


def _unknown_keys(raw: Mapping[str, Any]) -> list[tuple[str, frozenset[str]]]:
    """The keys no one reads: neither a common key nor one the target's adapter declares (when
    the adapter is installed and loads; otherwise the target's error waits until it is used)."""
    if all(key in COMMON_TARGET_KEYS for key in raw):
        return []  # nothing to ask an adapter about: no plugin is imported
    name = raw.get("adapter", DEFAULT_ADAPTER)
    if not isinstance(name, str) or ENV_REF.search(name):
        return []
    try:
        kind = installed_adapters().find(name, "")
    except ConfigError:
        return []
    if kind is None:
        return []
    allowed = COMMON_TARGET_KEYS.union(kind.options)
    return [(str(key), allowed) for key in raw if key not in allowed]


class _Errors:
    """The mistakes of one target, gathered so that all of them are shown at once."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def attempt(self, read: Callable[[], _T], fallback: _T) -> _T:
        try:
            return read()
        except ConfigError as exc:
            self.messages.extend(str(exc).splitlines())
            return fallback

    def raise_any(self) -> None:
        if self.messages:
            raise ConfigError("\n".join(self.messages))


def _build_target(name: str, raw: Mapping[str, Any], place: _Place, environ: Mapping[str, str]) -> Target:
    """Every value of the target; a ConfigError lists all the mistakes, each at its key's line."""
    secrets: list[str] = []
    errors = _Errors()

    def text(key: str, default: str = "", *, secret: bool = False) -> str:
        """A value; what came from the environment in it is a secret (all of it with ``secret``)."""
        value = place.written(raw.get(key, default), key)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"{place.at(key)}: `{key}` must be a string, got {type(value).__name__}")
        resolved, from_env = filled_in(str(value), environ, f"{place.at(key)}: `{key}`")
        if secret and resolved:
            secrets.append(resolved)
        if key != "adapter":  # the name of a plugin, shown in messages about it
            secrets.extend(from_env)
        return resolved

    adapter = errors.attempt(lambda: text("adapter", DEFAULT_ADAPTER), DEFAULT_ADAPTER)
    kind = errors.attempt(lambda: adapter_kind(adapter, place.at("adapter")), None)
    if kind is not None:
        allowed = COMMON_TARGET_KEYS.union(kind.options)
        errors.messages += [
            f"{place.at(str(key))}: {unknown_key(key, allowed)}" for key in raw if key not in allowed
        ]
    failed = len(errors.messages)
    base_url = errors.attempt(lambda: _base_url(text("base_url"), place, secrets), "")
    settings = None
    if kind is not None and len(errors.messages) == failed:
        settings = errors.attempt(lambda: _settings(kind, name, raw, place, base_url, environ, secrets), None)
    token = errors.attempt(lambda: text("token", secret=True), "") or None
    no_headers: dict[str, str] = {}
    headers = errors.attempt(lambda: _headers(raw, place, environ, secrets), no_headers)
    target = Target(
        name=name,
        adapter=adapter,
        base_url=base_url,
        token=token,
        platform=errors.attempt(lambda: text("platform", "web"), "web"),
        headers=headers,
        timeouts=_timeouts(_section(raw, "timeouts"), place, errors),
        settings=settings,
        **_limits(_section(raw, "limits"), place, errors),
        retry=_retries(_section(raw, "retries"), place, errors),
        token_env=tuple(match.group(1) for match in ENV_REF.finditer(str(raw.get("token", "")))),
        secrets=tuple(secrets),
    )
    errors.raise_any()
    return target


def _base_url(base_url: str, place: _Place, secrets: list[str]) -> str:
    if base_url and not base_url.startswith(("http://", "https://")):
        shown = redact(repr(base_url), secrets)  # a ${VAR} part stays secret in the message too
        raise ConfigError(
            f"{place.at('base_url')}: `base_url` must start with http:// or https://, got {shown}"
        )
    return base_url.rstrip("/")


def _headers_as_written(raw: Mapping[str, Any], place: _Place) -> dict[str, str]:
    """``headers:`` names and values as written: a value must be a string or a number."""
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise ConfigError(
            f"{place.at('headers')}: `headers`: expected a mapping, got {type(headers).__name__}"
        )
    errors = _Errors()
    written: dict[str, str] = {}
    for key, value in headers.items():
        value = place.written(value, "headers", str(key))
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            where = place.at("headers", str(key))
            errors.messages.append(f"{where}: header {key!r} must be a string, got {_type_name(value)}")
        written[str(key)] = str(value)
    errors.raise_any()
    return written


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {dict: "mapping", list: "list", type(None): "null"}.get(type(value), type(value).__name__)


def _headers(
    raw: Mapping[str, Any], place: _Place, environ: Mapping[str, str], secrets: list[str]
) -> dict[str, str]:
    """The headers with ``${VAR}`` filled in; a header with any such reference is a secret, and so
    is each value the environment gave."""
    headers: dict[str, str] = {}
    for key, value in _headers_as_written(raw, place).items():
        resolved, from_env = filled_in(value, environ, f"{place.at('headers', key)}: header {key!r}")
        headers[key] = resolved
        secrets.extend((resolved, *from_env) if ENV_REF.search(value) else ())
    return headers


def _settings(
    kind: AdapterKind,
    name: str,
    raw: Mapping[str, Any],
    place: _Place,
    base_url: str,
    environ: Mapping[str, str],
    secrets: list[str],
) -> object:
    """The adapter's own options, read by its ``configure`` hook; what it keeps secret is added."""
    if kind.configure is None:
        return None
    own = {key: value for key, value in raw.items() if key in kind.options}
    wheres = {key: place.at(key) for key in own}
    options = TargetOptions(
        name=name,
        where=place.at(),
        raw=own,
        base_url=base_url,
        environ=environ,
        folder=place.folder,
        location=place.location,
        key_wheres=wheres,
    )
    settings = kind.configure(options)
    secrets.extend(options.secrets)
    return settings


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A section as far as it can be read (its mistakes were found when the file was read)."""
    value = raw.get(name)
    return value if isinstance(value, dict) else {}


def _timeouts(raw: Mapping[str, Any], place: _Place, errors: _Errors) -> Timeouts:
    values: dict[str, float] = {}
    for key, value in raw.items():
        if key not in _TIMEOUT_KEYS:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            where = place.at("timeouts", key)
            errors.messages.append(
                f"{where}: timeout `{key}` must be a positive number of seconds, got {value!r}"
            )
        else:
            values[key] = float(value)
    return Timeouts(**values)


def _limits(raw: Mapping[str, Any], place: _Place, errors: _Errors) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    for key in sorted(_LIMIT_KEYS & set(raw)):
        where = f"{place.at('limits', key)}: `limits.{key}`"
        whole = key in _WHOLE_LIMITS
        read = functools.partial(_number, raw[key], where, whole=whole, minimum=1 if whole else 1e-9)
        limits[key] = errors.attempt(read, None)
    return {key: value for key, value in limits.items() if value is not None}


def _retries(raw: Mapping[str, Any], place: _Place, errors: _Errors) -> RetryPolicy:
    policy: dict[str, Any] = {}
    for key in ("max", "backoff", "max_delay"):
        if key in raw:
            where = f"{place.at('retries', key)}: `retries.{key}`"
            whole = key == "max"
            read = functools.partial(_number, raw[key], where, whole=whole, minimum=0 if whole else 1e-9)
            policy[key] = errors.attempt(read, None)
    return RetryPolicy(**{key: value for key, value in policy.items() if value is not None})


def _number(value: Any, where: str, *, whole: bool = False, minimum: float = 1e-9) -> Any:
    kind = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kind) or value < minimum:
        wanted = "a whole number" if whole else "a number"
        raise ConfigError(f"{where} must be {wanted} of at least {minimum:g}, got {value!r}")
    return value
