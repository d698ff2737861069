"""A turn's answer as a UI message stream: server-sent events ended by ``data: [DONE]``."""

from __future__ import annotations

import httpx

from convtest.adapters.exchange import Exchange, drain
from convtest.exceptions import ProtocolError, StreamCutError
from convtest.stream import (
    DONE,
    ServerSentEvent,
    SSEDecoder,
    TurnAssembler,
    preview,
    preview_bytes,
    unended_done,
)
from convtest.transcript import TurnTranscript

__all__ = ["StreamExchange"]


class StreamExchange(Exchange):
    """Decode the body as it arrives; a cut, a stall or a bad event keeps what came before it."""

    content_types = ("text/event-stream",)
    accept = "text/event-stream"

    def _new_transcript(self, user: str) -> TurnTranscript:
        """The assembler's own transcript: it fills it as events arrive."""
        self.decoder = SSEDecoder(self.target.max_event_bytes)
        self.assembler = TurnAssembler()
        self.assembler.transcript.user = user
        return self.assembler.transcript

    @property
    def transcript(self) -> TurnTranscript:
        return self.assembler.transcript

    @property
    def finished(self) -> bool:
        return self.assembler.done

    async def read(self, response: httpx.Response) -> None:
        self.awaiting_body()
        chunks = self.body_pieces(response)
        async for chunk in chunks:
            # fed before the deadline moves: the first text lifts the first_token deadline
            done = self._feed(self.decoder.feed(chunk))
            self.body_chunk()
            if done:
                await drain(chunks)
                return
            if self.decoder.too_large is not None:
                raise self._limit_error(
                    f"event {self.decoder.too_large} from {self.url} is larger than "
                    f"limits.max_event_bytes ({self.target.max_event_bytes} bytes)"
                )
        if not self._feed([*self.decoder.close(), *unended_done(self.decoder)]):
            raise self.cut_error()

    def _feed(self, events: list[ServerSentEvent]) -> bool:
        """Fold events into the transcript; true once ``[DONE]`` has arrived."""
        if not events:
            return False
        now_ms = self.elapsed_ms()
        for event in events:
            if self.assembler.event_count >= self.target.max_events and event.data != DONE:
                limit = self.target.max_events
                raise self._limit_error(
                    f"stream from {self.url} has more than limits.max_events ({limit}) events"
                )
            try:
                self.assembler.feed(event.data, now_ms)
            except ProtocolError as exc:
                message = f"bad event stream from {self.url}: {exc.message}"
                raise ProtocolError(message, target=self.target.name, transcript=exc.transcript) from None
            if self.assembler.done:
                self.timings.total_ms = now_ms
                return True
        return False

    def progress(self) -> str:
        text = self.assembler.transcript.text
        return f" after {self.assembler.event_count} events; text so far: {preview(text, 80)}"

    def too_large_error(self) -> ProtocolError:
        return self._limit_error(
            f"stream from {self.url} is larger than limits.max_turn_bytes "
            f"({self.target.max_turn_bytes} bytes) after {self.assembler.event_count} events"
        )

    def _limit_error(self, problem: str) -> ProtocolError:
        """A limit of the target was passed: the turn ends, keeping what arrived before."""
        message = f"{problem}; raise it in convtest.yaml"
        return ProtocolError(message, target=self.target.name, transcript=self.assembler.transcript)

    def cut_error(self, reason: str = "") -> StreamCutError:
        message = f"stream from {self.url} ended before [DONE] after {self.assembler.event_count} events"
        if reason:
            message += f" ({reason})"
        if self.decoder.unended is not None:
            message += f"; last event never ended (no blank line): {preview(self.decoder.unended.data, 80)}"
        if self.decoder.unterminated:
            message += f"; last line cut: {preview_bytes(self.decoder.unterminated, 80)}"
        message += f"; text so far: {preview(self.assembler.transcript.text, 80)}"
        return StreamCutError(message, target=self.target.name, transcript=self.assembler.transcript)
