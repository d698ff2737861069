"""Where targets come from: ``convtest.yaml`` or ``[tool.convtest]`` in ``pyproject.toml``.

Targets are kept raw until one is selected, so an unset ``${ENV_VAR}`` only matters for the
target actually used, and the error then names the variable, the key and the file.

The keys every target has are read here; the others belong to the target's adapter, which
declares them and reads them with its ``configure`` hook (:class:`~convtest.adapters.AdapterKind`).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from convtest.adapters.base import AdapterKind
from convtest.adapters.discovery import adapter_kind, installed_adapters
from convtest.adapters.options import (
    COMMON_TARGET_KEYS,
    ENV_REF,
    TargetOptions,
    filled_in,
    reject_unknown,
    require_mapping,
)
from convtest.exceptions import ConfigError, Location
from convtest.secrets import redact
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

_TOP_KEYS = frozenset({"default_target", "targets"})
_TIMEOUT_KEYS = frozenset(TIMEOUT_KINDS)
_LIMIT_KEYS = frozenset(
    {"max_in_flight", "requests_per_second", "max_event_bytes", "max_turn_bytes", "max_events"}
)
#: the limits that count something, so must be whole numbers
_WHOLE_LIMITS = frozenset({"max_in_flight", "max_event_bytes", "max_turn_bytes", "max_events"})
_RETRY_KEYS = frozenset({"max", "backoff", "max_delay"})


@dataclass(frozen=True, slots=True)
class Config:
    """The targets a run may use; ``resolve`` turns one into a :class:`Target`."""

    source: str = "built-in defaults"
    default_target: str = REFERENCE_TARGET
    raw_targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: the line of each target's name (and of ``default_target``) in convtest.yaml
    lines: Mapping[str, int] = field(default_factory=dict)
    #: the folder of the config file: adapters resolve relative paths from it (None: the cwd)
    folder: Path | None = None

    @property
    def target_names(self) -> list[str]:
        return sorted({*REFERENCE_TARGETS, *self.raw_targets})

    def resolve(self, name: str | None, environ: Mapping[str, str] | None = None) -> Target:
        """The named target (the default when None), with ``${VAR}`` references filled in."""
        name = name or self.default_target
        if name in REFERENCE_TARGETS and name not in self.raw_targets:
            return Target(name=name, adapter="openai" if name == REFERENCE_OPENAI_TARGET else DEFAULT_ADAPTER)
        raw = self.raw_targets.get(name)
        if raw is None:
            raise ConfigError(_unknown_target_message(name, self))
        where = f"{_at(self.source, self.lines, name)}: target {name!r}"
        line = self.lines.get(name)
        origin = _Origin(self.folder, None if line is None else Location(self.source, line))
        return _build_target(name, raw, where, os.environ if environ is None else environ, origin)


def load_config(rootdir: Path) -> Config:
    """Read ``convtest.yaml``, else ``[tool.convtest]`` of ``pyproject.toml``, else defaults."""
    yaml_path = rootdir / CONFIG_FILE
    if yaml_path.is_file():
        text = yaml_path.read_text(encoding="utf-8")
        try:
            data, lines = yaml.safe_load(text), _key_lines(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{CONFIG_FILE}: invalid YAML: {exc}") from None
        return dataclasses.replace(_parse(data or {}, CONFIG_FILE, lines), folder=rootdir)
    toml_path = rootdir / "pyproject.toml"
    if toml_path.is_file():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"pyproject.toml: invalid TOML: {exc}") from None
        section = data.get("tool", {}).get("convtest")
        if section is not None:
            return dataclasses.replace(_parse(section, "pyproject.toml [tool.convtest]"), folder=rootdir)
    return Config()


def _key_lines(text: str) -> dict[str, int]:
    """1-based lines of the target names and of ``default_target``, for messages."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[str, int] = {}
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, value in root.value:
        if key.value == "default_target":
            lines["default_target"] = key.start_mark.line + 1
        if key.value == "targets" and isinstance(value, yaml.MappingNode):
            lines.update((str(name.value), name.start_mark.line + 1) for name, _ in value.value)
    return lines


def _at(source: str, lines: Mapping[str, int], key: str) -> str:
    return f"{source}:{lines[key]}" if key in lines else source


def _parse(data: Any, source: str, lines: Mapping[str, int] | None = None) -> Config:
    lines = lines or {}
    require_mapping(data, source)
    reject_unknown(data, _TOP_KEYS, source)
    targets = data.get("targets") or {}
    require_mapping(targets, f"{source}: `targets`")
    for name, raw in targets.items():
        where = f"{_at(source, lines, str(name))}: target {name!r}"
        require_mapping(raw, where)
        _check_keys_early(raw, where)
        for section, keys in (("timeouts", _TIMEOUT_KEYS), ("limits", _LIMIT_KEYS), ("retries", _RETRY_KEYS)):
            if section in raw:
                require_mapping(raw[section], f"{where}: `{section}`")
                reject_unknown(raw[section], keys, f"{where}: `{section}`")
    config = Config(source=source, raw_targets=targets, lines=lines)
    default = data.get("default_target", REFERENCE_TARGET)
    if default not in config.target_names:
        where = _at(source, lines, "default_target")
        raise ConfigError(f"{where}: `default_target`: {_unknown_target_message(default, config)}")
    return Config(source=source, default_target=default, raw_targets=targets, lines=lines)


