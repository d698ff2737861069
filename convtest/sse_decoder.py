"""Bytes of a streaming response -> server-sent events, and short previews of what a bot sent.

:class:`SSEDecoder` is pure and incremental: it knows nothing of HTTP, takes any split of the
byte stream, and is tested at every split point. :mod:`convtest.stream` folds its events into a
transcript.
"""

from __future__ import annotations

import codecs
import sys
from typing import NamedTuple

__all__ = ["SSEDecoder", "ServerSentEvent", "preview", "preview_bytes"]

_BOM = b"\xef\xbb\xbf"


def preview(text: str, limit: int = 200) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters, for one-line error messages."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} chars)"


def preview_bytes(data: bytes | bytearray, limit: int = 200) -> str:
    """:func:`preview` of UTF-8 ``data`` (invalid bytes replaced), without decoding all of a long
    one: a bot's 50 MB line is counted in pieces, not held as a second, decoded copy."""
    # a character is at most 4 bytes: this head holds the first ``limit + 1`` of them
    head = data[: 4 * (limit + 1)]
    if len(head) == len(data):
        return preview(data.decode("utf-8", "replace"), limit)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    chars = sum(len(decoder.decode(data[at : at + _PIECE])) for at in range(0, len(data), _PIECE))
    chars += len(decoder.decode(b"", final=True))
    return repr(head.decode("utf-8", "replace")[:limit]) + f"... ({chars} chars)"


_PIECE = 64 * 1024


class ServerSentEvent(NamedTuple):
    """One dispatched event: its data lines joined by ``\\n``, its type and the last event id.

    A named tuple rather than a frozen dataclass: as immutable, and made four times faster, which
    counts at one per event of every stream."""

    data: str
    event: str = "message"
    #: the last ``id:`` seen in the stream so far (it persists across events, as the spec says)
    id: str | None = None


class SSEDecoder:
    """Incremental server-sent-events decoder (WHATWG HTML, "event stream interpretation").

    ``feed`` accepts any split of the stream: a line is decoded (UTF-8, invalid bytes replaced)
    only once its line break has arrived, so cuts inside a character or a CRLF are harmless.

    At :meth:`close` nothing more is dispatched, as the spec says: an event whose lines all ended
    but whose closing blank line never came is kept in :attr:`unended` (a caller may still take a
    ``data: [DONE]`` from there), and a trailing fragment without a line break in
    :attr:`unterminated`, both for error messages.

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
        "unended",
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
        #: the event :meth:`close` found complete but for its blank line, not dispatched
        self.unended: ServerSentEvent | None = None
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
        if b"\r" in data:
            # CRLF and a lone CR are line breaks as LF is; a CR ending the chunk may be the first
            # half of a CRLF, whose LF then opens the next chunk
            self._skip_lf = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        last = lines.pop()  # what follows the last line break: the start of a line, or nothing
        if self._tail:
            self._tail.append(lines[0])
            lines[0] = b"".join(self._tail)
            self._tail = []
        self._tail_size = len(last)
        if last:
            self._tail.append(last)
        if self._at_start:
            first = lines[0]
            lines[0] = self._strip_bom(first)
            self._size += len(first) - len(lines[0])  # the BOM counts, as it does in a cut line
        events = self._process(lines)
        if self.too_large is None and self._size + self._tail_size > self._limit:
            self._overflow()
        return events

    def close(self) -> list[ServerSentEvent]:
        """End of stream: keep what never ended (see class doc). Returns no event: the list is
        there so that callers fold ``feed`` and ``close`` alike."""
        tail = b"".join(self._tail)
        self.unterminated = self._strip_bom(tail) if self._at_start else tail
        self._tail = []
        self._tail_size = 0
        self._skip_lf = False
        if self._data and self.too_large is None:
            self.unended = ServerSentEvent("\n".join(self._data), self._event or "message", self._last_id)
        self._data.clear()
        self._event = ""
        return []

    def _strip_bom(self, first_line: bytes) -> bytes:
        self._at_start = False
        return first_line[3:] if first_line.startswith(_BOM) else first_line

    def _process(self, lines: list[bytes]) -> list[ServerSentEvent]:
        """Complete lines, without their line breaks, in order."""
        events: list[ServerSentEvent] = []
        # locals: this loop is the decoder's hot path; ``data`` is cleared in place, never replaced
        size, limit, data = self._size, self._limit, self._data
        event = ServerSentEvent
        for line in lines:
            if not line:  # a blank line dispatches the event (``_dispatch``, inlined)
                size = 0
                if data:
                    text = data[0] if len(data) == 1 else "\n".join(data)
                    events.append(event(text, self._event or "message", self._last_id))
                    data.clear()
                    self.dispatched += 1
                self._event = ""
                continue
            size += len(line)
            if size > limit:
                self._overflow()
                return events
            if line.startswith(b"data:"):  # the usual field, read without splitting a str
                start = 6 if line.startswith(b"data: ") else 5
                if len(line) < _IN_PLACE:
                    data.append(line[start:].decode("utf-8", "replace"))
                else:  # read in place: a large event is held twice at most, its bytes and its text
                    data.append(str(memoryview(line)[start:], "utf-8", "replace"))
            elif line[0] != 0x3A:  # ":" starts a comment, e.g. a keep-alive
                self._field(line.decode("utf-8", "replace"))
        self._size = size
        return events

    def _overflow(self) -> None:
        """The current event went past the limit: drop it, and everything after it."""
        self.too_large = self.dispatched + 1
        self._tail, self._tail_size, self._event = [], 0, ""
        self._data.clear()

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


#: a data line at least this long is decoded in place rather than sliced first
_IN_PLACE = 64 * 1024
