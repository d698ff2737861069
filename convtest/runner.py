"""Run one conversation: template each turn, send it, check it, carry the session and saved values.

Knows nothing of HTTP (that is the adapter's) nor of pytest (that is the plugin's); it returns a
:class:`ConversationResult` that the plugin, the library API and the report all read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from convtest.adapters.base import Adapter, TurnRequest
from convtest.checks.base import Failure
from convtest.checks.evaluate import check_conversation, check_turn
from convtest.exceptions import ConvtestError, ProtocolError, TargetError, TemplateRenderError
from convtest.golden.result import GoldenResult
from convtest.models import Conversation, Turn
from convtest.saves import extract_saves
from convtest.secrets import redact_value
from convtest.templating import EnvVars, render_value
from convtest.transcript import Exchange, TurnTranscript

__all__ = ["ConversationResult", "TurnResult", "run_conversation"]


@dataclass(slots=True)
class TurnResult:
    """What one turn sent, what came back and what did not hold."""

    turn: Turn
    #: the user message as sent (templates rendered); None if rendering failed
    user: str | None
    transcript: TurnTranscript | None = None
    failures: list[Failure] = field(default_factory=list)
    #: a fault that stopped the turn before its checks could run (target error, template error)
    error: ConvtestError | None = None
    saved: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.error is None and not self.failures

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able), for reports and for shipping across xdist workers."""
        return {
            "index": self.turn.index,
            "location": str(self.turn.location),
            "user": self.user,
            "passed": self.passed,
            "transcript": self.transcript.to_dict() if self.transcript else None,
            "failures": [_failure_dict(failure) for failure in self.failures],
            "error": str(self.error) if self.error else None,
            "error_type": type(self.error).__name__ if self.error else None,
            "saved": {name: _plain(value) for name, value in self.saved.items()},
        }


def _failure_dict(failure: Failure) -> dict[str, Any]:
    location = str(failure.location) if failure.location else None
    return {"check": failure.check, "actual": failure.actual, "location": location}


@dataclass(slots=True)
class ConversationResult:
    """The outcome of a conversation; it stops at its first failing turn."""

    conversation: Conversation
    target: str
    turns: list[TurnResult] = field(default_factory=list)
    #: conversation-level checks (the conversation's own ``expect``) that did not hold
    failures: list[Failure] = field(default_factory=list)
    duration_s: float = 0.0
    #: env values read by templates: secrets that reports must not show
    secrets: tuple[str, ...] = ()
    #: the golden transcript check (set after the run); None when the conversation is not golden
    golden: GoldenResult | None = None

    @property
    def turns_passed(self) -> bool:
        """Every turn ran and held; the golden check aside."""
        return len(self.turns) == len(self.conversation.turns) and all(t.passed for t in self.turns)

    @property
    def passed(self) -> bool:
        golden_failed = self.golden is not None and self.golden.failed
        return self.turns_passed and not self.failures and not golden_failed

    @property
    def failed_turn(self) -> TurnResult | None:
        return next((turn for turn in self.turns if not turn.passed), None)

    def to_dict(self, *, transcripts: bool = True) -> dict[str, Any]:
        """Plain data with every secret replaced by ``***``. Without ``transcripts`` each turn
        keeps only its index and verdict: what the golden summary needs, at a fraction of the
        memory (pytest keeps every report until the run ends)."""
        conversation = self.conversation
        turns = (
            [turn.to_dict() for turn in self.turns]
            if transcripts
            else [{"index": turn.turn.index, "passed": turn.passed} for turn in self.turns]
        )
        data = {
            "name": conversation.name,
            "location": str(conversation.location),
            "tags": list(conversation.tags),
            "target": self.target,
            "passed": self.passed,
            "duration_s": self.duration_s,
            "turn_count": len(conversation.turns),
            "turns": turns,
            "failures": [_failure_dict(failure) for failure in self.failures],
            "golden": self.golden.to_dict() if self.golden is not None else None,
        }
        return dict(redact_value(data, self.secrets))


def _plain(value: Any) -> Any:
    """Saved values are JSON data already; anything else is shown as text."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


async def run_conversation(
    conversation: Conversation, adapter: Adapter, *, env: EnvVars | None = None
) -> ConversationResult:
    """Run the turns in order on one session; stop at the first turn that fails."""
    env = EnvVars() if env is None else env
    context: dict[str, Any] = {**conversation.vars, "env": env, "session_id": None}
    result = ConversationResult(conversation=conversation, target=adapter.name)
    exchanges: list[Exchange] = []
    started = time.perf_counter()
    try:
        for turn in conversation.turns:
            turn_result = await _run_turn(turn, conversation, adapter, context, exchanges)
            result.turns.append(turn_result)
            if not turn_result.passed:
                break
        else:
            result.failures = check_conversation(conversation.expect, exchanges, context)
    finally:
        result.duration_s = time.perf_counter() - started
        result.secrets = tuple(env.used.values())
    return result


async def _run_turn(
    turn: Turn,
    conversation: Conversation,
    adapter: Adapter,
    context: dict[str, Any],
    exchanges: list[Exchange],
) -> TurnResult:
    """One turn; its exchange joins ``exchanges`` (the conversation so far) once it came back."""
    try:
        user = render_value(turn.user, context)
    except TemplateRenderError as exc:
        return TurnResult(turn=turn, user=None, error=exc)
    unusable = _unusable_session(exchanges, adapter.name)
    if unusable is not None:
        return TurnResult(turn=turn, user=user, error=unusable)
    request = TurnRequest(
        query=user,
        session_id=context["session_id"],
        platform=conversation.platform,
        timeouts=turn.timeouts,
        history=tuple(exchanges),
    )
    try:
        transcript = await adapter.send_turn(request)
    except TargetError as exc:
        return TurnResult(turn=turn, user=user, transcript=exc.transcript, error=exc)
    if transcript.session_id:
        context["session_id"] = transcript.session_id
    exchanges.append(Exchange(user, transcript))
    failures = check_turn(turn.expect, transcript, context, tuple(exchanges))
    saved, save_failures = extract_saves(turn.save, transcript)
    context.update(saved)
    return TurnResult(
        turn=turn, user=user, transcript=transcript, failures=failures + save_failures, saved=saved
    )


def _unusable_session(exchanges: list[Exchange], target: str) -> ProtocolError | None:
    """The previous turn's session id could not be read: this turn, which carries it, cannot run.

    That turn itself passed on what it could show; only the turn that needs the id fails."""
    if not exchanges:
        return None
    problem = exchanges[-1].transcript.invalid.get("session_id")
    if problem is None:
        return None
    message = f"this turn needs the session id of turn {len(exchanges)}, which is unusable: {problem}"
    return ProtocolError(message, target=target)
