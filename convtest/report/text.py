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
from convtest.runner import ConversationResult, TurnResult
from convtest.secrets import redact
from convtest.transcript import ToolCall, TurnTranscript

__all__ = ["format_failure", "format_invalid"]

_MAX_TEXT = 400
_MAX_JSON = 160


def format_failure(result: ConversationResult) -> str:
    """The whole story of a failed conversation, ending with what did not hold."""
    conversation = result.conversation
    failed = result.failed_turn
    only_golden = failed is None and not result.failures
    if only_golden and result.golden is not None and result.golden.failed:
        return redact(format_golden_failure(result), result.secrets)
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
        lines.extend(_turn_lines(turn_result, total))
    if result.failures:
        lines.append(f"  ✗ the whole conversation ({conversation.location})")
        lines.extend(_failure_lines(result.failures))
    lines.extend(golden_lines(result))
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


def _turn_lines(turn_result: TurnResult, total: int) -> list[str]:
    turn = turn_result.turn
    mark = "✓" if turn_result.passed else "✗"
    lines = [f"  {mark} turn {turn.index}/{total} ({turn.location})"]
    lines.append(f"      user: {_clip(turn_result.user) if turn_result.user is not None else '(not sent)'}")
    transcript = turn_result.transcript
    if transcript is not None:
        lines.extend(_transcript_lines(transcript, detailed=not turn_result.passed))
    if turn_result.error is not None:
        lines.append(f"    ✗ {turn_result.error}")
    lines.extend(_failure_lines(turn_result.failures))
    return lines


def _failure_lines(failures: Sequence[Failure]) -> list[str]:
    lines = []
    for failure in failures:
        where = f"  ({failure.location})" if failure.location else ""
        lines.append(f"    ✗ expected {failure.check}{where}")
        lines.append(f"        but {failure.actual}")
    return lines


def _transcript_lines(transcript: TurnTranscript, *, detailed: bool) -> list[str]:
    lines = [f"      bot:  {_clip(transcript.text) if transcript.text_blocks else '(no text)'}"]
    if not detailed:
        return lines
    if transcript.reasoning_blocks:
        lines.append(f"      reasoning: {_clip(transcript.reasoning)}")
    lines.extend(f"      tool: {_format_call(call)}" for call in transcript.tool_calls)
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


def _format_call(call: ToolCall) -> str:
    text = f"{call.name}(input={_json(call.input)})"
    if call.output is not None:
        text += f" → {_json(call.output)}"
    if call.error:
        text += f" ✗ {call.error}"
    return text


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_JSON else text[: _MAX_JSON - 1] + "…"


def _clip(text: str) -> str:
    flat = text.replace("\n", "⏎ ")
    if len(flat) <= _MAX_TEXT:
        return flat
    return f"{flat[: _MAX_TEXT - 1]}… ({len(text)} chars)"
