"""The ``http`` adapter's own target options, read and checked into :class:`HTTPSettings`.

``request`` (method, url or path, headers, body) is made of Jinja2 templates over the turn,
compiled here so a syntax error or an unknown name fails when the target is configured, with
convtest.yaml's line. ``format`` says how the answer is read: one JSON document through
``response_fields`` (the Robofy adapter's dotted paths), or a stream of events (``sse``,
``ndjson``) through ``events`` rules. The session id may also come from a header or a cookie.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from convtest.adapters.options import TargetOptions, reject_unknown, require_mapping
from convtest.adapters.robofy_settings import ResponseFields
from convtest.exceptions import Location, SuiteError
from convtest.templating import Template, compile_template, templates_in

__all__ = [
    "CONTEXT_NAMES",
    "HTTP_OPTIONS",
    "EventRule",
    "EventRules",
    "HTTPSettings",
    "configure_http",
]

#: the target keys of ``adapter: http`` beyond the common ones
HTTP_OPTIONS: Final = frozenset({"request", "format", "response_fields", "events", "session_id"})
#: the names a request template can read
CONTEXT_NAMES: Final = frozenset({"user", "session_id", "history", "messages", "platform", "turn"})
FORMATS: Final = ("json", "sse", "ndjson")
_REQUEST_KEYS: Final = frozenset({"method", "url", "path", "headers", "body"})
_EVENT_KEYS: Final = frozenset(
    {"text", "tool_call", "finish_reason", "session_id", "message_id", "error", "done"}
)
_RULE_KEYS: Final = frozenset({"path", "when"})
_SESSION_KEYS: Final = frozenset({"header", "cookie"})
_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
_RESPONSE_FIELD_KEYS: Final = frozenset(ResponseFields.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class EventRule:
    """Read ``path`` of every event for which each ``when`` path holds one of its values."""

    #: "" for a ``done`` rule, which reads nothing
    path: str
    when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventRules:
    """Where each part of the answer is in a stream's events (an SSE event is read as
    ``{event, data, id}``, its ``data`` parsed as JSON; an NDJSON line is the object itself).

    ``done`` None: the end of the body ends the answer; else an event matching it must come."""

    text: EventRule | None = None
    tool_call: EventRule | None = None
    finish_reason: EventRule | None = None
    session_id: EventRule | None = None
    message_id: EventRule | None = None
    error: EventRule | None = None
    done: EventRule | None = None


#: the defaults: ``{"text": ...}`` objects, as SSE ``data`` (ended by ``[DONE]``) or NDJSON lines
SSE_RULES: Final = EventRules(
    text=EventRule("data.text"),
    tool_call=EventRule("data.tool_call"),
    finish_reason=EventRule("data.finish_reason"),
    session_id=EventRule("data.session_id"),
    message_id=EventRule("data.message_id"),
    error=EventRule("data.error"),
    done=EventRule("", {"data": ("[DONE]",)}),
)
NDJSON_RULES: Final = EventRules(
    text=EventRule("text"),
    tool_call=EventRule("tool_call"),
    finish_reason=EventRule("finish_reason"),
    session_id=EventRule("session_id"),
    message_id=EventRule("message_id"),
    error=EventRule("error"),
)


@dataclass(frozen=True, slots=True)
class HTTPSettings:
    """One target's request templates and how its answers are read."""

    #: a method, or a template rendering to one
    method: str | Template = "POST"
    #: a whole URL (a template when it reads the turn); ``path`` is joined to ``base_url`` here
    url: str | Template = ""
    headers: Mapping[str, str | Template] = field(default_factory=dict)
    #: None: no body; a string (template): sent as is; anything else: JSON, its strings templates
    body: Any = None
    format: Literal["json", "sse", "ndjson"] = "json"
    response_fields: ResponseFields = field(default_factory=ResponseFields)
    events: EventRules = field(default_factory=EventRules)
    #: the session id from a response header or cookie instead of the answer's body
    session_header: str | None = None
    session_cookie: str | None = None


def configure_http(options: TargetOptions) -> HTTPSettings:
    """The ``configure`` hook of the ``http`` adapter."""
    request = options.mapping("request", _REQUEST_KEYS)
    request = options.interpolate_tree(dict(request), f"{options.where}: `request`")
    location = options.location or Location(options.where, 0)
    compiled = {key: _compile(value, key, location, options) for key, value in request.items()}
    body = compiled.get("body")
    headers = compiled.get("headers") or {}
    require_mapping(headers, f"{options.where}: `request.headers`")
    session = options.mapping("session_id", _SESSION_KEYS)
    if len(session) > 1:
        raise options.error("`session_id` takes one of `header` or `cookie`")
    fmt = options.text("format", "json")
    if fmt not in FORMATS:
        close = difflib.get_close_matches(fmt, FORMATS, n=1)
        hint = f" — did you mean `{close[0]}`?" if close else ""
        raise options.error(f"`format` must be json, sse or ndjson, got {fmt!r}{hint}")
    if fmt == "json" and "events" in options.raw:
        raise options.error(
            "`events` reads a stream: set `format: sse` or `format: ndjson` (or drop `events`)"
        )
    return HTTPSettings(
        method=_method(compiled.get("method", "POST"), options),
        url=_url(compiled, options),
        headers={str(name): value for name, value in headers.items()},
        body=body,
        format=fmt,  # type: ignore[arg-type]
        response_fields=_response_fields(options),
        events=_events(options, SSE_RULES if fmt == "sse" else NDJSON_RULES),
        session_header=_name(session.get("header"), "session_id.header", options),
        session_cookie=_name(session.get("cookie"), "session_id.cookie", options),
    )


