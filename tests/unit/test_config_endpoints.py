"""Target options for the other endpoints: ``stream: false``, ``response_fields``, ``auth``,
and the ``first_token`` timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from convtest.adapters.robofy_settings import CHAT_PATH, STREAM_PATH, Handshake, ResponseFields
from convtest.config import load_config
from convtest.exceptions import ConfigError
from convtest.targets import Target


def resolve(tmp_path: Path, target: str, environ: dict[str, str] | None = None) -> Target:
    (tmp_path / "convtest.yaml").write_text(f"targets:\n  bot:\n    base_url: https://bots.example\n{target}")
    return load_config(tmp_path).resolve("bot", environ or {})


def config_error(tmp_path: Path, target: str) -> str:
    with pytest.raises(ConfigError) as info:
        resolve(tmp_path, target)
    return str(info.value)


def test_a_target_streams_from_the_stream_path_by_default(tmp_path: Path) -> None:
    target = resolve(tmp_path, "")
    settings = target.settings
    assert (settings.stream, settings.endpoint_path, settings.handshake, target.timeouts.first_token) == (
        True,
        STREAM_PATH,
        None,
        None,
    )


def test_stream_false_defaults_to_the_non_streaming_path_and_keeps_an_explicit_one(tmp_path: Path) -> None:
    assert resolve(tmp_path, "    stream: false\n").settings.endpoint_path == CHAT_PATH
    assert resolve(tmp_path, "    stream: false\n    path: /v2/chat\n").settings.endpoint_path == "/v2/chat"


def test_response_fields_override_only_the_paths_given(tmp_path: Path) -> None:
    target = resolve(
        tmp_path, "    stream: false\n    response_fields: {text: data.answer, tool_calls: data.calls}\n"
    )
    assert target.settings.response_fields == ResponseFields(text="data.answer", tool_calls="data.calls")


def test_first_token_is_a_timeout_like_the_others(tmp_path: Path) -> None:
    assert resolve(tmp_path, "    timeouts: {first_token: 2.5}\n").timeouts.first_token == 2.5


def test_a_handshake_path_is_under_base_url_and_its_body_reads_the_environment(tmp_path: Path) -> None:
    target = resolve(
        tmp_path,
        "    auth:\n      handshake:\n        path: /v1/token\n"
        "        body: {client: web, secret: '${SECRET}'}\n        token_path: data.token\n",
        {"SECRET": "s3cret"},
    )
    assert target.settings.handshake == Handshake(
        url="https://bots.example/v1/token",
        body={"client": "web", "secret": "s3cret"},
        token_path="data.token",
    )
    assert "s3cret" in target.secrets


def test_a_handshake_url_may_point_elsewhere_with_another_method(tmp_path: Path) -> None:
    target = resolve(tmp_path, "    auth: {handshake: {url: 'https://auth.example/t', method: get}}\n")
    assert target.settings.handshake == Handshake(url="https://auth.example/t", method="GET")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("    stream: no-thanks\n", "`stream` must be true or false, got 'no-thanks'"),
        (
            "    response_fields: {txt: a}\n",
            "`response_fields`: unknown key `txt` — did you mean `text`?",
        ),
        ("    response_fields: {text: 'a..b'}\n", "`response_fields.text` must be a dotted path like"),
        ("    auth: {handshak: {}}\n", "unknown key `handshak`"),
        ("    auth: {handshake: {}}\n", "`auth.handshake` needs exactly one of `path`"),
        ("    auth: {handshake: {path: /t, url: 'https://x'}}\n", "needs exactly one of `path`"),
        ("    auth: {handshake: {path: /t, method: DELETE}}\n", "`method` must be GET, POST or PUT"),
        (
            "    auth: {handshake: {url: 'ftp://x'}}\n",
            "the handshake URL must start with http:// or https://",
        ),
        ("    auth: {handshake: {path: /t, body: [1]}}\n", "`auth.handshake`: `body`: expected a mapping"),
        ("    auth: {handshake: {path: /t, token_pth: a}}\n", "did you mean `token_path`?"),
        ("    auth: {handshake: {path: /t, body: {s: '${NOPE}'}}}\n", "environment variable NOPE is not set"),
        ("    timeouts: {first_token: 0}\n", "timeout `first_token` must be a positive number"),
    ],
)
def test_mistakes_in_endpoint_options_name_the_key(tmp_path: Path, target: str, message: str) -> None:
    assert message in config_error(tmp_path, target)
