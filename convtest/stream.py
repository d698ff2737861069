"""Bytes of a streaming chat response -> server-sent events -> one :class:`TurnTranscript`.

Two pure, incremental stages that know nothing of HTTP, so they are tested at every split point
of the input and reused by every adapter:

* :class:`SSEDecoder` turns arbitrary byte chunks into :class:`ServerSentEvent` records (it
  lives in :mod:`convtest.sse_decoder`, and is imported from here too);
* :class:`TurnAssembler` turns the ``data`` of each event (the AI SDK "UI message stream") into
  a :class:`~convtest.transcript.TurnTranscript`, raising :class:`ProtocolError` on a bad event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from convtest.exceptions import ProtocolError
from convtest.partial_json import parse_partial_json
from convtest.sse_decoder import ServerSentEvent, SSEDecoder, preview, preview_bytes
from convtest.transcript import (
    DataPart,
    FilePart,
    ReasoningPart,
    Source,
    StepStart,
    TextPart,
    ToolCall,
    TurnTranscript,
)

__all__ = [
    "DONE",
    "MAX_DEPTH",
    "SSEDecoder",
    "ServerSentEvent",
    "TurnAssembler",
    "nested_too_deeply",
    "preview",
    "preview_bytes",
    "unended_done",
]

#: the ``data`` of the event that ends a UI message stream
DONE = "[DONE]"

#: the deepest JSON a bot may send: anything deeper would overflow Python's stack further on
#: (the failure text, the report, goldens all walk the values recursively)
MAX_DEPTH = 100


def nested_too_deeply(text: str | bytes | bytearray, data: Any) -> bool:
    """``data``, parsed from ``text``, nests lists and objects more than :data:`MAX_DEPTH` deep."""
    if isinstance(text, str):
        brackets = text.count("[") + text.count("{")
    else:
        brackets = text.count(b"[") + text.count(b"{")
    if brackets <= MAX_DEPTH:
        return False  # the usual case, decided without a walk
    stack: list[tuple[Any, int]] = [(data, 1)] if isinstance(data, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def unended_done(decoder: SSEDecoder) -> list[ServerSentEvent]:
    """The ``data: [DONE]`` a closed decoder holds without its blank line, as a list of 0 or 1.

    Any other event without its blank line is dropped, as the SSE spec and the ``ai`` client drop
    it; ``[DONE]`` is taken, since all it says is that the server finished, and the server did."""
    unended = decoder.unended
    return [unended] if unended is not None and unended.data == DONE else []


_TOO_DEEP = f"is JSON nested more than {MAX_DEPTH} levels deep"

_Chunk = dict[str, Any]
_Handler = Callable[["TurnAssembler", _Chunk], None]
_Block = TextPart | ReasoningPart


class TurnAssembler:
    """Reassemble one turn from the ``data`` of each event of a UI message stream.

    Every chunk type of the protocol (``ai`` 5 and 6) has a handler in a dispatch table and a typed
    home in the transcript; ``data-*`` chunks without a handler of their own become data parts.
    Any other type is kept verbatim in ``unknown_events``, so a new chunk type never fails a run.
    A known chunk without a field the protocol requires is a :class:`ProtocolError`.

    Parts follow the ``ai`` client's ``processUIMessageStream``: a ``text-start`` (or
    ``reasoning-start``) always opens a new part, its id naming the part until its ``-end`` or the
    ``finish-step``; a delta for an id that names no open part opens one (where the client would
    throw); ``start-step`` adds a boundary.
    """

    _handlers: ClassVar[dict[str, _Handler]]

    __slots__ = (
        "_active_reasoning",
        "_active_texts",
        "_current",
        "_data",
        "_elapsed_ms",
        "_inputs",
        "_pieces",
        "_text_encoded",
        "_tools",
        "_transcript",
        "event_count",
    )

    def __init__(self) -> None:
        self._transcript = TurnTranscript()
        #: the deltas of each text or reasoning part, joined when the transcript is read
        self._pieces: dict[int, tuple[_Block, list[str]]] = {}
        #: the open parts by id; ids repeat across blocks and steps
        self._active_texts: dict[str, list[str]] = {}
        self._active_reasoning: dict[str, list[str]] = {}
        self._tools: dict[str, ToolCall] = {}
        #: calls whose input streams as plain text (``inputEncoding: "text"``), not JSON
        self._text_encoded: set[str] = set()
        #: streamed tool input, joined when the transcript is read: ``+=`` on a string held by a
        #: call copies it whole at every delta, which a bot can make quadratic
        self._inputs: dict[str, list[str]] = {}
        #: data parts that have an id, by (name, id): a later chunk replaces the data
        self._data: dict[tuple[str, str], DataPart] = {}
        self._current = ""
        self._elapsed_ms = 0.0
        #: events fed so far, ``[DONE]`` included; error messages number events from 1
        self.event_count = 0

    @property
    def done(self) -> bool:
        return self._transcript.done

    @property
    def transcript(self) -> TurnTranscript:
        """The transcript so far; valid at any moment, so a partial one can go with an error."""
        transcript = self._transcript
        for block, pieces in self._pieces.values():
            block.text = "".join(pieces)
        transcript.text_blocks = [part.text for part in transcript.parts if type(part) is TextPart]
        transcript.reasoning_blocks = [part.text for part in transcript.parts if type(part) is ReasoningPart]
        for call_id, pieces in self._inputs.items():
            call = self._tools[call_id]
            call.input_text = "".join(pieces)
            if call.state == "input-streaming":
                call.input = self._partial_input(call)
        return transcript

    def _partial_input(self, call: ToolCall) -> Any:
        """A streaming input as the client shows it; too deep to walk safely, none at all."""
        if call.id in self._text_encoded:
            return call.input_text
        value = parse_partial_json(call.input_text)
        return None if nested_too_deeply(call.input_text, value) else value

    def feed(self, data: str, elapsed_ms: float) -> None:
        """Fold in one event's data, received ``elapsed_ms`` after the request was sent."""
        self.event_count += 1
        if data == DONE:
            self._transcript.done = True
            return
        self._current = data
        self._elapsed_ms = elapsed_ms
        chunk = self._parse(data)
        kind = chunk["type"]
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(self, chunk)
        elif kind.startswith("data-"):
            self._on_data(chunk)
        else:
            self._transcript.unknown_events.append(chunk)

    def _parse(self, data: str) -> _Chunk:
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise self._error(f"is not valid JSON ({exc})") from None
        except RecursionError:
            raise self._error(_TOO_DEEP) from None
        if nested_too_deeply(data, chunk):
            raise self._error(_TOO_DEEP)
        if not isinstance(chunk, dict) or not isinstance(chunk.get("type"), str):
            raise self._error('is not a JSON object with a string "type"')
        return chunk

    def _error(self, problem: str) -> ProtocolError:
        message = f"event {self.event_count} {problem}: {preview(self._current)}"
        return ProtocolError(message, transcript=self.transcript)

    def _require_str(self, chunk: _Chunk, key: str) -> str:
        value = chunk.get(key)
        if not isinstance(value, str):
            raise self._error(f"({chunk['type']}) has no string {key!r}")
        return value

    # --- message ----------------------------------------------------------------------------

    def _on_start(self, chunk: _Chunk) -> None:
        message_id = chunk.get("messageId")
        if isinstance(message_id, str):
            self._transcript.message_id = message_id
        self._metadata(chunk)

    def _metadata(self, chunk: _Chunk) -> None:
        """Merge ``messageMetadata``; a ``null`` one is ignored, as the client ignores it."""
        if chunk.get("messageMetadata") is not None:
            transcript = self._transcript
            transcript.message_metadata = _merge(transcript.message_metadata, chunk["messageMetadata"])

    def _on_message_metadata(self, chunk: _Chunk) -> None:
        self._metadata(chunk)

    def _on_start_step(self, chunk: _Chunk) -> None:
        self._transcript.steps += 1
        self._transcript.parts.append(StepStart())

    def _on_finish_step(self, chunk: _Chunk) -> None:
        self._active_texts.clear()
        self._active_reasoning.clear()

    def _on_finish(self, chunk: _Chunk) -> None:
        reason = chunk.get("finishReason")
        if isinstance(reason, str):
            self._transcript.finish_reason = reason
        self._metadata(chunk)

    def _on_abort(self, chunk: _Chunk) -> None:
        self._transcript.aborted = True
        reason = chunk.get("reason")
        self._transcript.abort_reason = reason if isinstance(reason, str) else None

    def _on_error(self, chunk: _Chunk) -> None:
        self._transcript.errors.append(_error_text(chunk))

    # --- text and reasoning -----------------------------------------------------------------

    def _open(self, active: dict[str, list[str]], block: _Block, block_id: str) -> list[str]:
        """A new part under ``block_id``: an earlier block with the same id is closed, not reused."""
        pieces: list[str] = []
        self._pieces[id(block)] = (block, pieces)
        self._transcript.parts.append(block)
        active[block_id] = pieces
        return pieces

    def _on_text_start(self, chunk: _Chunk) -> None:
        self._open(self._active_texts, TextPart(), self._require_str(chunk, "id"))

    def _on_text_delta(self, chunk: _Chunk) -> None:
        delta, block_id = self._require_str(chunk, "delta"), self._require_str(chunk, "id")
        pieces = self._active_texts.get(block_id)
        if pieces is None:
            pieces = self._open(self._active_texts, TextPart(), block_id)
        pieces.append(delta)
        timings = self._transcript.timings
        if delta and timings.first_token_ms is None:
            timings.first_token_ms = self._elapsed_ms

    def _on_text_end(self, chunk: _Chunk) -> None:
        self._active_texts.pop(self._require_str(chunk, "id"), None)

    def _on_reasoning_start(self, chunk: _Chunk) -> None:
        self._open(self._active_reasoning, ReasoningPart(), self._require_str(chunk, "id"))

    def _on_reasoning_delta(self, chunk: _Chunk) -> None:
        delta, block_id = self._require_str(chunk, "delta"), self._require_str(chunk, "id")
        pieces = self._active_reasoning.get(block_id)
        if pieces is None:
            pieces = self._open(self._active_reasoning, ReasoningPart(), block_id)
        pieces.append(delta)

    def _on_reasoning_end(self, chunk: _Chunk) -> None:
        self._active_reasoning.pop(self._require_str(chunk, "id"), None)

    # --- tools ------------------------------------------------------------------------------

    def _tool(self, chunk: _Chunk) -> ToolCall:
        call_id = self._require_str(chunk, "toolCallId")
        call = self._tools.get(call_id)
        if call is None:
            call = ToolCall(id=call_id, name="", step=max(self._transcript.steps - 1, 0))
            self._tools[call_id] = call
            self._transcript.tool_calls.append(call)
            self._transcript.parts.append(call)
        name = chunk.get("toolName")
        if isinstance(name, str) and name:
            call.name = name
        if chunk.get("providerExecuted") is True:
            call.provider_executed = True
        if chunk.get("dynamic") is True:
            call.dynamic = True
        title = chunk.get("title")
        if isinstance(title, str):
            call.title = title
        return call

    def _on_tool_input_start(self, chunk: _Chunk) -> None:
        call = self._tool(chunk)
        if chunk.get("inputEncoding") == "text":
            self._text_encoded.add(call.id)

    def _on_tool_input_delta(self, chunk: _Chunk) -> None:
        call = self._tool(chunk)
        self._inputs.setdefault(call.id, []).append(self._require_str(chunk, "inputTextDelta"))

    def _on_tool_input_available(self, chunk: _Chunk) -> None:
        call = self._tool(chunk)
        call.input = chunk.get("input")
        call.state, call.preliminary = "input-available", False

    def _on_tool_input_error(self, chunk: _Chunk) -> None:
        """The model's input could not be used: a static tool keeps it as ``raw_input`` and has no
        ``input``; a dynamic one (no schema to fail) keeps it as ``input``, as the client does."""
        call = self._tool(chunk)
        if call.dynamic:
            call.input = chunk.get("input")
        else:
            call.input, call.raw_input = None, chunk.get("input")
        call.error = _error_text(chunk)
        call.state, call.preliminary = "output-error", False

    def _on_tool_approval_request(self, chunk: _Chunk) -> None:
        call = self._tool(chunk)
        call.approval_id = self._require_str(chunk, "approvalId")
        call.state = "approval-requested"

    def _on_tool_output_available(self, chunk: _Chunk) -> None:
        """A preliminary output is the output until the next one, marked ``preliminary``."""
        call = self._tool(chunk)
        call.preliminary = chunk.get("preliminary") is True
        if call.preliminary:
            call.preliminary_outputs.append(chunk.get("output"))
        call.output, call.error = chunk.get("output"), None
        call.state = "output-available"

    def _on_tool_output_error(self, chunk: _Chunk) -> None:
        """The error replaces any (preliminary) output, as the client's part keeps one or the other."""
        call = self._tool(chunk)
        call.error, call.output = _error_text(chunk), None
        call.state, call.preliminary = "output-error", False

    def _on_tool_output_denied(self, chunk: _Chunk) -> None:
        self._tool(chunk).state = "output-denied"

    # --- sources, files, data ---------------------------------------------------------------

    def _on_source_url(self, chunk: _Chunk) -> None:
        source_id, url = self._require_str(chunk, "sourceId"), self._require_str(chunk, "url")
        self._source(Source("url", source_id, url=url, title=_optional_str(chunk, "title")))

    def _source(self, source: Source) -> None:
        self._transcript.sources.append(source)
        self._transcript.parts.append(source)

    def _on_source_document(self, chunk: _Chunk) -> None:
        source = Source(
            "document",
            self._require_str(chunk, "sourceId"),
            title=self._require_str(chunk, "title"),
            media_type=self._require_str(chunk, "mediaType"),
            filename=_optional_str(chunk, "filename"),
        )
        self._source(source)

    def _on_file(self, chunk: _Chunk) -> None:
        url, media_type = self._require_str(chunk, "url"), self._require_str(chunk, "mediaType")
        part = FilePart(url, media_type)
        self._transcript.files.append(part)
        self._transcript.parts.append(part)

    def _on_data(self, chunk: _Chunk) -> DataPart:
        """A stored part, or a later chunk's data in place of its (name, id); a transient chunk
        is listed apart and never replaces a stored part, as the client only hands it on."""
        if "data" not in chunk:
            raise self._error(f"({chunk['type']}) has no 'data'")
        name, part_id = chunk["type"][5:], _optional_str(chunk, "id")
        if chunk.get("transient") is True:
            transient = DataPart(name, chunk["data"], part_id, transient=True)
            self._transcript.transient_data.append(transient)
            return transient
        part = self._data.get((name, part_id)) if part_id is not None else None
        if part is not None:
            part.data = chunk["data"]
            return part
        part = DataPart(name, chunk["data"], part_id)
        self._transcript.data_parts.append(part)
        self._transcript.parts.append(part)
        if part_id is not None:
            self._data[(name, part_id)] = part
        return part

    def _invalid(self, field: str, problem: str) -> None:
        """``field`` cannot be set from this chunk: the part stays, what needs the field fails."""
        self._transcript.invalid[field] = f"event {self.event_count} {problem}"

    def _on_data_finish_reason(self, chunk: _Chunk) -> None:
        data = self._on_data(chunk).data
        if not isinstance(data, dict):
            problem = f"(data-finish-reason) has data {preview(json.dumps(data), 80)}, not an object"
            self._invalid("finish_reason", problem)
            self._invalid("raw_finish_reason", problem)
            return
        reason, raw = data.get("finishReason"), data.get("rawFinishReason")
        if isinstance(reason, str):
            if self._transcript.finish_reason is None:
                self._transcript.finish_reason = reason
            self._transcript.invalid.pop("finish_reason", None)
        if isinstance(raw, str):
            self._transcript.raw_finish_reason = raw
            self._transcript.invalid.pop("raw_finish_reason", None)

    def _on_data_session(self, chunk: _Chunk) -> None:
        data = self._on_data(chunk).data
        if isinstance(data, str):
            self._transcript.session_id = data
            self._transcript.invalid.pop("session_id", None)
        else:
            self._invalid(
                "session_id", f"(data-session) has data {preview(json.dumps(data), 80)}, not a string"
            )


