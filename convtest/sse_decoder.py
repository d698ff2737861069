"""Bytes of a streaming response -> server-sent events, and short previews of what a bot sent.

:class:`SSEDecoder` is pure and incremental: it knows nothing of HTTP, takes any split of the
byte stream, and is tested at every split point. :mod:`convtest.stream` folds its events into a
transcript.
"""

from __future__ import annotations

import codecs
import sys
from dataclasses import dataclass

from convtest.secrets import current, hide

__all__ = ["SSEDecoder", "ServerSentEvent", "preview", "preview_bytes"]

_BOM = b"\xef\xbb\xbf"
_LINE_ENDS = (b"\n", b"\r")


def preview(text: str, limit: int = 200) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters, for one-line error messages; the
    secrets of the conversation being run are redacted before the cut."""
    length, text = len(text), hide(text)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({length} chars)"


def preview_bytes(data: bytes | bytearray, limit: int = 200) -> str:
    """:func:`preview` of UTF-8 ``data`` (invalid bytes replaced), without decoding all of a long
    one: a bot's 50 MB line is counted in pieces, not held as a second, decoded copy."""
    # a character is at most 4 bytes: this head holds the first ``limit + 1`` of them, and the
    # whole of any secret that starts among them, so it is redacted before the cut
    longest = max(map(len, current()), default=0)
    head = data[: 4 * (limit + 1 + longest)]
    if len(head) == len(data):
        return preview(data.decode("utf-8", "replace"), limit)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    chars = sum(len(decoder.decode(data[at : at + _PIECE])) for at in range(0, len(data), _PIECE))
    chars += len(decoder.decode(b"", final=True))
    return repr(hide(head.decode("utf-8", "replace"))[:limit]) + f"... ({chars} chars)"


_PIECE = 64 * 1024


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event: its data lines joined by ``\\n``, its type and the last event id."""

    data: str
    event: str = "message"
    #: the last ``id:`` seen in the stream so far (it persists across events, as the spec says)
    id: str | None = None


class SSEDecoder:
    """Incremental server-sent-events decoder (WHATWG HTML, "event stream interpretation").

    ``feed`` accepts any split of the stream: a line is decoded (UTF-8, invalid bytes replaced)
    only once its line break has arrived, so cuts inside a character or a CRLF are harmless.

    At :meth:`close`, an event whose lines all ended but whose closing blank line never came is
    still dispatched (a server that ends with ``data: [DONE]\\n`` meant to finish). A trailing
    fragment without a line break is certainly cut, so it is discarded, as the spec discards an
    incomplete event, and kept in :attr:`unterminated` for error messages.

    An event larger than ``max_event_bytes`` (its lines since the blank line before it, line
    breaks not counted, a line still without its break included) is never held whole: the decoder
    stops there, drops what it buffered, returns nothing more and names the event in
    :attr:`too_large`, so memory stays within the limit plus one chunk whatever a server sends.
    """

    __slots__ = (
        "_at_start",
        "_data",
        "_event",
        "_last_id",
        "_limit",
        "_size",
        "_skip_lf",
        "_tail",
        "_tail_size",
        "dispatched",
        "retry",
        "too_large",
        "unterminated",
    )

    def __init__(self, max_event_bytes: int | None = None) -> None:
        #: pieces of the current line whose line break has not arrived yet
        self._tail: list[bytes] = []
        self._tail_size = 0
        #: bytes of the current event's complete lines (line breaks not counted)
        self._size = 0
        self._limit = sys.maxsize if max_event_bytes is None else max_event_bytes
        #: the previous chunk ended in CR: a LF opening the next chunk is the same line break
        self._skip_lf = False
        self._at_start = True
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        #: the reconnection time (ms) of the last valid ``retry:`` field
        self.retry: int | None = None
        #: the cut final fragment discarded by :meth:`close`
        self.unterminated = b""
        #: events dispatched so far
        self.dispatched = 0
        #: the number (from 1) of the event that went past ``max_event_bytes``; None while none did
        self.too_large: int | None = None

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Take the next chunk; return the events it completes."""
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == 0x0A:
                data = data[1:]
        if not data or self.too_large is not None:
            return []
        if b"\n" not in data and b"\r" not in data:
            self._tail.append(data)
            self._tail_size += len(data)
            if self._size + self._tail_size > self._limit:
                self._overflow()
            return []
        # bytes.splitlines breaks on exactly LF, CR and CRLF: the SSE line breaks
        lines = data.splitlines(keepends=True)
        if self._tail:
            self._tail.append(lines[0])
            lines[0] = b"".join(self._tail)
            self._tail = []
        self._tail_size = 0
        if not lines[-1].endswith(_LINE_ENDS):
            last = lines.pop()
            self._tail.append(last)
            self._tail_size = len(last)
        elif lines[-1].endswith(b"\r"):
            self._skip_lf = True
        if self._at_start and lines:
            first = lines[0]
            lines[0] = self._strip_bom(first)
            self._size += len(first) - len(lines[0])  # the BOM counts, as it does in a cut line
        events = self._process(lines)
        if self.too_large is None and self._size + self._tail_size > self._limit:
            self._overflow()
        return events

    def close(self) -> list[ServerSentEvent]:
        """End of stream: return the last event if its lines were complete (see class doc)."""
        tail = b"".join(self._tail)
        self.unterminated = self._strip_bom(tail) if self._at_start else tail
        self._tail = []
        self._tail_size = 0
        self._skip_lf = False
        events = [self._dispatch()] if self._data and self.too_large is None else []
        self._event = ""
        return events

    def _strip_bom(self, first_line: bytes) -> bytes:
        self._at_start = False
        return first_line[3:] if first_line.startswith(_BOM) else first_line

    def _process(self, lines: list[bytes]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        size, limit = self._size, self._limit  # locals: this loop is the decoder's hot path
        for raw in lines:
            line = raw.rstrip(b"\r\n")
            if not line:
                size = 0
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._event = ""
                continue
            size += len(line)
            if size > limit:
                self._overflow()
                return events
            if line[0] != 0x3A:  # ":" starts a comment, e.g. a keep-alive
                self._field(line.decode("utf-8", "replace"))
        self._size = size
        return events

    def _overflow(self) -> None:
        """The current event went past the limit: drop it, and everything after it."""
        self.too_large = self.dispatched + 1
        self._tail, self._tail_size, self._data, self._event = [], 0, [], ""

    def _field(self, line: str) -> None:
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)

    def _dispatch(self) -> ServerSentEvent:
        event = ServerSentEvent("\n".join(self._data), self._event or "message", self._last_id)
        self._data = []
        self._event = ""
        self.dispatched += 1
        return event
