"""Targets from convtest.yaml / pyproject.toml: defaults, env interpolation, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from convtest.config import load_config
from convtest.exceptions import ConfigError
from convtest.targets import REFERENCE_TARGET, Timeouts

STAGING = """
default_target: staging
targets:
  staging:
    adapter: robofy
    base_url: https://bots.example.test/
    token: ${BOT_TOKEN}
    pid: ${BOT_PID:-p-default}
    chatbot_id: c1
    headers: {X-Api-Key: "${API_KEY}", X-Team: qa}
    timeouts: {connect: 2, idle: 5}
  other:
    base_url: http://127.0.0.1:1
    token: ${OTHER_TOKEN}
"""


def test_without_any_config_the_reference_agent_is_the_default(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.default_target == REFERENCE_TARGET
    assert config.resolve(None).name == REFERENCE_TARGET


def test_target_values_are_interpolated_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(STAGING)
    target = load_config(tmp_path).resolve(None, {"BOT_TOKEN": "s3cret", "API_KEY": "k-123"})
    assert target.name == "staging"
    assert target.base_url == "https://bots.example.test"
    assert target.token == "s3cret"
    assert target.token_env == ("BOT_TOKEN",)
    assert target.settings.pid == "p-default"
    assert target.headers == {"X-Api-Key": "k-123", "X-Team": "qa"}
    assert target.timeouts == Timeouts(connect=2.0, first_byte=30.0, idle=5.0, total=120.0)
    assert set(target.secrets) == {"s3cret", "k-123"}


def test_only_the_selected_target_needs_its_variables(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(STAGING)
    config = load_config(tmp_path)
    config.resolve("staging", {"BOT_TOKEN": "t", "API_KEY": "k"})  # OTHER_TOKEN unset: fine
    with pytest.raises(ConfigError, match=r"target 'other': `token`: environment variable OTHER_TOKEN"):
        config.resolve("other", {})


def test_unknown_target_suggests_the_close_name(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(STAGING)
    with pytest.raises(ConfigError, match=r"unknown target 'stagin' — did you mean 'staging'\?"):
        load_config(tmp_path).resolve("stagin", {})


def test_unknown_key_in_a_target_suggests_the_right_one(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text("targets:\n  t:\n    base_ulr: http://x\n")
    with pytest.raises(ConfigError, match=r"target 't': unknown key `base_ulr` — did you mean `base_url`\?"):
        load_config(tmp_path).resolve("t", {})


def test_bad_timeout_and_missing_base_url_are_reported(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(
        "targets:\n  t:\n    base_url: http://x\n    timeouts: {idle: -1}\n"
    )
    with pytest.raises(ConfigError, match=r"timeout `idle` must be a positive number"):
        load_config(tmp_path).resolve("t", {})
    (tmp_path / "convtest.yaml").write_text("targets:\n  t:\n    token: x\n")
    with pytest.raises(ConfigError, match=r"`base_url` is required"):
        load_config(tmp_path).resolve("t", {})


def test_pyproject_section_is_read_when_there_is_no_convtest_yaml(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.convtest]\ndefault_target = "prod"\n[tool.convtest.targets.prod]\nbase_url = "http://127.0.0.1:2"\n'
    )
    config = load_config(tmp_path)
    assert config.source == "pyproject.toml [tool.convtest]"
    assert config.resolve(None, {}).base_url == "http://127.0.0.1:2"


def test_default_target_must_exist(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text("default_target: nope\n")
    config = load_config(tmp_path)
    with pytest.raises(ConfigError, match=r"`default_target`: unknown target 'nope'"):
        config.resolve(None, {})
    assert config.resolve(REFERENCE_TARGET, {}).name == REFERENCE_TARGET


def test_errors_name_the_line_of_the_key_in_convtest_yaml(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(STAGING)
    config = load_config(tmp_path)
    with pytest.raises(ConfigError, match=r"^convtest\.yaml:14: target .other.: `token`: environment"):
        config.resolve("other", {})
    (tmp_path / "convtest.yaml").write_text(
        "targets:\n  a:\n    base_url: http://x\n  t:\n    base_ulr: http://x\n"
    )
    with pytest.raises(ConfigError, match=r"(?m)^convtest\.yaml:5: target 't': unknown key `base_ulr`"):
        load_config(tmp_path).resolve("t", {})
    (tmp_path / "convtest.yaml").write_text("\ndefault_target: nope\n")
    with pytest.raises(ConfigError, match=r"^convtest\.yaml:2: `default_target`: unknown target 'nope'"):
        load_config(tmp_path).resolve(None, {})


def test_size_limits_have_defaults_and_can_be_raised(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(
        "targets:\n  t:\n    base_url: http://x\n"
        "    limits: {max_event_bytes: 4096, max_turn_bytes: 65536, max_events: 50, max_in_flight: 2}\n"
        "  u:\n    base_url: http://y\n"
    )
    config = load_config(tmp_path)
    raised, default = config.resolve("t", {}), config.resolve("u", {})
    assert (raised.max_event_bytes, raised.max_turn_bytes, raised.max_events) == (4096, 65536, 50)
    assert raised.max_in_flight == 2
    assert (default.max_event_bytes, default.max_turn_bytes, default.max_events) == (2**20, 2**24, 100_000)


@pytest.mark.parametrize("value", ["0", "1.5", "'big'", "true"])
def test_a_size_limit_must_be_a_positive_whole_number(tmp_path: Path, value: str) -> None:
    (tmp_path / "convtest.yaml").write_text(
        f"targets:\n  t:\n    base_url: http://x\n    limits: {{max_turn_bytes: {value}}}\n"
    )
    with pytest.raises(
        ConfigError, match=r"target 't': `limits.max_turn_bytes` must be a whole number of at least 1"
    ):
        load_config(tmp_path).resolve("t", {})


def test_a_misspelt_size_limit_suggests_the_right_one(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(
        "targets:\n  t:\n    base_url: http://x\n    limits: {max_event: 9}\n"
    )
    with pytest.raises(ConfigError, match=r"`limits`: unknown key `max_event` — did you mean `max_events`\?"):
        load_config(tmp_path).resolve("t", {})


def test_a_mistake_in_one_target_leaves_the_others_usable(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(
        "targets:\n  good:\n    base_url: http://x\n  bad:\n    base_url: http://y\n    adaptor: robofy\n"
    )
    config = load_config(tmp_path)
    assert config.resolve("good", {}).base_url == "http://x"
    assert config.resolve(REFERENCE_TARGET, {}).name == REFERENCE_TARGET
    with pytest.raises(ConfigError, match=r"^convtest\.yaml:6: target 'bad': unknown key `adaptor`"):
        config.resolve("bad", {})


def test_every_mistake_of_a_target_is_listed_in_line_order(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(
        "targets:\n  t:\n    base_url: http://x\n    tokn: x\n    timeouts: {idel: 1}\n"
        "    retries:\n      max: -1\n    headers:\n      X-A: [1]\n      X-B: true\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path).resolve("t", {})
    assert str(raised.value).splitlines() == [
        "convtest.yaml:4: target 't': unknown key `tokn` — did you mean `token`?",
        "convtest.yaml:5: target 't': `timeouts`: unknown key `idel` — did you mean `idle`?",
        "convtest.yaml:7: target 't': `retries.max` must be a whole number of at least 0, got -1",
        "convtest.yaml:9: target 't': header 'X-A' must be a string, got list",
        "convtest.yaml:10: target 't': header 'X-B' must be a string, got boolean",
    ]


def test_header_numbers_are_sent_as_written(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(
        "targets:\n  t:\n    base_url: http://x\n    headers: {X-Version: 1.10, X-Id: 0012}\n"
    )
    assert load_config(tmp_path).resolve("t", {}).headers == {"X-Version": "1.10", "X-Id": "0012"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets:\n  t:\n    base_url: http://x\n   token: [\n", r"^convtest\.yaml:4: invalid YAML: "),
        ("targets: [\n", r"^convtest\.yaml:2: invalid YAML: "),
        ("a: &a [*a]\n", r"^convtest\.yaml:1: recursive alias"),
    ],
)
def test_a_broken_convtest_yaml_reads_like_a_broken_suite(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "convtest.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(tmp_path)
    assert "<unicode string>" not in str(raised.value)


def test_a_convtest_yaml_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_bytes(b"targets:\n  t:\n    token: \xff\n")
    with pytest.raises(ConfigError, match=r"^convtest\.yaml:3: not valid UTF-8 \(byte 0xff\)"):
        load_config(tmp_path)


def test_file_level_mistakes_make_every_target_unusable(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text("targest:\n  t:\n    base_url: http://x\n")
    config = load_config(tmp_path)
    with pytest.raises(
        ConfigError, match=r"^convtest\.yaml:1: unknown key `targest` — did you mean `targets`\?"
    ):
        config.resolve(REFERENCE_TARGET, {})


def test_an_empty_convtest_yaml_means_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text("# nothing yet\n")
    assert load_config(tmp_path).resolve(None, {}).name == REFERENCE_TARGET


def test_an_unsupported_tag_makes_only_its_target_unusable(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(
        "targets:\n  t: !!python/object:os.system x\n  u:\n    base_url: http://x\n"
    )
    config = load_config(tmp_path)
    assert config.resolve("u", {}).base_url == "http://x"
    with pytest.raises(
        ConfigError, match=r"(?m)^convtest\.yaml:2: target 't': unsupported YAML tag `!!python"
    ):
        config.resolve("t", {})
