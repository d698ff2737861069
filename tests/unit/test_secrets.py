"""Secrets never reach what convtest prints or writes, whole or cut; bot text never drives the
terminal (issue 14, items 11 to 14)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

from convtest.adapters import RobofyAdapter
from convtest.adapters.robofy_settings import Handshake, RobofySettings
from convtest.checks.base import Failure
from convtest.checks.wording import excerpt, json_text
from convtest.config import load_config
from convtest.exceptions import ConfigError, HTTPStatusError, Location, TemplateRenderError
from convtest.log_records import guard_log_records
from convtest.printable import printable
from convtest.report.text import format_failure
from convtest.runner import ConversationResult, TurnResult, run_conversation
from convtest.secrets import current, keeping, redact, widen
from convtest.sse_decoder import preview, preview_bytes
from convtest.suite import load_suite_text
from convtest.targets import Target, Timeouts
from convtest.templating import EnvVars, Template
from convtest.transcript import ToolCall, TurnTranscript

TOKEN = "tok-Qv7rZp2LmX9sK4wB8nHc"
CLIENT_TOKEN = "ct-Nb5vF8qW1eT4yU7iO0pA"
HERE = Location("suites/echo.yaml", 4)
SUITE = """\
conversations:
  - name: echo
    turns:
      - user: "Hello"
        expect: {text: {contains: never there}}
