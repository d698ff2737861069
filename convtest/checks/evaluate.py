"""Evaluating an :class:`~convtest.models.Expectation`: every check runs, so one report lists all
that failed. This runs on every turn: the passing path only compares, and descriptions,
excerpts and JSON are built on failure only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from convtest.checks.base import CheckContext, Exchange, Failure
from convtest.models import Expectation
from convtest.transcript import TurnTranscript

__all__ = ["check_conversation", "check_turn"]


def check_turn(
    expect: Expectation,
    transcript: TurnTranscript,
    variables: Mapping[str, Any],
    conversation: Sequence[Exchange] = (),
) -> list[Failure]:
    """Every failed check of a turn, in the order of the check kinds."""
    context = CheckContext(transcript, variables, conversation)
    return [failure for check in expect.checks for failure in check.evaluate(context)]


def check_conversation(
    expect: Expectation, conversation: Sequence[Exchange], variables: Mapping[str, Any]
) -> list[Failure]:
    """Every failed conversation-level check, evaluated against the whole conversation."""
    if not expect.checks or not conversation:
        return []
    return check_turn(expect, conversation[-1].transcript, variables, conversation)
