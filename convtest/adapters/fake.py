"""An in-memory adapter for tests of the runner, as httpx's ``MockTransport`` is for clients.

Responses are given as transcripts, as raw SSE bytes (run through the real decoder and
assembler, so a test can write the wire format and get the real errors), as a JSON answer of the
non-streaming endpoint (a ``dict``, read with the default ``response_fields``) or as a
``TargetError`` to raise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from convtest.adapters.base import TurnRequest
from convtest.adapters.json_answer import AnswerError, transcript_from_json
from convtest.adapters.robofy_settings import ResponseFields
from convtest.exceptions import ProtocolError, StreamCutError, TargetError
from convtest.stream import SSEDecoder, TurnAssembler, unended_done
from convtest.transcript import TurnTranscript

__all__ = ["FakeAdapter", "FakeResponse", "transcript_from_sse"]

FakeResponse = TurnTranscript | bytes | dict[str, Any] | TargetError


class FakeAdapter:
    """Answer each turn from a callable or, in order, from a list of responses."""

    def __init__(
        self,
        responses: Callable[[TurnRequest], FakeResponse] | Sequence[FakeResponse],
        *,
        name: str = "fake",
    ) -> None:
        self.name = name
        self._responses = responses
        #: every request received, in order
        self.requests: list[TurnRequest] = []
        self.closed = False

    async def send_turn(self, request: TurnRequest) -> TurnTranscript:
        self.requests.append(request)
        response = self._next(request)
        if isinstance(response, TargetError):
            raise response
        if isinstance(response, bytes):
            return transcript_from_sse(response, request.query, target=self.name)
        if isinstance(response, dict):
            try:
                return transcript_from_json(response, ResponseFields(), request.query)
            except AnswerError as exc:
                raise ProtocolError(f"bad answer: {exc}", target=self.name) from None
        return response if response.user else dataclasses.replace(response, user=request.query)

    async def aclose(self) -> None:
        self.closed = True

    def _next(self, request: TurnRequest) -> FakeResponse:
        if callable(self._responses):
            return self._responses(request)
        turn = len(self.requests)
        if turn > len(self._responses):
            raise AssertionError(
                f"FakeAdapter got turn {turn} ({request.query!r}) "
                f"but was given only {len(self._responses)} responses"
            )
        return self._responses[turn - 1]


def transcript_from_sse(data: bytes, user: str = "", *, target: str = "fake") -> TurnTranscript:
    """Decode a whole SSE body as the Robofy adapter would, with the same errors."""
    decoder, assembler = SSEDecoder(), TurnAssembler()
    assembler.transcript.user = user
    try:
        events = decoder.feed(data)
        for event in [*events, *decoder.close(), *unended_done(decoder)]:
            assembler.feed(event.data, 0.0)
            if assembler.done:
                return assembler.transcript
    except ProtocolError as exc:
        raise ProtocolError(exc.message, target=target, transcript=exc.transcript) from None
    message = f"stream ended before [DONE] after {assembler.event_count} events"
    raise StreamCutError(message, target=target, transcript=assembler.transcript)
