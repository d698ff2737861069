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
from convtest.targets import (
    REFERENCE_TARGET,
    TIMEOUT_KINDS,
    Handshake,
    ResponseFields,
    RetryPolicy,
    Target,
    Timeouts,
)

__all__ = ["CONFIG_FILE", "Config", "load_config"]

CONFIG_FILE = "convtest.yaml"

_TOP_KEYS = frozenset({"default_target", "targets"})
_TARGET_KEYS = frozenset(
    {
        "adapter",
        "base_url",
        "path",
        "token",
        "pid",
        "chatbot_id",
        "platform",
        "headers",
        "timeouts",
        "limits",
        "retries",
        "stream",
        "response_fields",
        "auth",
    }
)
_TIMEOUT_KEYS = frozenset(TIMEOUT_KINDS)
_RESPONSE_FIELD_KEYS = frozenset(ResponseFields.__dataclass_fields__)
_AUTH_KEYS = frozenset({"handshake"})
_HANDSHAKE_KEYS = frozenset({"path", "url", "method", "body", "token_path"})
_LIMIT_KEYS = frozenset({"max_in_flight", "requests_per_second"})
_RETRY_KEYS = frozenset({"max", "backoff", "max_delay"})
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class Config:
    """The targets a run may use; ``resolve`` turns one into a :class:`Target`."""

    source: str = "built-in defaults"
    default_target: str = REFERENCE_TARGET
    raw_targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: the line of each target's name (and of ``default_target``) in convtest.yaml
    lines: Mapping[str, int] = field(default_factory=dict)

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
        where = f"{_at(self.source, self.lines, name)}: target {name!r}"
        return _build_target(name, raw, where, os.environ if environ is None else environ)


def load_config(rootdir: Path) -> Config:
    """Read ``convtest.yaml``, else ``[tool.convtest]`` of ``pyproject.toml``, else defaults."""
    yaml_path = rootdir / CONFIG_FILE
    if yaml_path.is_file():
        text = yaml_path.read_text(encoding="utf-8")
        try:
            data, lines = yaml.safe_load(text), _key_lines(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{CONFIG_FILE}: invalid YAML: {exc}") from None
        return _parse(data or {}, CONFIG_FILE, lines)
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
    _require_mapping(data, source)
    _reject_unknown(data, _TOP_KEYS, source)
    targets = data.get("targets") or {}
    _require_mapping(targets, f"{source}: `targets`")
    for name, raw in targets.items():
        where = f"{_at(source, lines, str(name))}: target {name!r}"
        _require_mapping(raw, where)
        _reject_unknown(raw, _TARGET_KEYS, where)
        for section, keys in (
            ("timeouts", _TIMEOUT_KEYS),
            ("limits", _LIMIT_KEYS),
            ("retries", _RETRY_KEYS),
            ("response_fields", _RESPONSE_FIELD_KEYS),
            ("auth", _AUTH_KEYS),
        ):
            if section in raw:
                _require_mapping(raw[section], f"{where}: `{section}`")
                _reject_unknown(raw[section], keys, f"{where}: `{section}`")
    config = Config(source=source, raw_targets=targets, lines=lines)
    default = data.get("default_target", REFERENCE_TARGET)
    if default not in config.target_names:
        where = _at(source, lines, "default_target")
        raise ConfigError(f"{where}: `default_target`: {_unknown_target_message(default, config)}")
    return Config(source=source, default_target=default, raw_targets=targets, lines=lines)


def _build_target(name: str, raw: Mapping[str, Any], where: str, environ: Mapping[str, str]) -> Target:
    """``where`` names the target in messages: ``convtest.yaml:4: target 'staging'``."""
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
    stream = _flag(raw.get("stream", True), f"{where}: `stream`")
    handshake = _handshake(raw.get("auth") or {}, base_url.rstrip("/"), environ, where, secrets)
    return Target(
        name=name,
        adapter=text("adapter", "robofy"),
        base_url=base_url.rstrip("/"),
        path=text("path") or None,
        stream=stream,
        response_fields=_response_fields(raw.get("response_fields") or {}, where),
        handshake=handshake,
        token=token,
        pid=text("pid"),
        chatbot_id=text("chatbot_id"),
        platform=text("platform", "web"),
        headers=headers,
        timeouts=_timeouts(raw.get("timeouts") or {}, where),
        **_limits(raw.get("limits") or {}, where),
        retry=_retries(raw.get("retries") or {}, where),
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


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    return value


def _dotted_path(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or not all(value.split(".")):
        example = "like `data.answer` or `items.0.text`"
        raise ConfigError(f"{where} must be a dotted path {example}, got {value!r}")
    return value


def _response_fields(raw: Mapping[str, Any], where: str) -> ResponseFields:
    return ResponseFields(
        **{key: _dotted_path(value, f"{where}: `response_fields.{key}`") for key, value in raw.items()}
    )


def _handshake(
    auth: Mapping[str, Any], base_url: str, environ: Mapping[str, str], where: str, secrets: list[str]
) -> Handshake | None:
    """``auth.handshake``: ``path`` (under base_url) or ``url``; ``${VAR}`` in the body is a secret."""
    if "handshake" not in auth:
        return None
    raw = auth["handshake"]
    where = f"{where}: `auth.handshake`"
    _require_mapping(raw, where)
    _reject_unknown(raw, _HANDSHAKE_KEYS, where)
    if ("path" in raw) == ("url" in raw):
        raise ConfigError(f"{where} needs exactly one of `path` (e.g. /v1/ai-agent/chat/handshake) or `url`")
    url = _interpolate(str(raw.get("url") or base_url + str(raw["path"])), environ, f"{where}: url")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: the handshake URL must start with http:// or https://, got {url!r}")
    method = str(raw.get("method", "POST")).upper()
    if method not in ("GET", "POST", "PUT"):
        raise ConfigError(f"{where}: `method` must be GET, POST or PUT, got {raw['method']!r}")
    body = raw.get("body")
    if body is not None:
        _require_mapping(body, f"{where}: `body`")
        body = _interpolate_tree(body, environ, f"{where}: `body`", secrets)
    token_path = _dotted_path(raw.get("token_path", "token"), f"{where}: `token_path`")
    return Handshake(url=url, method=method, body=body, token_path=token_path)


def _interpolate_tree(value: Any, environ: Mapping[str, str], where: str, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {key: _interpolate_tree(item, environ, where, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate_tree(item, environ, where, secrets) for item in value]
    if not isinstance(value, str) or not _ENV_REF.search(value):
        return value
    resolved = _interpolate(value, environ, where)
    secrets.append(resolved)
    return resolved


def _limits(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    return {
        key: _number(raw[key], f"{where}: `limits.{key}`", whole=key == "max_in_flight")
        for key in ("max_in_flight", "requests_per_second")
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
