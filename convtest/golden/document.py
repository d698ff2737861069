"""What a golden transcript holds: per turn, what was said and what came back.

Only what a reviewer should see change: the user message, the reply's text, the tool calls, the
finish reason and error chunks. Timings, message ids, session ids and token counts change on every
run and are left out; secret values are replaced by ``***`` before anything is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from convtest.secrets import redact_value
from convtest.transcript import ToolCall, TurnTranscript

if TYPE_CHECKING:
    from convtest.runner import ConversationResult

__all__ = ["TURN_FIELDS", "golden_document"]

#: the keys of a golden turn, in file order; ``ignore`` paths start with one of them
TURN_FIELDS: Final = ("user", "text", "text_blocks", "tool_calls", "finish_reason", "errors")


def golden_document(result: ConversationResult) -> dict[str, Any]:
    """The golden of a run: the turns that got a reply (a failed run stops early), secrets redacted."""
    turns = [_turn(turn.user, turn.transcript) for turn in result.turns if turn.transcript is not None]
    document = {"conversation": result.conversation.name, "turns": turns}
    redacted: dict[str, Any] = redact_value(document, result.secrets)
    return redacted


def _turn(user: str | None, transcript: TurnTranscript) -> dict[str, Any]:
    """Empty lists are left out and one text block is just the text, so goldens stay short."""
    turn: dict[str, Any] = {"user": user, "text": transcript.text}
    if len(transcript.text_blocks) > 1:
        turn["text_blocks"] = list(transcript.text_blocks)
    if transcript.tool_calls:
        turn["tool_calls"] = [_call(call) for call in transcript.tool_calls]
    turn["finish_reason"] = transcript.finish_reason
    if transcript.errors:
        turn["errors"] = list(transcript.errors)
    return turn


def _call(call: ToolCall) -> dict[str, Any]:
    data: dict[str, Any] = {"name": call.name, "input": _sorted(call.input)}
    if call.output is not None:
        data["output"] = _sorted(call.output)
    if call.error is not None:
        data["error"] = call.error
    return data


def _sorted(value: Any) -> Any:
    """Object keys sorted: a tool may emit them in any order, and the golden must not churn."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_sorted(item) for item in value]
    return value
