"""One HTTP request and response of a turn: its named deadlines, and every fault as a verdict.

Timeouts are deadlines on one :class:`~convtest.adapters.deadline.Deadline` (an asyncio timeout
that the blocking transport obeys as well) that moves as the turn goes on: until the
request is on the wire, connect + first_byte (httpx's own connect timeout fires first on a slow
connect); from sending the request, first_byte; once the body flows, idle, pushed forward by every
chunk. Two absolute deadlines cap whichever is in force: first_token (from sending, until the
first text arrives) and total. The kind in force when the scope fires names the
:class:`~convtest.exceptions.TimeoutError`, and only a fault before any byte of the body arrived
is ``retryable``.

:class:`Exchange` does the request and the faults; a subclass reads a successful body (an event
stream, a JSON answer) into the transcript.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import datetime
import email.utils
import functools
import json
import math
import socket
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

import httpx

from convtest.adapters.base import TurnRequest
from convtest.adapters.body import ACCEPT_ENCODING, decoded_body
from convtest.adapters.deadline import Deadline, deadline_in
from convtest.exceptions import (
    ConnectError,
    HTTPStatusError,
    ProtocolError,
    StreamCutError,
    TargetError,
    TimeoutError,
)
from convtest.secrets import note, redact
from convtest.stream import preview
from convtest.targets import Target, Timeouts
from convtest.transcript import TurnTranscript

__all__ = [
    "BODY_LIMIT",
    "Bearer",
    "Exchange",
    "OneDocument",
    "connect_reason",
    "describe",
    "drain",
    "error_detail",
    "parse_retry_after",
    "status_message",
    "token_rejection",
    "turn_timeouts",
]

#: most of an error body kept for the message and the exception
BODY_LIMIT = 2048
#: after the end of a turn, how long to wait for the end of the body so the connection is reused
DRAIN_GRACE = 0.05


@dataclass(frozen=True, slots=True)
class Bearer:
    """The token a request carries, and what to tell the user when it is refused (401/403)."""

    token: str | None
    #: e.g. "the token was rejected (it comes from $ROBOFY_TOKEN)"
    on_rejection: str


class Exchange:
    """The state of one request: the clock, the moving deadline, and the faults it can end in."""

    #: media types (or their endings) a successful response may have; the first is named in errors
    content_types: ClassVar[tuple[str, ...]]
    #: the ``Accept`` header of the request
    accept: ClassVar[str]
    #: the request's method and its own headers (over the target's); the generic ``http``
    #: adapter renders both per turn, the others post JSON
    method: str = "POST"
    request_headers: Mapping[str, str] = MappingProxyType({})

    def __init__(
        self,
        target: Target,
        client: httpx.AsyncClient,
        url: str,
        request: TurnRequest,
        body: dict[str, Any],
        bearer: Bearer,
    ) -> None:
        self.target = target
        self.client = client
        self.url = url
        #: parsed once per URL, not by httpx on every request
        self.request_url = _parsed(url)
        self.body = body
        self.bearer = bearer
        if bearer.token:  # a client token from a handshake is a secret of the conversation too
            note(bearer.token)
        self.timeouts = turn_timeouts(target, request)
        self._transcript = self._new_transcript(request.query)
        #: the transcript's own timings object, read without rebuilding the transcript
        self.timings = self.transcript.timings
        self.clock = asyncio.get_running_loop().time
        self.start = self.clock()
        self.total_deadline = self.start + self.timeouts.total
        first_token = self.timeouts.first_token
        self.first_token_deadline = math.inf if first_token is None else self.start + first_token
        #: the moving deadline, and the timeout that enforces it once :meth:`run` has entered it
        self.deadline = math.inf
        self.scope: Deadline | None = None
        self.deadline_kind = "first_byte"
        #: the request began to go out (httpcore's trace): before it, a first_byte deadline that
        #: fires means the client never got a connection to send it on
        self.request_sent = False
        self.headers_received = False
        #: a byte of the body arrived: from then on a fault is not retryable
        self.body_started = False
        #: bytes of the body so far, decoded: what ``limits.max_turn_bytes`` counts
        self.received = 0
        self._set_deadline("first_byte", self.timeouts.connect + self.timeouts.first_byte)

    @property
    def transcript(self) -> TurnTranscript:
        """What arrived so far; what a fault carries and what :meth:`run` returns."""
        return self._transcript

    def _new_transcript(self, user: str) -> TurnTranscript:
        """The transcript this exchange fills; a subclass may hand over one it builds itself."""
        return TurnTranscript(user=user)

    # --- to be provided by a subclass -------------------------------------------------------

    @property
    def finished(self) -> bool:
        """The whole answer has arrived (a deadline firing afterwards is harmless)."""
        raise NotImplementedError

    async def read(self, response: httpx.Response) -> None:
        """Read a successful response into :attr:`transcript`."""
        raise NotImplementedError

    def progress(self) -> str:
        """What arrived so far, for a timeout message: `` after 4 events; text so far: 'Hel'``."""
        raise NotImplementedError

    def cut_error(self, reason: str = "") -> StreamCutError:
        """The body ended (or the connection broke) before the answer was complete."""
        raise NotImplementedError

    def too_large_error(self) -> ProtocolError:
        """The body went past ``limits.max_turn_bytes`` before the answer was complete."""
        raise NotImplementedError

    # --- the exchange -----------------------------------------------------------------------

    async def run(self) -> TurnTranscript:
        try:
            async with AsyncExitStack() as stack:
                scope = self.scope = Deadline(self.deadline)
                try:
                    async with scope:
                        await self._exchange(stack)
                except builtins.TimeoutError:
                    if not scope.expired():
                        raise
                    if not self.finished:
                        raise self._timeout_error() from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        return self.transcript

    async def _exchange(self, stack: AsyncExitStack) -> None:
        response = await stack.enter_async_context(
            self.client.stream(
                self.method,
                self.request_url,
                **self.payload(),
                headers=self._headers(),
                timeout=_connect_only(self.timeouts.connect),
                extensions={"trace": self._trace},
            )
        )
        self.headers_received = True
        self.timings.first_byte_ms = self.elapsed_ms()
        # an error body or a wrong content type has its own short limit: only total still applies
        self._set_deadline("total", math.inf, first_token=False)
        if not response.is_success:
            raise await self._status_error(response)
        await self._check_content_type(response)
        await self.read(response)

    def payload(self) -> dict[str, Any]:
        """The body as httpx takes it (``json=`` or ``content=``): the JSON :attr:`body` here."""
        return {"json": self.body}

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": self.accept, "Accept-Encoding": ACCEPT_ENCODING}
        if self.bearer.token:
            headers["Authorization"] = f"Bearer {self.bearer.token}"
        headers.update(self.target.headers)
        headers.update(self.request_headers)
        return headers

    async def _trace(self, name: str, info: dict[str, Any]) -> None:
        if name.endswith(".send_request_headers.started"):
            self.request_sent = True
            self._set_deadline("first_byte", self.timeouts.first_byte)

    async def body_pieces(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """The decoded body in bounded pieces, counted: past ``limits.max_turn_bytes`` the turn
        ends before the excess is held anywhere (what follows a complete answer is not counted:
        it is only drained)."""
        limit = self.target.max_turn_bytes
        async for piece in decoded_body(response):
            self.received += len(piece)
            if self.received > limit and not self.finished:
                raise self.too_large_error()
            yield piece

    async def whole_body(self, response: httpx.Response) -> bytearray:
        """The whole body of a one-document answer (see :class:`OneDocument`), each piece moving
        the idle deadline."""
        self.awaiting_body()
        body = bytearray()
        async for piece in self.body_pieces(response):
            body += piece
            self.body_chunk()
        return body

    def awaiting_body(self) -> None:
        """The body may flow now: from here on, silence is measured by the idle clock."""
        self._set_deadline("idle", self.timeouts.idle)

    def body_chunk(self) -> None:
        """A chunk of the body arrived: the stream lives, the idle clock starts again."""
        self.body_started = True
        self._set_deadline("idle", self.timeouts.idle)

    def _set_deadline(self, kind: str, seconds: float, *, first_token: bool = True) -> None:
        deadline = self.clock() + seconds
        waiting = first_token and self.timings.first_token_ms is None
        if waiting and self.first_token_deadline <= deadline:
            deadline, kind = self.first_token_deadline, "first_token"
        if self.total_deadline <= deadline:
            deadline, kind = self.total_deadline, "total"
        self.deadline_kind = kind
        self.deadline = deadline
        if self.scope is not None:
            self.scope.reschedule(deadline)

    def elapsed_ms(self) -> float:
        return (self.clock() - self.start) * 1000.0

    @property
    def secrets(self) -> tuple[str, ...]:
        token = self.bearer.token
        return (*self.target.secrets, token) if token else self.target.secrets

    async def read_start(self, response: httpx.Response, limit: int) -> str:
        """Up to ``limit`` characters of a body that is not an answer, for an error message.

        A little more is read and redacted before the cut, so a secret that straddles the
        limit is replaced whole rather than cut in half."""
        secrets = self.secrets
        wanted = limit + 4 * max(map(len, secrets), default=0)  # UTF-8: at most 4 bytes a character
        buffer = bytearray()
        try:
            async with deadline_in(self.timeouts.idle):
                async for chunk in decoded_body(response):
                    buffer += chunk
                    if len(buffer) >= wanted:
                        break
        except (httpx.HTTPError, builtins.TimeoutError):
            pass  # the status or content type is the error; a partial body still helps
        return redact(buffer[:wanted].decode("utf-8", "replace"), secrets)[:limit]

    # --- faults -----------------------------------------------------------------------------

    async def _status_error(self, response: httpx.Response) -> HTTPStatusError:
        body = await self.read_start(response, BODY_LIMIT)
        status = response.status_code
        message = status_message(f"HTTP {status} from {self.url}", response, body, self.bearer)
        return HTTPStatusError(
            message,
            status=status,
            body=body,
            target=self.target.name,
            transcript=self.transcript,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )

    async def _check_content_type(self, response: httpx.Response) -> None:
        content_type = response.headers.get("content-type", "")
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type.endswith(self.content_types):
            return
        start = await self.read_start(response, 200)
        message = (
            f"expected {self.content_types[0]} from {self.url}, got content type "
            f"{content_type or '(none)'!r}; body starts: {preview(start)}"
        )
        raise ProtocolError(message, target=self.target.name, transcript=self.transcript)

    def _timeout_error(self) -> TimeoutError:
        kind, t, url = self.deadline_kind, self.timeouts, self.url
        if kind == "first_byte" and not self.request_sent:
            message = (
                f"request to {url} not sent within {round(t.connect + t.first_byte, 3)} s: the client had no "
                "free connection to send it on (connect + first_byte timeout)"
            )
        elif kind == "first_byte":
            message = f"no response from {url} within {t.first_byte} s of sending (first_byte timeout)"
        elif kind == "first_token":
            first_byte = self.timings.first_byte_ms
            started = "" if first_byte is None else f" (first byte after {first_byte:.0f} ms)"
            message = f"no text from {url} within {t.first_token} s (first_token timeout){started}"
            message += self.progress()
        elif kind == "idle":
            message = f"no data for {t.idle} s (idle timeout) from {url}{self.progress()}"
        else:
            message = f"turn not finished within {t.total} s (total timeout) at {url}{self.progress()}"
        return TimeoutError(
            message,
            kind=kind,
            target=self.target.name,
            transcript=self.transcript,
            retryable=not self.body_started,
        )

    def _transport_error(self, exc: httpx.HTTPError) -> TargetError:
        name, transcript = self.target.name, self.transcript
        if isinstance(exc, httpx.ConnectTimeout):
            message = f"cannot connect to {self.url} within {self.timeouts.connect} s (connect timeout)"
            return TimeoutError(message, kind="connect", target=name, transcript=transcript, retryable=True)
        if isinstance(exc, httpx.ConnectError):
            message = f"cannot connect to {self.url}: {connect_reason(exc)}"
            return ConnectError(message, target=name, transcript=transcript)
        if not isinstance(exc, httpx.TransportError):
            message = f"unusable response from {self.url}: {type(exc).__name__}: {exc}"
            return ProtocolError(message, target=name, transcript=transcript)
        if self.headers_received:
            return self.cut_error(f"connection lost: {describe(exc)}")
        message = f"connection to {self.url} failed before a response: {describe(exc)}"
        return ConnectError(message, target=name, transcript=transcript)


def turn_timeouts(target: Target, request: TurnRequest) -> Timeouts:
    """The target's timeouts with this turn's overrides."""
    if not request.timeouts:
        return target.timeouts
    return dataclasses.replace(target.timeouts, **request.timeouts)


@functools.lru_cache(maxsize=64)
def _parsed(url: str) -> httpx.URL:
    return httpx.URL(url)


@functools.lru_cache(maxsize=64)
def _connect_only(connect: float) -> httpx.Timeout:
    """httpx's limits for a request: connect only, the other limits are our named deadlines."""
    return httpx.Timeout(connect, read=None, write=None, pool=None)