def _error_text(chunk: _Chunk) -> str:
    text = chunk.get("errorText")
    return text if isinstance(text, str) else "" if text is None else str(text)


def _optional_str(chunk: _Chunk, key: str) -> str | None:
    value = chunk.get(key)
    return value if isinstance(value, str) else None


def _merge(base: Any, update: Any) -> Any:
    """Merge message metadata as the AI SDK does: objects key by key, recursively; else replace."""
    if not isinstance(base, dict) or not isinstance(update, dict):
        return update
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _merge(merged.get(key), value) if key in merged else value
    return merged


TurnAssembler._handlers = {
    "start": TurnAssembler._on_start,
    "message-metadata": TurnAssembler._on_message_metadata,
    "start-step": TurnAssembler._on_start_step,
    "finish-step": TurnAssembler._on_finish_step,
    "finish": TurnAssembler._on_finish,
    "abort": TurnAssembler._on_abort,
    "error": TurnAssembler._on_error,
    "text-start": TurnAssembler._on_text_start,
    "text-delta": TurnAssembler._on_text_delta,
    "text-end": TurnAssembler._on_text_end,
    "reasoning-start": TurnAssembler._on_reasoning_start,
    "reasoning-delta": TurnAssembler._on_reasoning_delta,
    "reasoning-end": TurnAssembler._on_reasoning_end,
    "tool-input-start": TurnAssembler._on_tool_input_start,
    "tool-input-delta": TurnAssembler._on_tool_input_delta,
    "tool-input-available": TurnAssembler._on_tool_input_available,
    "tool-input-error": TurnAssembler._on_tool_input_error,
    "tool-approval-request": TurnAssembler._on_tool_approval_request,
    "tool-output-available": TurnAssembler._on_tool_output_available,
    "tool-output-error": TurnAssembler._on_tool_output_error,
    "tool-output-denied": TurnAssembler._on_tool_output_denied,
    "source-url": TurnAssembler._on_source_url,
    "source-document": TurnAssembler._on_source_document,
    "file": TurnAssembler._on_file,
    "data-finish-reason": TurnAssembler._on_data_finish_reason,
    "data-session": TurnAssembler._on_data_session,
}
