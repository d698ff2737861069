"""Test helper: a turn's :class:`Expectation` built from the YAML keys its checks come from."""

from __future__ import annotations

from convtest.checks.base import Check
from convtest.checks.counts import Count
from convtest.checks.finish import FinishReasonCheck, LatencyCheck
from convtest.checks.parts import (
    NO_ERRORS,
    AbortedCheck,
    DataCheck,
    DataChecks,
    ErrorsCheck,
    SourcesCheck,
    StepsCheck,
    UnknownEventsCheck,
)
from convtest.checks.text import TextChecks
from convtest.checks.text_model import TextCheck
from convtest.checks.tools import ToolCheck, ToolChecks
from convtest.exceptions import Location
from convtest.models import Expectation


def expect_fields(
    *,
    text: tuple[TextCheck, ...] = (),
    reasoning: tuple[TextCheck, ...] = (),
    tool_calls: tuple[ToolCheck, ...] = (),
    sources: SourcesCheck | None = None,
    data: tuple[DataCheck, ...] = (),
    errors: ErrorsCheck | None = NO_ERRORS,
    steps: Count | None = None,
    aborted: bool | None = False,
    aborted_location: Location | None = None,
    unknown_events: UnknownEventsCheck | None = None,
    finish_reason: tuple[str, ...] = (),
    finish_reason_location: Location | None = None,
    max_first_token_ms: float | None = None,
    max_total_ms: float | None = None,
    latency_location: Location | None = None,
) -> Expectation:
    """A turn's checks by the YAML keys they come from, in the check kinds' order."""
    checks: list[Check | None] = [
        TextChecks("text", text) if text else None,
        TextChecks("reasoning", reasoning) if reasoning else None,
        ToolChecks(tool_calls) if tool_calls else None,
        sources,
        DataChecks(data) if data else None,
        errors,
        StepsCheck(steps) if steps is not None else None,
        AbortedCheck(aborted, aborted_location) if aborted is not None else None,
        unknown_events,
        FinishReasonCheck(finish_reason, finish_reason_location) if finish_reason else None,
        LatencyCheck(max_first_token_ms, max_total_ms, latency_location)
        if max_first_token_ms is not None or max_total_ms is not None
        else None,
    ]
    return Expectation(tuple(check for check in checks if check is not None))