def token_rejection(target: Target) -> str:
    """What to fix when the target's own token is refused (401/403)."""
    if not target.token:
        return "no token is configured for this target (set token or token_env)"
    if target.token_env:
        source = " or ".join(f"${name}" for name in target.token_env)
        return f"the token was rejected (it comes from {source})"
    return "the token was rejected (it is set in the target's configuration)"


def status_message(head: str, response: httpx.Response, body: str, bearer: Bearer) -> str:
    """``HTTP 401 from <url>; <what to fix>; server says: '<detail>'``."""
    message = head + _status_hint(response, bearer)
    said = error_detail(body) or (preview(body) if body.strip() else "")
    return f"{message}; server says: {said}" if said else message


def _status_hint(response: httpx.Response, bearer: Bearer) -> str:
    status = response.status_code
    if status in (401, 403):
        return f"; {bearer.on_rejection}"
    retry_after = response.headers.get("retry-after")
    if status in (429, 503) and retry_after:
        return f"; Retry-After: {retry_after}"
    location = response.headers.get("location")
    if 300 <= status < 400 and location:
        return f"; redirected to {location} (check base_url and path)"
    return ""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds from now: delay-seconds, or an HTTP date; None if unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": an HTTP date is in GMT all the same
        moment = moment.replace(tzinfo=datetime.UTC)
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


