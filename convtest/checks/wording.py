"""How checks word what they expected and what came instead: quoting, excerpts, compact JSON.

Shared by every built-in check so failures read alike; a plugin may use it too. Descriptions
are built on failure only, so nothing here runs on a passing turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Final

from convtest.exceptions import TemplateRenderError
from convtest.secrets import current, hide, redact_value
from convtest.templating import Template, Value
from convtest.transcript import ToolCall

__all__ = [
    "CALLS_SHOWN",
    "TEXT_SHOWN",
    "OperandError",
    "call_list",
    "calls_actual",
    "excerpt",
    "format_call",
    "json_text",
    "pattern_text",
    "plural",
    "quote",
    "quote_all",
    "regex_text",
    "render",
    "template_text",
]

#: texts longer than this are shown as head … tail, with their length
TEXT_SHOWN: Final = 300
_HEAD: Final = 200
_TAIL: Final = 80
_JSON_SHOWN: Final = 120


class OperandError(Exception):
    """An operand could not be prepared (template, rendered regex): its check fails saying why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def quote(value: str) -> str:
    """A string as a reader expects it: double quotes, non-ASCII kept readable."""
    return json.dumps(value, ensure_ascii=False)


def quote_all(values: Sequence[str]) -> str:
    return ", ".join(quote(value) for value in values)


def excerpt(text: str) -> str:
    """The whole text when short; head … tail and the length when not (answers end with the point).

    Secrets are redacted before the cut, so neither end can show part of one."""
    length, text = len(text), hide(text)
    if len(text) <= TEXT_SHOWN:
        return quote(text)
    return f"{quote(text[:_HEAD] + '…' + text[-_TAIL:])} ({length} chars)"


def template_text(value: Value, context: Mapping[str, Any] | None) -> str:
    """A template rendered for display, or its source when it cannot be rendered."""
    if not isinstance(value, Template):
        return value
    if context is None:
        return value.source
    try:
        return value.render(context)
    except TemplateRenderError:
        return value.source


def _json_default(context: Mapping[str, Any] | None, value: object) -> object:
    return template_text(value, context) if isinstance(value, Template) else str(value)


def json_text(value: Any, context: Mapping[str, Any] | None = None) -> str:
    """Compact one-line JSON, cut at ~120 characters (secrets redacted before the cut)."""
    value = redact_value(value, current())
    try:
        text = json.dumps(value, ensure_ascii=False, default=partial(_json_default, context))
    except (TypeError, ValueError):
        text = repr(value)
    text = hide(text)  # a template rendered on the way may print a secret
    return text if len(text) <= _JSON_SHOWN else text[: _JSON_SHOWN - 1] + "…"


def render(value: Value, context: Mapping[str, Any]) -> str:
    """An operand as the turn sees it; a template that cannot render raises :class:`OperandError`."""
    if not isinstance(value, Template):
        return value
    try:
        return value.render(context)
    except TemplateRenderError as exc:
        # the exception repeats location and source; the failure already shows both its own way
        reason = str(exc).removeprefix(f"{value.location}: template {value.source!r}: ")
        raise OperandError(f"could not render template {quote(value.source)}: {reason}") from None


def regex_text(source: str, ignore_case: bool) -> str:
    return f"/{source}/{'i' if ignore_case else ''}"


def pattern_text(pattern: re.Pattern[str]) -> str:
    return regex_text(pattern.pattern, bool(pattern.flags & re.IGNORECASE))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


#: tool calls (and sources) listed in a failure at most
CALLS_SHOWN: Final = 10


def format_call(call: ToolCall) -> str:
    """``name(input={…}) → {…}``, or ``→ error "…"`` when the call failed."""
    text = f"{call.name}(input={json_text(call.input)})" if call.input is not None else f"{call.name}()"
    if call.error is not None:
        return f"{text} → error {quote(call.error)}"
    return text if call.output is None else f"{text} → {json_text(call.output)}"


def call_list(calls: Sequence[ToolCall]) -> str:
    shown = [format_call(call) for call in calls[:CALLS_SHOWN]]
    if len(calls) > CALLS_SHOWN:
        shown.append(f"… {len(calls) - CALLS_SHOWN} more")
    return f"[{', '.join(shown)}]"


def calls_actual(calls: Sequence[ToolCall]) -> str:
    """What a tool-call failure says came instead."""
    return f"calls were {call_list(calls)}" if calls else "no tool calls"