"""


def pieces(secret: str, size: int = 8) -> list[str]:
    return [secret[start : start + size] for start in range(len(secret) - size + 1)]


def leaked(text: str, secret: str = TOKEN) -> list[str]:
    return [piece for piece in pieces(secret) if piece in text]


def across(cut: int, secret: str = TOKEN, filler: str = "x") -> str:
    """A text with ``secret`` straddling character ``cut``."""
    return filler * (cut - len(secret) // 2) + secret + filler * 200


def failed_result(transcript: TurnTranscript, secrets: tuple[str, ...] = (TOKEN,)) -> ConversationResult:
    conversation = load_suite_text(SUITE, "suites/echo.yaml").conversations[0]
    result = ConversationResult(conversation=conversation, target="bot", secrets=secrets)
    turn = conversation.turns[0]
    result.turns.append(TurnResult(turn=turn, user="Hello", transcript=transcript, error=None))
    result.turns[0].failures.append(Failure("text contains never there", "it did not", None))
    return result


# --- item 11: redaction before any cut --------------------------------------------------------------


def test_the_failure_text_redacts_a_token_before_cutting_the_reply_at_400_characters() -> None:
    reply = TurnTranscript(text_blocks=[across(400)], finish_reason="stop")
    text = format_failure(failed_result(reply))
    assert leaked(text) == []
    assert "***" in text


def test_tool_inputs_in_the_failure_text_are_redacted_before_they_are_cut() -> None:
    call = ToolCall(id="c1", name="lookup", input={"q": across(160 - 7)}, output={"found": across(160 - 11)})
    reply = TurnTranscript(text_blocks=["ok"], tool_calls=[call], finish_reason="stop")
    assert leaked(format_failure(failed_result(reply))) == []


@pytest.mark.parametrize("cut", [200, 300])
def test_excerpts_redact_before_cutting_head_and_tail(cut: int) -> None:
    with keeping([TOKEN]):
        assert leaked(excerpt(across(cut))) == []
        assert leaked(excerpt("y" * 400 + TOKEN + "z" * 70)) == []  # across the tail's 80


def test_compact_json_redacts_before_cutting() -> None:
    with keeping([TOKEN]):
        assert leaked(json_text({"q": across(120 - 7)})) == []


@pytest.mark.parametrize("limit", [80, 120, 200])
def test_previews_of_bot_text_redact_before_cutting(limit: int) -> None:
    with keeping([TOKEN]):
        assert leaked(preview(across(limit), limit)) == []
        assert leaked(preview_bytes(across(limit).encode() * 50, limit)) == []


def test_a_text_that_arrived_cut_mid_token_loses_the_piece_at_its_end() -> None:
    assert redact("text so far: partial " + TOKEN[:14], [TOKEN]) == "text so far: partial ***"
    assert redact(TOKEN[-12:] + " and on", [TOKEN]) == "*** and on"
    assert redact("partial " + TOKEN[:7], [TOKEN]) == "partial " + TOKEN[:7]  # shorter than a piece


# --- item 12: values that were not redacted ------------------------------------------------------


def run(handler: httpx.MockTransport, target: Target) -> ConversationResult:
    async def main() -> ConversationResult:
        async with httpx.AsyncClient(transport=handler) as client:
            conversation = load_suite_text(SUITE, "suites/echo.yaml").conversations[0]
            return await run_conversation(conversation, RobofyAdapter(target, client), secrets=target.secrets)

    return asyncio.run(main())


def sse(*chunks: object) -> bytes:
    return b"".join(b"data: %s\n\n" % json.dumps(chunk).encode() for chunk in chunks)


def echo_stream(text: str) -> httpx.Response:
    body = (
        sse(
            {"type": "start"},
            {"type": "text-start", "id": "0"},
            {"type": "text-delta", "id": "0", "delta": text},
            {"type": "text-end", "id": "0"},
            {"type": "finish", "finishReason": "stop"},
        )
        + b"data: [DONE]\n\n"
    )
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=httpx.ByteStream(body))


def test_a_client_token_echoed_by_the_bot_is_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/handshake"):
            return httpx.Response(200, stream=httpx.ByteStream(json.dumps({"token": CLIENT_TOKEN}).encode()))
        return echo_stream(f"your token is {request.headers['authorization']}")

    settings = RobofySettings(
        pid="p", chatbot_id="c", handshake=Handshake(url="http://127.0.0.1:9/handshake")
    )
    target = Target(
        name="widget", base_url="http://127.0.0.1:9", token=TOKEN, secrets=(TOKEN,), settings=settings
    )
    result = run(httpx.MockTransport(handler), target)
    assert CLIENT_TOKEN in result.secrets
    text = format_failure(result)
    assert "your token is Bearer ***" in text
    assert leaked(text, CLIENT_TOKEN) == []
    assert leaked(json.dumps(result.to_dict()), CLIENT_TOKEN) == []


def test_a_variable_inside_base_url_or_a_handshake_url_is_a_secret(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text(
        "targets:\n  t:\n    base_url: http://127.0.0.1:9/${TENANT}\n    pid: p\n    chatbot_id: c\n"
        "    auth: {handshake: {url: 'http://127.0.0.1:9/${HS_PATH}/token'}}\n"
    )
    target = load_config(tmp_path).resolve("t", {"TENANT": "tenant-1234", "HS_PATH": "hs-path-987"})
    assert {"tenant-1234", "hs-path-987"} <= set(target.secrets)


def test_log_records_made_during_a_conversation_are_redacted_and_escaped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard_log_records()
    logger = logging.getLogger("httpx")
    with caplog.at_level(logging.INFO, logger="httpx"), keeping(["tenant-1234"]):
        logger.info(
            'HTTP Request: POST %s "HTTP/1.1 200 \x1b]0;owned\x07"', "http://127.0.0.1:9/tenant-1234/chat"
        )
    logger.info("outside a conversation: tenant-1234")
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == 'HTTP Request: POST http://127.0.0.1:9/***/chat "HTTP/1.1 200 \\x1b]0;owned\\x07"'


def test_templates_cannot_reach_the_environment_behind_env() -> None:
    template = Template("{{ env._environ['SECRET'] }}", HERE)
    with pytest.raises(TemplateRenderError, match="unsafe"):
        template.render({"env": EnvVars({"SECRET": "s3cret-value"})})


def test_what_a_template_prints_from_an_env_value_is_a_secret_too() -> None:
    template = Template("Hi {{ env.SECRET | upper }}! {{ name }}", HERE)
    with keeping() as found:
        assert (
            template.render({"env": EnvVars({"SECRET": "s3cret-value"}), "name": "Ann"})
            == "Hi S3CRET-VALUE! Ann"
        )
    assert set(found.values) == {"s3cret-value", "S3CRET-VALUE"}


def test_env_values_a_conversation_names_are_secrets_before_a_template_reads_them() -> None:
    template = Template("{{ env.get('A') }}{{ env['B'] }}{{ env.C | lower }}{{ other.D }}", HERE)
    assert template.env_names == {"A", "B", "C"}


# --- item 13: one minimum length ---------------------------------------------------------------


def test_a_one_character_token_leaves_error_bodies_readable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            500, headers={"content-type": "text/html"}, stream=httpx.ByteStream(b"<html>boom</html>")
        )

    settings = RobofySettings(pid="p", chatbot_id="c")
    target = Target(
        name="bot", base_url="http://127.0.0.1:9", token="h", settings=settings, timeouts=Timeouts()
    )
    result = run(httpx.MockTransport(handler), target)
    error = result.turns[0].error
    assert isinstance(error, HTTPStatusError)
    assert error.body == "<html>boom</html>"
    assert redact("<html>", ["h"]) == "<html>"


def test_an_error_body_is_redacted_before_it_is_cut_at_its_limit() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, stream=httpx.ByteStream(across(2048).encode()))

    settings = RobofySettings(pid="p", chatbot_id="c")
    target = Target(
        name="bot", base_url="http://127.0.0.1:9", token=TOKEN, settings=settings, secrets=(TOKEN,)
    )
    error = run(httpx.MockTransport(handler), target).turns[0].error
    assert isinstance(error, HTTPStatusError)
    assert leaked(error.body) == [] and leaked(str(error)) == []


# --- item 14: escapes shown, not obeyed -----------------------------------------------------------


def test_printable_shows_control_characters_and_keeps_tabs() -> None:
    assert printable("a\tb\x1b[2Jc\rd\x07\x7f\x9b\n") == "a\tb\\x1b[2Jc\\rd\\x07\\x7f\\x9b\\n"
    assert printable("one\ntwo\x1b", lines=True) == "one\ntwo\\x1b"


def test_bot_and_tool_text_cannot_rewrite_the_terminal() -> None:
    hostile = "\x1b]0;owned\x07\x1b[2K\rPASSED\x9b31m"
    call = ToolCall(id="c1", name=f"lookup\n{hostile}", input={"q": hostile}, error=hostile)
    reply = TurnTranscript(text_blocks=[hostile], tool_calls=[call], errors=[hostile], finish_reason="stop")
    text = format_failure(failed_result(reply))
    assert not any(char in text for char in "\x1b\x07\r\x9b")
    assert "\\x1b]0;owned\\x07\\x1b[2K\\rPASSED\\x9b31m" in text
    assert "lookup\\n" in text  # a tool's name cannot start a line of its own


def test_secrets_outside_a_conversation_are_none() -> None:
    assert current() == ()


def test_a_config_mistake_does_not_print_the_variable_that_holds_a_secret(tmp_path: Path) -> None:
    (tmp_path / "convtest.yaml").write_text("targets:\n  t:\n    base_url: ftp://${HOST}/x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path).resolve("t", {"HOST": "secret-host.internal"})
    assert str(caught.value).endswith("`base_url` must start with http:// or https://, got 'ftp://***/x'")


def test_a_window_around_a_match_widens_to_hold_a_secret_whole() -> None:
    text = "a" * 50 + TOKEN + "b" * 50
    assert widen(text, 60, 120, [TOKEN]) == (50, 120)
    assert widen(text, 0, 60, [TOKEN]) == (0, 50 + len(TOKEN))
    assert widen(text, 0, 40, [TOKEN]) == (0, 40)
