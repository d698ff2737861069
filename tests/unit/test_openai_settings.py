"""`adapter: openai` targets in convtest.yaml: their own keys, read with file/line messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from convtest.adapters.openai_settings import OpenAISettings, ToolDefinition
from convtest.config import load_config
from convtest.exceptions import ConfigError
from convtest.targets import REFERENCE_OPENAI_TARGET

TARGET = """\
targets:
  gpt:
    adapter: openai
    base_url: https://api.example.test/v1/
    token: ${OPENAI_API_KEY}
    model: gpt-4o-mini
{extra}"""

FULL = """\
    stream: false
    system_prompt: You are the shop's assistant.
    params: {temperature: 0, seed: 7, user: "${TEAM:-qa}"}
    max_tool_rounds: 3
    tools:
      lookup_order:
        description: Look up an order
        parameters:
          type: object
          properties: {order_id: {type: string}}
          required: [order_id]
      ping:
    tool_results:
      lookup_order: {found: true, status: shipped}
    tool_handler: json:loads
"""


def resolve(tmp_path: Path, extra: str, environ: dict[str, str] | None = None) -> OpenAISettings:
    (tmp_path / "convtest.yaml").write_text(TARGET.replace("{extra}", extra))
    target = load_config(tmp_path).resolve(
        "gpt", environ if environ is not None else {"OPENAI_API_KEY": "sk-1"}
    )
    assert isinstance(target.settings, OpenAISettings)
    return target.settings


def test_every_option_is_read_into_the_settings(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(TARGET.replace("{extra}", FULL))
    target = load_config(tmp_path).resolve("gpt", {"OPENAI_API_KEY": "sk-1"})
    settings = target.settings
    assert isinstance(settings, OpenAISettings)
    assert (target.adapter, target.base_url, target.token, target.token_env) == (
        "openai",
        "https://api.example.test/v1",
        "sk-1",
        ("OPENAI_API_KEY",),
    )
    assert (settings.model, settings.stream, settings.max_tool_rounds) == ("gpt-4o-mini", False, 3)
    assert settings.system_prompt == "You are the shop's assistant."
    assert settings.params == {"temperature": 0, "seed": 7, "user": "qa"}
    assert settings.tools[0] == ToolDefinition(
        "lookup_order",
        "Look up an order",
        {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    )
    assert settings.tools[1].to_openai() == {
        "type": "function",
        "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}},
    }
    assert settings.tool_results == {"lookup_order": {"found": True, "status": "shipped"}}
    assert settings.tool_handler is not None and settings.tool_handler_name == "json:loads"


def test_defaults_stream_with_no_tools(tmp_path: Path) -> None:
    settings = resolve(tmp_path, "")
    assert (settings.stream, settings.tools, settings.tool_handler, settings.max_tool_rounds) == (
        True,
        (),
        None,
        8,
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    modle: x\n", "target 'gpt': unknown key `modle` — did you mean `model`?"),
        (
            "    tools: {a: {descripton: x}}\n",
            "`tools`: tool 'a': unknown key `descripton` — did you mean `description`?",
        ),
        (
            "    tools: {a: {parameters: {type: objekt}}}\n",
            "`tools`: tool 'a': `parameters` is not a valid JSON Schema: 'objekt' is not valid",
        ),
        (
            "    tools: {lookup_order: {}}\n    tool_results: {lookup_ordr: {}}\n",
            "`tool_results`: unknown key `lookup_ordr` — did you mean `lookup_order`?",
        ),
        ("    tool_handler: nohandler\n", "`tool_handler` nohandler: expected `module:function`"),
        (
            "    tool_handler: convtest_no_such_module:f\n",
            "`tool_handler` convtest_no_such_module:f: cannot import `convtest_no_such_module`",
        ),
        ("    tool_handler: json:nope\n", "`tool_handler` json:nope: `json` has no function `nope`"),
        ("    params: {stream: false}\n", "`params`: `stream` is set by the adapter itself"),
        ("    max_tool_rounds: 0\n", "`max_tool_rounds` must be a whole number of at least 1, got 0"),
        ("    stream: maybe\n", "`stream` must be true or false, got 'maybe'"),
    ],
)
def test_a_bad_option_is_named_with_its_file_and_target(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(tmp_path, extra)
    # each message is at the line of its key, one of the lines just added
    first = TARGET.split("{extra}")[0].count("\n") + 1
    lines = range(first, first + extra.count("\n"))
    assert any(str(info.value).startswith(f"convtest.yaml:{line}: target 'gpt'") for line in lines)
    assert message in str(info.value)


def test_a_tool_handler_may_be_a_file_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text("async def answer(name, arguments):\n    return {'tool': name}\n")
    settings = resolve(tmp_path, "    tool_handler: tools.py:answer\n")
    assert settings.tool_handler is not None and settings.tool_handler.__name__ == "answer"


def test_model_and_base_url_are_required(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(
        "targets:\n  gpt:\n    adapter: openai\n    base_url: http://x/v1\n"
    )
    with pytest.raises(ConfigError, match=r"target 'gpt': `model` is required \(e.g. model: gpt-4o-mini\)"):
        load_config(tmp_path).resolve("gpt", {})
    (tmp_path / "convtest.yaml").write_text("targets:\n  gpt:\n    adapter: openai\n    model: m\n")
    with pytest.raises(ConfigError, match=r"`base_url` is required \(e.g. https://api.openai.com/v1\)"):
        load_config(tmp_path).resolve("gpt", {})


def test_the_built_in_openai_target_needs_no_config(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert REFERENCE_OPENAI_TARGET in config.target_names
    target = config.resolve(REFERENCE_OPENAI_TARGET)
    assert (target.name, target.adapter, target.base_url) == ("reference-openai", "openai", "")