async def drain(chunks: AsyncIterator[bytes]) -> None:
    """Briefly read past the end of an answer: a body read to its end frees the connection."""
    try:
        async with deadline_in(DRAIN_GRACE):
            async for _ in chunks:
                pass
    except (httpx.HTTPError, builtins.TimeoutError):
        pass  # the turn is complete; a connection that fails now (or lingers) is not its fault


def connect_reason(exc: BaseException) -> str:
    """Refused, unresolvable or failed TLS, found among the causes; else the error's own text."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the host name ({cause.strerror})"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate rejected ({cause.verify_message or cause.reason})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed ({cause.reason or cause})"
        cause = cause.__cause__ or cause.__context__
    return describe(exc)


def describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def error_detail(body: str) -> str:
    """``error.detail`` (or ``message``) of a Robofy JSON error body, or ``error.message`` of an
    OpenAI one, if it has one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    nested = (error.get("detail"), error.get("message")) if isinstance(error, dict) else ()
    for detail in (*nested, data.get("message")):
        if isinstance(detail, str) and detail:
            return repr(detail)
    return ""


class OneDocument:
    """What an exchange whose answer is one JSON document (read with :meth:`Exchange.whole_body`)
    says of itself; mixed in before :class:`Exchange`. Its ``read`` sets ``document_read``."""

    content_types: ClassVar[tuple[str, ...]] = ("application/json", "+json")
    accept: ClassVar[str] = "application/json"
    document_read = False

    @property
    def finished(self) -> bool:
        return self.document_read
