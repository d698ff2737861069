"""A failed conversation as a few plain lines: where, what was said, what came, what did not hold.

The output is a plain ``str`` so it survives pytest-xdist and lands unchanged in JUnit XML.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from convtest.checks.base import Failure
from convtest.exceptions import SuiteError
from convtest.golden.text import format_golden_failure, golden_lines
from convtest.models import InvalidConversation
from convtest.printable import printable
from convtest.runner import ConversationResult, TurnResult
from convtest.secrets import redact, redact_value
from convtest.transcript import ToolCall, TurnTranscript

__all__ = ["format_failure", "format_invalid"]

_MAX_TEXT = 400
_MAX_JSON = 160


def format_failure(result: ConversationResult) -> str:
    """The whole story of a failed conversation, ending with what did not hold.

    Secrets are redacted from each text before it is cut to fit, and every control character a
    bot or tool sent is shown as an escape, so a reply can neither leak half a token nor
    rewrite the terminal."""
    conversation = result.conversation
    failed = result.failed_turn
    only_golden = failed is None and not result.failures
    if only_golden and result.golden is not None and result.golden.failed:
        return printable(redact(format_golden_failure(result), result.secrets), lines=True)
    total = len(conversation.turns)
    if failed is None and result.failures:
        what = "failed its conversation checks"
    else:
        what = "failed at " + (f"turn {failed.turn.index} of {total}" if failed else "an unknown turn")
    lines = [
        f"conversation {conversation.name!r} {what} ({conversation.location})",
        f"  target: {result.target}" + _session_note(result),
    ]
    for turn_result in result.turns:
        lines.extend(_turn_lines(turn_result, total, result.secrets))
    if result.failures:
        lines.append(f"  ✗ the whole conversation ({conversation.location})")
        lines.extend(_failure_lines(result.failures))
    lines.extend(printable(line, lines=True) for line in golden_lines(result))
    return redact("\n".join(lines), result.secrets)


def format_invalid(entry: InvalidConversation | SuiteError) -> str:
    """Validation errors of a conversation (or of a whole file), one per line."""
    if isinstance(entry, SuiteError):
        return f"invalid suite: {entry}"
    header = f"invalid conversation {entry.name!r} ({entry.location}):"
    return "\n".join([header, *(f"  ✗ {error}" for error in entry.errors)])


def _session_note(result: ConversationResult) -> str:
    sessions = [t.transcript.session_id for t in result.turns if t.transcript and t.transcript.session_id]
    return f" · session {sessions[-1]}" if sessions else ""


def _turn_lines(turn_result: TurnResult, total: int, secrets: Sequence[str]) -> list[str]:
    turn = turn_result.turn
    mark = "✓" if turn_result.passed else "✗"
    lines = [f"  {mark} turn {turn.index}/{total} ({turn.location})"]
    user = turn_result.user
    lines.append(printable(f"      user: {_clip(user, secrets) if user is not None else '(not sent)'}"))
    transcript = turn_result.transcript
    if transcript is not None:
        shown = _transcript_lines(transcript, detailed=not turn_result.passed, secrets=secrets)
        lines.extend(printable(line) for line in shown)
    if turn_result.error is not None:
        lines.append(printable(f"    ✗ {turn_result.error}", lines=True))
    lines.extend(_failure_lines(turn_result.failures))
    return lines


def _failure_lines(failures: Sequence[Failure]) -> list[str]:
    """A check's own words may span lines (a Python check's traceback); a bot's text in them is
    quoted by the check, and a control character in either is shown, not obeyed."""
    lines = []
    for failure in failures:
        where = f"  ({failure.location})" if failure.location else ""
        lines.append(printable(f"    ✗ expected {failure.check}{where}", lines=True))
        lines.append(printable(f"        but {failure.actual}", lines=True))
    return lines


def _transcript_lines(transcript: TurnTranscript, *, detailed: bool, secrets: Sequence[str]) -> list[str]:
    lines = [f"      bot:  {_clip(transcript.text, secrets) if transcript.text_blocks else '(no text)'}"]
    if not detailed:
        return lines
    if transcript.reasoning_blocks:
        lines.append(f"      reasoning: {_clip(transcript.reasoning, secrets)}")
    lines.extend(f"      tool: {_format_call(call, secrets)}" for call in transcript.tool_calls)
    lines.extend(f"      source: {source.url or source.title or source.id}" for source in transcript.sources)
    if transcript.unknown_events:
        kinds = sorted({str(event.get("type")) for event in transcript.unknown_events})
        lines.append(f"      other events: {', '.join(kinds)}")
    lines.extend(f"      retry: {retry}" for retry in transcript.retries)
    timings = transcript.timings
    facts = [f"finish {transcript.finish_reason or '(none)'}"]
    if timings.first_token_ms is not None:
        facts.append(f"first token {timings.first_token_ms:.0f} ms")
    if timings.total_ms is not None:
        facts.append(f"total {timings.total_ms:.0f} ms")
    if transcript.errors:
        facts.append("error chunks: " + "; ".join(transcript.errors))
    lines.append("      " + " · ".join(facts))
    return lines


def _format_call(call: ToolCall, secrets: Sequence[str]) -> str:
    text = f"{call.name}(input={_json(call.input, secrets)})"
    if call.output is not None:
        text += f" → {_json(call.output, secrets)}"
    if call.error:
        text += f" ✗ {call.error}"
    return text


def _json(value: Any, secrets: Sequence[str]) -> str:
    text = json.dumps(redact_value(value, secrets), ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_JSON else text[: _MAX_JSON - 1] + "…"


def _clip(text: str, secrets: Sequence[str]) -> str:
    flat = redact(text, secrets).replace("\n", "⏎ ")
    if len(flat) <= _MAX_TEXT:
        return flat
    return f"{flat[: _MAX_TEXT - 1]}… ({len(text)} chars)"