def _compile(value: Any, key: str, location: Location, options: TargetOptions) -> Any:
    """Every string inside ``value`` compiled; a syntax error or an unknown name is reported now."""
    if isinstance(value, dict):
        return {name: _compile(item, f"{key}.{name}", location, options) for name, item in value.items()}
    if isinstance(value, list):
        return [_compile(item, f"{key}.{index}", location, options) for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value
    try:
        compiled = compile_template(value, location)
    except SuiteError as exc:
        raise options.error(f"`request.{key}`: {exc.message}") from None
    for template in templates_in(compiled):
        unknown = sorted(template.variables - CONTEXT_NAMES)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(CONTEXT_NAMES), n=1)
            hint = f" — did you mean `{close[0]}`?" if close else ""
            names = ", ".join(sorted(CONTEXT_NAMES))
            raise options.error(
                f"`request.{key}`: unknown name `{unknown[0]}`{hint} (templates read: {names})"
            )
    return compiled


def _method(value: Any, options: TargetOptions) -> str | Template:
    if isinstance(value, Template):
        return value
    method = str(value).upper()
    if method not in _METHODS:
        raise options.error(f"`request.method` must be one of {', '.join(_METHODS)}, got {value!r}")
    return method


def _url(compiled: Mapping[str, Any], options: TargetOptions) -> str | Template:
    if "url" in compiled and "path" in compiled:
        raise options.error("`request` takes `url` or `path` (under base_url), not both")
    if "url" in compiled:
        url = compiled["url"]
    else:
        base = options.require_base_url("http://localhost:8000, or set `request.url`")
        path = compiled.get("path", "")
        if isinstance(path, Template):
            location = options.location or Location(options.where, 0)
            return Template(base + path.source, location)
        url = base + str(path)
    if isinstance(url, str) and not url.startswith(("http://", "https://")):
        raise options.error(f"`request.url` must start with http:// or https://, got {url!r}")
    return url  # type: ignore[no-any-return]


def _response_fields(options: TargetOptions) -> ResponseFields:
    raw = options.mapping("response_fields", _RESPONSE_FIELD_KEYS)
    return ResponseFields(
        **{key: _path(value, f"`response_fields.{key}`", options) for key, value in raw.items()}
    )


def _events(options: TargetOptions, defaults: EventRules) -> EventRules:
    raw = options.mapping("events", _EVENT_KEYS)
    rules = {key: _rule(value, key, options) for key, value in raw.items()}
    return EventRules(**{key: rules.get(key, getattr(defaults, key)) for key in _EVENT_KEYS})


def _rule(value: Any, key: str, options: TargetOptions) -> EventRule | None:
    """A dotted path, ``{path, when}``, or (``done`` only) ``end``: the body's end ends the answer."""
    where = f"`events.{key}`"
    if value is None or (key == "done" and value == "end"):
        return None
    if isinstance(value, str):
        return EventRule(_path(value, where, options))
    if not isinstance(value, dict):
        raise options.error(f"{where} must be a dotted path or a mapping with `path` and `when`")
    reject_unknown(value, _RULE_KEYS, f"{options.where}: {where}")
    when = value.get("when") or {}
    require_mapping(when, f"{options.where}: {where}.when")
    conditions = {
        _path(path, f"{where}.when", options): tuple(
            map(_text, wanted if isinstance(wanted, list) else [wanted])
        )
        for path, wanted in when.items()
    }
    if key == "done":
        if not conditions:
            raise options.error(f"{where} needs `when` (e.g. when: {{type: end}}), or is `end`")
        return EventRule("", conditions)
    return EventRule(_path(value.get("path"), f"{where}.path", options), conditions)


def _path(value: Any, where: str, options: TargetOptions) -> str:
    if not isinstance(value, str) or not value or not all(value.split(".")):
        raise options.error(
            f"{where} must be a dotted path like `data.answer` or `items.0.text`, got {value!r}"
        )
    return value


def _text(value: Any) -> str:
    """A ``when`` value as the events are compared with it: YAML's ``true`` as JSON's."""
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


def _name(value: Any, key: str, options: TargetOptions) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise options.error(f"`{key}` must be a header or cookie name, got {value!r}")
    return value
