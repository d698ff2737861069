"""The ``openai`` adapter's own target options and the settings its ``configure`` hook reads them into.

``model``, ``stream``, ``system_prompt``, ``params`` (extra request fields such as
``temperature``), ``tools`` (the definitions the target declares: name -> description and JSON
Schema ``parameters``), and how the target's tool calls are answered: ``tool_results`` (a fixed
result per tool name) and/or ``tool_handler`` (``module:function`` or ``file.py:function``, called with the
tool's name and arguments), within ``max_tool_rounds`` model calls that ask for tools.

Kept apart from :mod:`convtest.adapters.openai` so that reading a config (and the reference
agent, which builds the settings of its built-in target) needs no HTTP client library.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from convtest.adapters.options import TargetOptions, reject_unknown, require_mapping
from convtest.checks.python import import_function
from convtest.exceptions import ConfigError
from convtest.targets import Target

__all__ = [
    "CHAT_COMPLETIONS_PATH",
    "DEFAULT_MAX_TOOL_ROUNDS",
    "OPENAI_OPTIONS",
    "OpenAISettings",
    "ToolDefinition",
    "ToolHandler",
    "configure_openai",
    "openai_settings",
]

#: appended to ``base_url``, which ends in ``/v1`` as OpenAI clients take it
CHAT_COMPLETIONS_PATH = "/chat/completions"
#: model calls that ask for tools, per turn, before the turn fails
DEFAULT_MAX_TOOL_ROUNDS = 8
#: the target keys the openai adapter reads beyond the common ones
OPENAI_OPTIONS = frozenset(
    {"model", "stream", "system_prompt", "params", "tools", "tool_results", "tool_handler", "max_tool_rounds"}
)
_TOOL_KEYS = frozenset({"description", "parameters"})
#: request fields the adapter writes itself: ``params`` may not set them
_OWN_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "tools"})

#: called with the tool's name and its arguments; returns the result (or an awaitable of it)
ToolHandler = Callable[[str, Any], Any | Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A function the target declares to the model: sent as one entry of OpenAI's ``tools``."""

    name: str
    description: str = ""
    #: the JSON Schema of the arguments
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def to_openai(self) -> dict[str, Any]:
        function: dict[str, Any] = {"name": self.name, "parameters": dict(self.parameters)}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}


@dataclass(frozen=True, slots=True)
class OpenAISettings:
    """What the adapter sends besides the conversation, and how it answers tool calls."""

    model: str
    stream: bool = True
    system_prompt: str | None = None
    #: extra fields of every request (``temperature``, ``seed``, ``max_tokens``...)
    params: Mapping[str, Any] = field(default_factory=dict)
    tools: tuple[ToolDefinition, ...] = ()
    #: tool name -> the result every call of it gets
    tool_results: Mapping[str, Any] = field(default_factory=dict)
    #: answers the calls ``tool_results`` does not; None: only ``tool_results`` answer
    tool_handler: ToolHandler | None = None
    #: as written in the config, for messages
    tool_handler_name: str = ""
    max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS


def openai_settings(target: Target) -> OpenAISettings:
    """The target's settings; a target built without any is a configuration error."""
    settings = target.settings
    if not isinstance(settings, OpenAISettings):
        raise ConfigError(f"target {target.name!r}: the openai adapter needs its settings (at least `model`)")
    return settings


def configure_openai(options: TargetOptions) -> OpenAISettings:
    """The ``configure`` hook of the ``openai`` adapter."""
    options.require_base_url("https://api.openai.com/v1")
    model = options.text("model")
    if not model.strip():
        raise options.error("`model` is required (e.g. model: gpt-4o-mini)")  # absent: no line of its own
    handler_name = options.text("tool_handler")
    system_prompt = options.text("system_prompt")
    tools = _tools(options)
    tool_results = _tool_results(options)
    if tools:
        reject_unknown(
            tool_results, {tool.name for tool in tools}, f"{options.at('tool_results')}: `tool_results`"
        )
    return OpenAISettings(
        model=model,
        stream=options.flag("stream", True),
        system_prompt=system_prompt or None,
        params=_params(options),
        tools=tools,
        tool_results=tool_results,
        tool_handler=_handler(options, handler_name) if handler_name else None,
        tool_handler_name=handler_name,
        max_tool_rounds=_rounds(options),
    )


def _params(options: TargetOptions) -> dict[str, Any]:
    if "params" not in options.raw:
        return {}
    where = f"{options.at('params')}: `params`"
    raw = options.raw["params"]
    require_mapping(raw, where)
    own = sorted(_OWN_FIELDS.intersection(raw))
    if own:
        raise ConfigError(f"{where}: `{own[0]}` is set by the adapter itself (use the target's own key)")
    return dict(options.interpolate_tree(raw, where))


def _tools(options: TargetOptions) -> tuple[ToolDefinition, ...]:
    """``tools: {name: {description: ..., parameters: <JSON Schema>}}``."""
    raw = options.raw.get("tools") or {}
    where = f"{options.at('tools')}: `tools`"
    require_mapping(raw, where)
    tools = []
    for name, spec in raw.items():
        at = f"{where}: tool {name!r}"
        spec = {} if spec is None else spec
        require_mapping(spec, at)
        reject_unknown(spec, _TOOL_KEYS, at)
        description = spec.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{at}: `description` must be a string")
        parameters = spec.get("parameters", {"type": "object", "properties": {}})
        require_mapping(parameters, f"{at}: `parameters`")
        try:
            jsonschema.validators.validator_for(parameters).check_schema(parameters)
        except jsonschema.SchemaError as exc:
            raise ConfigError(f"{at}: `parameters` is not a valid JSON Schema: {exc.message}") from None
        tools.append(ToolDefinition(str(name), description, parameters))
    return tuple(tools)


def _tool_results(options: TargetOptions) -> dict[str, Any]:
    raw = options.raw.get("tool_results") or {}
    where = f"{options.at('tool_results')}: `tool_results`"
    require_mapping(raw, where)
    return {str(name): options.interpolate_tree(value, where) for name, value in raw.items()}


def _handler(options: TargetOptions, reference: str) -> ToolHandler:
    """``module:function``, or ``file.py:function`` relative to the config's folder, imported now
    so that a typo fails before any turn is sent."""
    try:
        return import_function(reference, options.folder or Path.cwd(), allow_async=True)
    except ValueError as exc:
        raise options.error(f"`tool_handler` {reference}: {exc}", "tool_handler") from None


def _rounds(options: TargetOptions) -> int:
    value = options.raw.get("max_tool_rounds", DEFAULT_MAX_TOOL_ROUNDS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        message = f"`max_tool_rounds` must be a whole number of at least 1, got {value!r}"
        raise options.error(message, "max_tool_rounds")
    return value
