"""The Robofy adapter's own target options (``path``, ``stream``, ``response_fields``, ``auth``,
``pid``, ``chatbot_id``) and the settings its ``configure`` hook reads them into.

Kept apart from :mod:`convtest.adapters.robofy` so that reading a config (and the reference
agent, which speaks the same API) needs no HTTP client library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from convtest.adapters.options import TargetOptions, reject_unknown, require_mapping
from convtest.exceptions import ConfigError
from convtest.secrets import redact
from convtest.targets import Target

__all__ = [
    "CHAT_PATH",
    "ROBOFY_OPTIONS",
    "STREAM_PATH",
    "Handshake",
    "ResponseFields",
    "RobofySettings",
    "configure_robofy",
    "robofy_settings",
]

#: the Robofy endpoints "Send Message (Streaming)" and "Send Message (Non Streaming)"
STREAM_PATH = "/v1/ai-agent/chat/stream"
CHAT_PATH = "/v1/ai-agent/chat"
#: the target keys the Robofy adapter reads beyond the common ones
ROBOFY_OPTIONS = frozenset({"path", "pid", "chatbot_id", "stream", "response_fields", "auth"})

_AUTH_KEYS = frozenset({"handshake"})
_HANDSHAKE_KEYS = frozenset({"path", "url", "method", "body", "token_path"})


@dataclass(frozen=True, slots=True)
class Handshake:
    """Client-token auth: a request made before the first turn whose JSON answer holds a token.

    The token (at the dotted ``token_path``) is sent as ``Authorization: Bearer ...`` with every
    turn, and obtained again, once, when a turn is answered 401.
    """

    url: str
    method: str = "POST"
    #: the JSON body; None sends ``{"pid": ..., "chatbot_id": ...}`` of the target
    body: Mapping[str, Any] | None = None
    token_path: str = "token"


@dataclass(frozen=True, slots=True)
class ResponseFields:
    """Dotted paths into a non-streaming JSON answer (``items.0.text``: numbers index lists).

    The ``tool_*`` paths are relative to one item of the ``tool_calls`` list.
    """

    text: str = "text"
    session_id: str = "session_id"
    message_id: str = "message_id"
    finish_reason: str = "finish_reason"
    #: model steps (a tool step, then a text step...): a stream counts them, an answer must say
    steps: str = "steps"
    error: str = "error"
    tool_calls: str = "tool_calls"
    tool_id: str = "id"
    tool_name: str = "name"
    tool_input: str = "input"
    tool_output: str = "output"
    tool_error: str = "error"


_RESPONSE_FIELD_KEYS = frozenset(ResponseFields.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class RobofySettings:
    """The identifiers the Robofy API needs in every request, and which endpoint to use."""

    #: None: the Robofy endpoint for ``stream`` (see :attr:`endpoint_path`)
    path: str | None = None
    #: False: one JSON answer per turn from the non-streaming endpoint, read with ``response_fields``
    stream: bool = True
    response_fields: ResponseFields = field(default_factory=ResponseFields)
    #: None: the target's ``token`` (if any) is the bearer token of every turn
    handshake: Handshake | None = None
    pid: str = ""
    chatbot_id: str = ""

    @property
    def endpoint_path(self) -> str:
        """``path``, or the streaming / non-streaming chat endpoint, as ``stream`` says."""
        return self.path or (STREAM_PATH if self.stream else CHAT_PATH)


def robofy_settings(target: Target) -> RobofySettings:
    """The target's Robofy settings; the defaults for a target built without any."""
    settings = target.settings
    if settings is None:
        return RobofySettings()
    if not isinstance(settings, RobofySettings):
        raise ConfigError(f"target {target.name!r}: the robofy adapter got settings of another adapter")
    return settings


def configure_robofy(options: TargetOptions) -> RobofySettings:
    """The ``configure`` hook of the ``robofy`` adapter."""
    base_url = options.require_base_url("https://agents.robofy.ai")
    stream = options.flag("stream", True)
    handshake = _handshake(options, options.mapping("auth", _AUTH_KEYS), base_url)
    return RobofySettings(
        path=options.text("path") or None,
        stream=stream,
        response_fields=_response_fields(options),
        handshake=handshake,
        pid=options.text("pid"),
        chatbot_id=options.text("chatbot_id"),
    )


def _response_fields(options: TargetOptions) -> ResponseFields:
    raw = options.mapping("response_fields", _RESPONSE_FIELD_KEYS)
    return ResponseFields(
        **{
            key: _dotted_path(value, f"{options.at('response_fields')}: `response_fields.{key}`")
            for key, value in raw.items()
        }
    )


def _handshake(options: TargetOptions, auth: Mapping[str, Any], base_url: str) -> Handshake | None:
    """``auth.handshake``: ``path`` (under base_url) or ``url``; ``${VAR}`` in the body is a secret."""
    if "handshake" not in auth:
        return None
    raw = auth["handshake"]
    where = f"{options.at('auth')}: `auth.handshake`"
    require_mapping(raw, where)
    reject_unknown(raw, _HANDSHAKE_KEYS, where)
    if ("path" in raw) == ("url" in raw):
        raise ConfigError(f"{where} needs exactly one of `path` (e.g. /v1/ai-agent/chat/handshake) or `url`")
    url = options.interpolate(
        str(raw.get("url") or base_url + str(raw["path"])), f"{where}: url", secret=False
    )
    if not url.startswith(("http://", "https://")):
        shown = redact(repr(url), options.secrets)
        raise ConfigError(f"{where}: the handshake URL must start with http:// or https://, got {shown}")
    method = str(raw.get("method", "POST")).upper()
    if method not in ("GET", "POST", "PUT"):
        raise ConfigError(f"{where}: `method` must be GET, POST or PUT, got {raw['method']!r}")
    body = raw.get("body")
    if body is not None:
        require_mapping(body, f"{where}: `body`")
        body = options.interpolate_tree(body, f"{where}: `body`")
    token_path = _dotted_path(raw.get("token_path", "token"), f"{where}: `token_path`")
    return Handshake(url=url, method=method, body=body, token_path=token_path)


def _dotted_path(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or not all(value.split(".")):
        example = "like `data.answer` or `items.0.text`"
        raise ConfigError(f"{where} must be a dotted path {example}, got {value!r}")
    return value
