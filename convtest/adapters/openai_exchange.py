"""One model call of an OpenAI-compatible turn over HTTP: a streamed or a whole chat completion.

A turn may take several model calls (the model asks for tools, gets their results, answers),
so the deadlines of every call run from the start of the *turn* (:class:`TurnState`): total
and first_token cover the whole tool loop, as they cover a Robofy stream with tool steps in it.
Every call writes what arrives straight into the turn's transcript, so a fault in the third call
still carries the tool calls of the first two and any text so far. The request, its deadlines
and every fault verdict are :class:`~convtest.adapters.exchange.Exchange`'s.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from typing import Any

import httpx

from convtest.adapters.base import TurnRequest
from convtest.adapters.exchange import Bearer, Exchange, OneDocument
from convtest.adapters.openai_chunks import ChunkAssembler, Completion, CompletionError, completion_from_json
from convtest.exceptions import ProtocolError, StreamCutError
from convtest.stream import (
    DONE,
    MAX_DEPTH,
    ServerSentEvent,
    SSEDecoder,
    nested_too_deeply,
    preview,
    preview_bytes,
)
from convtest.targets import Target
from convtest.transcript import TurnTranscript

__all__ = ["CompletionExchange", "CompletionStreamExchange", "TurnState"]


@dataclass(slots=True)
class TurnState:
    """What the model calls of one turn share: its transcript and the moment it started."""

    transcript: TurnTranscript
    #: on the event loop's clock
    start: float = field(default_factory=lambda: asyncio.get_running_loop().time())


class _CompletionExchange(Exchange):
    """An exchange whose clock and transcript are the turn's, not the call's own."""

    def __init__(
        self,
        target: Target,
        client: httpx.AsyncClient,
        url: str,
        request: TurnRequest,
        body: dict[str, Any],
        bearer: Bearer,
        *,
        turn: TurnState,
    ) -> None:
        self.turn = turn
        #: what this call answered; filled as it arrives
        self.completion = Completion()
        #: the text block this call writes to, once its first text arrived
        self._block: int | None = None
        self._reasoning_block: int | None = None
        super().__init__(target, client, url, request, body, bearer)
        self.start = turn.start
        self.total_deadline = turn.start + self.timeouts.total
        first_token = self.timeouts.first_token
        self.first_token_deadline = math.inf if first_token is None else turn.start + first_token
        self._set_deadline("first_byte", self.timeouts.connect + self.timeouts.first_byte)

    def _new_transcript(self, user: str) -> TurnTranscript:
        return self.turn.transcript

    async def complete(self) -> Completion:
        """Send the request and read the answer; the turn's first byte stays its first call's."""
        first_byte = self.timings.first_byte_ms
        try:
            await self.run()
        finally:
            if first_byte is not None:
                self.timings.first_byte_ms = first_byte
        return self.completion

    def _text_arrived(self, text: str, reasoning: str, errors: list[str]) -> None:
        """New text of this call: into its own block of the turn's transcript (and reasoning
        into its own reasoning block)."""
        transcript = self.transcript
        transcript.errors.extend(errors)
        if reasoning:
            if self._reasoning_block is None:
                self._reasoning_block = len(transcript.reasoning_blocks)
                transcript.reasoning_blocks.append("")
            transcript.reasoning_blocks[self._reasoning_block] += reasoning
        if not text:
            return
        if self._block is None:
            self._block = len(transcript.text_blocks)
            transcript.text_blocks.append("")
        transcript.text_blocks[self._block] += text
        if self.timings.first_token_ms is None:
            self.timings.first_token_ms = self.elapsed_ms()

    def _answer_error(self, problem: str) -> ProtocolError:
        return ProtocolError(
            f"bad answer from {self.url}: {problem}", target=self.target.name, transcript=self.transcript
        )

    def _limit_error(self, problem: str) -> ProtocolError:
        """A limit of the target was passed: the turn ends, keeping what arrived before."""
        return ProtocolError(
            f"{problem}; raise it in convtest.yaml", target=self.target.name, transcript=self.transcript
        )


class CompletionStreamExchange(_CompletionExchange):
    """``stream: true``: chunks as server-sent events, ended by ``data: [DONE]``; the target's
    ``limits`` bound each event, the chunks and the bytes of one model call."""

    content_types = ("text/event-stream",)
    accept = "text/event-stream"

    def __init__(self, target: Target, *args: Any, **kwargs: Any) -> None:
        self.decoder = SSEDecoder(target.max_event_bytes)
        self.assembler = ChunkAssembler()
        super().__init__(target, *args, **kwargs)
        self.completion = self.assembler.completion

    @property
    def finished(self) -> bool:
        return self.assembler.done

    async def read(self, response: httpx.Response) -> None:
        self.transcript.steps += 1
        self.awaiting_body()
        chunks = self.body_pieces(response)
        async for chunk in chunks:
            # fed before the deadline moves: the first text lifts the first_token deadline
            done = self._feed(self.decoder.feed(chunk))
            self.body_chunk()
            if done:
                return
            if self.decoder.too_large is not None:
                raise self._limit_error(
                    f"event {self.decoder.too_large} from {self.url} is larger than "
                    f"limits.max_event_bytes ({self.target.max_event_bytes} bytes)"
                )
        if not self._feed(self.decoder.close()):
            raise self.cut_error()

    def _feed(self, events: list[ServerSentEvent]) -> bool:
        """Fold events into the completion and the transcript; true once ``[DONE]`` has arrived."""
        completion = self.completion
        for event in events:
            if self.assembler.chunk_count >= self.target.max_events and event.data != DONE:
                limit = self.target.max_events
                raise self._limit_error(
                    f"stream from {self.url} has more than limits.max_events ({limit}) chunks"
                )
            text, reasoning, errors = len(completion.text), len(completion.reasoning), len(completion.errors)
            try:
                self.assembler.feed(event.data)
            except CompletionError as exc:
                raise ProtocolError(
                    f"bad event stream from {self.url}: {exc}",
                    target=self.target.name,
                    transcript=self.transcript,
                ) from None
            self._text_arrived(
                completion.text[text:], completion.reasoning[reasoning:], completion.errors[errors:]
            )
            if self.assembler.done:
                self.timings.total_ms = self.elapsed_ms()
                return True
        return False

    def progress(self) -> str:
        text = self.transcript.text
        return f" after {self.assembler.chunk_count} chunks; text so far: {preview(text, 80)}"

    def too_large_error(self) -> ProtocolError:
        return self._limit_error(
            f"stream from {self.url} is larger than limits.max_turn_bytes "
            f"({self.target.max_turn_bytes} bytes) after {self.assembler.chunk_count} chunks"
        )

    def cut_error(self, reason: str = "") -> StreamCutError:
        message = f"stream from {self.url} ended before [DONE] after {self.assembler.chunk_count} chunks"
        if reason:
            message += f" ({reason})"
        if self.decoder.unterminated:
            message += f"; last line cut: {preview_bytes(self.decoder.unterminated, 80)}"
        message += f"; text so far: {preview(self.transcript.text, 80)}"
        return StreamCutError(message, target=self.target.name, transcript=self.transcript)


class CompletionExchange(OneDocument, _CompletionExchange):
    """``stream: false``: one ``chat.completion`` JSON document; each chunk moves the idle deadline."""

    async def read(self, response: httpx.Response) -> None:
        body = await self.whole_body(response)
        self.completion = self._parse(body)
        self.transcript.steps += 1
        completion = self.completion
        self._text_arrived(completion.text, completion.reasoning, completion.errors)
        self.timings.total_ms = self.elapsed_ms()
        self.document_read = True

    def _parse(self, body: bytearray) -> Completion:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise self._answer_error(
                f"the answer is not valid JSON ({exc}): {preview_bytes(body, 120)}"
            ) from None
        except RecursionError:
            data = _TOO_DEEP
        if data is _TOO_DEEP or nested_too_deeply(body, data):
            problem = f"the answer is JSON nested more than {MAX_DEPTH} levels deep"
            raise self._answer_error(f"{problem}: {preview_bytes(body, 120)}")
        try:
            return completion_from_json(data)
        except CompletionError as exc:
            raise self._answer_error(str(exc)) from None

    def progress(self) -> str:
        return f" after {self.received} bytes of the answer"

    def too_large_error(self) -> ProtocolError:
        limit = self.target.max_turn_bytes
        return self._answer_error(
            f"the answer is larger than limits.max_turn_bytes ({limit} bytes); raise it in convtest.yaml"
        )

    def cut_error(self, reason: str = "") -> StreamCutError:
        message = f"answer from {self.url} cut after {self.received} bytes" + (
            f" ({reason})" if reason else ""
        )
        return StreamCutError(message, target=self.target.name, transcript=self.transcript)


#: what a parse too deep to finish stands for
_TOO_DEEP = object()
