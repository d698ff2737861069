"""A response body decoded in bounded pieces, whatever its ``Content-Encoding``.

httpx inflates each chunk read from the socket in one step, so 64 KiB of a gzip bomb become
64 MB at once, before anyone could count them. Here gzip and deflate (the encodings a request
accepts: :data:`ACCEPT_ENCODING`) are inflated at most :data:`PIECE` bytes at a time, so a
caller that counts what it receives stops a bomb at its own limit. A body in another encoding,
sent unasked, keeps httpx's own decoder.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator

import httpx

__all__ = ["ACCEPT_ENCODING", "PIECE", "decoded_body"]

#: the ``Accept-Encoding`` of a request: only what :func:`decoded_body` inflates piece by piece
ACCEPT_ENCODING = "gzip, deflate"
#: the most a piece of the decoded body holds
PIECE = 64 * 1024

_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


async def decoded_body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body, decoded, in pieces of at most :data:`PIECE` bytes when it was compressed."""
    encodings = [
        value.strip().lower()
        for value in response.headers.get_list("content-encoding", split_commas=True)
        if value.strip().lower() not in ("", "identity")
    ]
    if not encodings:
        async for chunk in response.aiter_raw():
            yield chunk
        return
    if not all(encoding in _WBITS for encoding in encodings):
        async for chunk in response.aiter_bytes():
            yield chunk
        return
    # the last encoding listed was applied last, so it is undone first
    inflaters = [_Inflater(encoding) for encoding in reversed(encodings)]
    async for chunk in response.aiter_raw():
        for piece in _through(inflaters, chunk):
            yield piece


def _through(inflaters: list[_Inflater], data: bytes) -> Iterator[bytes]:
    """``data`` through each inflater in turn, one bounded piece at a time."""
    if not inflaters:
        yield data
        return
    first, rest = inflaters[0], inflaters[1:]
    for piece in first.inflate(data):
        yield from _through(rest, piece)


class _Inflater:
    """One gzip or deflate layer; deflate as httpx reads it, zlib-wrapped or else raw."""

    def __init__(self, encoding: str) -> None:
        self._raw_fallback = encoding == "deflate"
        self._zlib = zlib.decompressobj(_WBITS[encoding])

    def inflate(self, data: bytes) -> Iterator[bytes]:
        while data and not self._zlib.eof:
            try:
                piece = self._zlib.decompress(data, PIECE)
            except zlib.error as exc:
                if not self._raw_fallback:
                    raise httpx.DecodingError(str(exc)) from exc
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._raw_fallback = False
                continue
            self._raw_fallback = False
            tail = self._zlib.unconsumed_tail
            if not piece and len(tail) == len(data):
                return  # no progress: nothing more comes out of this input
            data = tail
            if piece:
                yield piece
