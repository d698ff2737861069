"""Where targets come from: ``convtest.yaml`` or ``[tool.convtest]`` in ``pyproject.toml``.

Targets are kept raw until one is selected, so an unset ``${ENV_VAR}`` only matters for the
target actually used, and the error then names the variable, the key and the file.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from convtest.exceptions import ConfigError
from convtest.targets import REFERENCE_TARGET, Target, Timeouts

__all__ = ["CONFIG_FILE", "Config", "load_config"]

CONFIG_FILE = "convtest.yaml"

_TOP_KEYS = frozenset({"default_target", "targets"})
_TARGET_KEYS = frozenset(
    {"adapter", "base_url", "path", "token", "pid", "chatbot_id", "platform", "headers", "timeouts"}
)
_TIMEOUT_KEYS = frozenset({"connect", "first_byte", "idle", "total"})
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class Config:
    """The targets a run may use; ``resolve`` turns one into a :class:`Target`."""

    source: str = "built-in defaults"
    default_target: str = REFERENCE_TARGET
    raw_targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def target_names(self) -> list[str]:
        return sorted({REFERENCE_TARGET, *self.raw_targets})

    def resolve(self, name: str | None, environ: Mapping[str, str] | None = None) -> Target:
        """The named target (the default when None), with ``${VAR}`` references filled in."""
        name = name or self.default_target
        if name == REFERENCE_TARGET and name not in self.raw_targets:
            return Target(name=REFERENCE_TARGET)
        raw = self.raw_targets.get(name)
        if raw is None:
            raise ConfigError(_unknown_target_message(name, self))
        return _build_target(name, raw, self.source, os.environ if environ is None else environ)


def load_config(rootdir: Path) -> Config:
    """Read ``convtest.yaml``, else ``[tool.convtest]`` of ``pyproject.toml``, else defaults."""
    yaml_path = rootdir / CONFIG_FILE
    if yaml_path.is_file():
        try:
            data = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{CONFIG_FILE}: invalid YAML: {exc}") from None
        return _parse(data or {}, CONFIG_FILE)
    toml_path = rootdir / "pyproject.toml"
    if toml_path.is_file():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"pyproject.toml: invalid TOML: {exc}") from None
        section = data.get("tool", {}).get("convtest")
        if section is not None:
            return _parse(section, "pyproject.toml [tool.convtest]")
    return Config()


def _parse(data: Any, source: str) -> Config:
    _require_mapping(data, source)
    _reject_unknown(data, _TOP_KEYS, source)
    targets = data.get("targets") or {}
    _require_mapping(targets, f"{source}: `targets`")
    for name, raw in targets.items():
        where = f"{source}: target {name!r}"
        _require_mapping(raw, where)
        _reject_unknown(raw, _TARGET_KEYS, where)
        if "timeouts" in raw:
            _require_mapping(raw["timeouts"], f"{where}: `timeouts`")
            _reject_unknown(raw["timeouts"], _TIMEOUT_KEYS, f"{where}: `timeouts`")
    config = Config(source=source, raw_targets=targets)
    default = data.get("default_target", REFERENCE_TARGET)
    if default not in config.target_names:
        raise ConfigError(f"{source}: `default_target`: {_unknown_target_message(default, config)}")
    return Config(source=source, default_target=default, raw_targets=targets)


def _build_target(name: str, raw: Mapping[str, Any], source: str, environ: Mapping[str, str]) -> Target:
    where = f"{source}: target {name!r}"
    secrets: list[str] = []

    def text(key: str, default: str = "", *, secret: bool = False) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: `{key}` must be a string, got {type(value).__name__}")
        resolved = _interpolate(str(value), environ, f"{where}: `{key}`")
        if secret and resolved:
            secrets.append(resolved)
        return resolved

    base_url = text("base_url")
    if not base_url:
        raise ConfigError(f"{where}: `base_url` is required (e.g. https://agents.robofy.ai)")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: `base_url` must start with http:// or https://, got {base_url!r}")
    token = text("token", secret=True) or None
    headers = {
        str(key): _interpolate(str(value), environ, f"{where}: header {key!r}")
        for key, value in (raw.get("headers") or {}).items()
    }
    secrets.extend(value for key, value in headers.items() if _ENV_REF.search(str(raw["headers"][key])))
    return Target(
        name=name,
        adapter=text("adapter", "robofy"),
        base_url=base_url.rstrip("/"),
        path=text("path", "/v1/ai-agent/chat/stream"),
        token=token,
        pid=text("pid"),
        chatbot_id=text("chatbot_id"),
        platform=text("platform", "web"),
        headers=headers,
        timeouts=_timeouts(raw.get("timeouts") or {}, where),
        token_env=tuple(match.group(1) for match in _ENV_REF.finditer(str(raw.get("token", "")))),
        secrets=tuple(secrets),
    )


def _timeouts(raw: Mapping[str, Any], where: str) -> Timeouts:
    values: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{where}: timeout `{key}` must be a positive number of seconds, got {value!r}")
        values[key] = float(value)
    return Timeouts(**values)


def _interpolate(value: str, environ: Mapping[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set (export {name}=...)")

    return _ENV_REF.sub(replace, value)


def _require_mapping(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")


def _reject_unknown(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = (
                f" — did you mean `{close[0]}`?" if close else f" (valid keys: {', '.join(sorted(allowed))})"
            )
            raise ConfigError(f"{where}: unknown key `{key}`{hint}")


def _unknown_target_message(name: str, config: Config) -> str:
    close = difflib.get_close_matches(name, config.target_names, n=1)
    hint = f" — did you mean {close[0]!r}?" if close else ""
    return f"unknown target {name!r}{hint} (defined: {', '.join(config.target_names)}; see {config.source})"