def _check_keys_early(raw: Mapping[str, Any], where: str) -> None:
    """Reject a misspelt key when the file is read, if the target's adapter can tell (it is
    installed and loads); otherwise the target's error waits until the target is used."""
    if all(key in COMMON_TARGET_KEYS for key in raw):
        return  # nothing to ask an adapter about: no plugin is imported
    name = raw.get("adapter", DEFAULT_ADAPTER)
    if not isinstance(name, str) or ENV_REF.search(name):
        return
    try:
        kind = installed_adapters().find(name, where)
    except ConfigError:
        return
    if kind is not None:
        reject_unknown(raw, COMMON_TARGET_KEYS.union(kind.options), where)


@dataclass(frozen=True, slots=True)
class _Origin:
    """Where a target is written: the folder of its file, and its line there."""

    folder: Path | None = None
    location: Location | None = None


def _build_target(
    name: str, raw: Mapping[str, Any], where: str, environ: Mapping[str, str], origin: _Origin
) -> Target:
    """``where`` names the target in messages: ``convtest.yaml:4: target 'staging'``."""
    secrets: list[str] = []

    def text(key: str, default: str = "", *, secret: bool = False) -> str:
        """A value; what came from the environment in it is a secret (all of it with ``secret``)."""
        value = raw.get(key, default)
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: `{key}` must be a string, got {type(value).__name__}")
        resolved, from_env = filled_in(str(value), environ, f"{where}: `{key}`")
        if secret and resolved:
            secrets.append(resolved)
        if key != "adapter":  # the name of a plugin, shown in messages about it
            secrets.extend(from_env)
        return resolved

    adapter = text("adapter", DEFAULT_ADAPTER)
    kind = adapter_kind(adapter, where)
    reject_unknown(raw, COMMON_TARGET_KEYS.union(kind.options), where)
    base_url = text("base_url")
    if base_url and not base_url.startswith(("http://", "https://")):
        shown = redact(repr(base_url), secrets)  # a ${VAR} part stays secret in the message too
        raise ConfigError(f"{where}: `base_url` must start with http:// or https://, got {shown}")
    base_url = base_url.rstrip("/")
    token = text("token", secret=True) or None
    headers = {}
    for key, value in (raw.get("headers") or {}).items():
        resolved, from_env = filled_in(str(value), environ, f"{where}: header {key!r}")
        headers[str(key)] = resolved
        secrets.extend((resolved, *from_env) if ENV_REF.search(str(value)) else ())
    settings = _settings(kind, name, raw, where, base_url, environ, secrets, origin)
    return Target(
        name=name,
        adapter=adapter,
        base_url=base_url,
        token=token,
        platform=text("platform", "web"),
        headers=headers,
        timeouts=_timeouts(raw.get("timeouts") or {}, where),
        settings=settings,
        **_limits(raw.get("limits") or {}, where),
        retry=_retries(raw.get("retries") or {}, where),
        token_env=tuple(match.group(1) for match in ENV_REF.finditer(str(raw.get("token", "")))),
        secrets=tuple(secrets),
    )


def _settings(
    kind: AdapterKind,
    name: str,
    raw: Mapping[str, Any],
    where: str,
    base_url: str,
    environ: Mapping[str, str],
    secrets: list[str],
    origin: _Origin,
) -> object:
    """The adapter's own options, read by its ``configure`` hook; what it keeps secret is added."""
    if kind.configure is None:
        return None
    own = {key: value for key, value in raw.items() if key in kind.options}
    options = TargetOptions(
        name=name,
        where=where,
        raw=own,
        base_url=base_url,
        environ=environ,
        folder=origin.folder,
        location=origin.location,
    )
    settings = kind.configure(options)
    secrets.extend(options.secrets)
    return settings


def _timeouts(raw: Mapping[str, Any], where: str) -> Timeouts:
    values: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{where}: timeout `{key}` must be a positive number of seconds, got {value!r}")
        values[key] = float(value)
    return Timeouts(**values)


def _limits(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    return {
        key: _number(raw[key], f"{where}: `limits.{key}`", whole=key in _WHOLE_LIMITS)
        for key in sorted(_LIMIT_KEYS)
        if key in raw
    }


def _retries(raw: Mapping[str, Any], where: str) -> RetryPolicy:
    policy: dict[str, Any] = {}
    if "max" in raw:
        policy["max"] = _number(raw["max"], f"{where}: `retries.max`", whole=True, minimum=0)
    for key in ("backoff", "max_delay"):
        if key in raw:
            policy[key] = _number(raw[key], f"{where}: `retries.{key}`")
    return RetryPolicy(**policy)


def _number(value: Any, where: str, *, whole: bool = False, minimum: float = 1e-9) -> Any:
    kind = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kind) or value < minimum:
        wanted = "a whole number" if whole else "a number"
        raise ConfigError(f"{where} must be {wanted} of at least {minimum:g}, got {value!r}")
    return value


def _unknown_target_message(name: str, config: Config) -> str:
    close = difflib.get_close_matches(name, config.target_names, n=1)
    hint = f" — did you mean {close[0]!r}?" if close else ""
    return f"unknown target {name!r}{hint} (defined: {', '.join(config.target_names)}; see {config.source})"
