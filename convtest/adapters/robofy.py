"""Adapter for the Robofy streaming chat API (``POST /v1/ai-agent/chat/stream``).

One turn is one POST whose response is a UI message stream sent as server-sent events and
ended by ``data: [DONE]``. Every fault becomes one :class:`~convtest.exceptions.TargetError`
that names the target and URL and carries whatever arrived before it.

Timeouts are deadlines on one anyio cancel scope that moves as the turn goes on: until the
request is on the wire, connect + first_byte (httpx's own connect timeout fires first on a
slow connect); from sending the request, first_byte; after the headers, idle, pushed forward by
every chunk. The scope's deadline never passes the turn's total deadline, and the kind in
force when it fires names the :class:`~convtest.exceptions.TimeoutError`.
"""

from __future__ import annotations

import json
import math
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx

from convtest.adapters.base import TurnRequest
from convtest.exceptions import (
    ConfigError,
    ConnectError,
    HTTPStatusError,
    ProtocolError,
    StreamCutError,
    TargetError,
    TimeoutError,
)
from convtest.stream import ServerSentEvent, SSEDecoder, TurnAssembler, preview
from convtest.targets import Target
from convtest.transcript import TurnTranscript

__all__ = ["RobofyAdapter"]

#: most of an error body kept for the message and the exception
BODY_LIMIT = 2048
#: after [DONE], how long to wait for the end of the body so the connection can be reused
DRAIN_GRACE = 0.05


class RobofyAdapter:
    """Send turns to one Robofy-compatible target over a shared ``httpx.AsyncClient``.

    Timings count from the start of :meth:`send_turn`, connecting included, as a user waits:
    ``first_byte_ms`` when the response headers arrived, ``first_token_ms`` at the first text,
    ``total_ms`` at ``[DONE]``.
    """

    def __init__(self, target: Target, client: httpx.AsyncClient) -> None:
        self.name = target.name
        self.target = target
        self.client = client
        self.url = _endpoint(target)
        self.headers = _headers(target)
        # connect only: the other limits are our named deadlines, see the module docstring
        self.httpx_timeout = httpx.Timeout(target.timeouts.connect, read=None, write=None, pool=None)

    async def send_turn(self, request: TurnRequest) -> TurnTranscript:
        return await _Exchange(self, request).run()

    async def aclose(self) -> None:
        """Nothing to release: the client is shared and closed by its owner."""

    def body(self, request: TurnRequest) -> dict[str, Any]:
        context: dict[str, Any] = {"platform": request.platform}
        if request.session_id is not None:
            context["session_id"] = request.session_id
        context.update(request.user_context)
        target = self.target
        return {
            "query": request.query,
            "pid": target.pid,
            "chatbot_id": target.chatbot_id,
            "user_context": context,
        }


def _endpoint(target: Target) -> str:
    url = target.base_url.rstrip("/") + target.path
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{_where(target)}: invalid URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"{_where(target)}: base_url must be an http(s) URL, got {target.base_url!r}")
    return url


def _where(target: Target) -> str:
    at = f" ({target.location})" if target.location else ""
    return f"target {target.name!r}{at}"


def _headers(target: Target) -> dict[str, str]:
    headers = {"Accept": "text/event-stream"}
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    headers.update(target.headers)
    return headers


class _Exchange:
    """The state of one turn: decoder, assembler, clock and the moving deadline."""

    def __init__(self, adapter: RobofyAdapter, request: TurnRequest) -> None:
        self.adapter = adapter
        self.url = adapter.url
        self.timeouts = adapter.target.timeouts
        self.request = request
        self.decoder = SSEDecoder()
        self.assembler = TurnAssembler()
        self.assembler.transcript.user = request.query
        self.start = anyio.current_time()
        self.total_deadline = self.start + self.timeouts.total
        self.scope = anyio.CancelScope()
        self.deadline_kind = "first_byte"
        self.headers_received = False
        self._set_deadline("first_byte", self.timeouts.connect + self.timeouts.first_byte)

    async def run(self) -> TurnTranscript:
        try:
            async with AsyncExitStack() as stack:
                with self.scope:
                    await self._exchange(stack)
                if self.scope.cancelled_caught and not self.assembler.done:
                    raise self._timeout_error()
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        return self.assembler.transcript

    async def _exchange(self, stack: AsyncExitStack) -> None:
        response = await stack.enter_async_context(
            self.adapter.client.stream(
                "POST",
                self.url,
                json=self.adapter.body(self.request),
                headers=self.adapter.headers,
                timeout=self.adapter.httpx_timeout,
                extensions={"trace": self._trace},
            )
        )
        self.headers_received = True
        self.assembler.transcript.timings.first_byte_ms = self._elapsed_ms()
        self._set_deadline("total", math.inf)  # a body that is not a stream has its own limit

        if not response.is_success:
            raise await self._status_error(response)
        await self._check_content_type(response)
        await self._read_events(response)

    async def _trace(self, name: str, info: dict[str, Any]) -> None:
        if name.endswith(".send_request_headers.started"):
            self._set_deadline("first_byte", self.timeouts.first_byte)

    def _set_deadline(self, kind: str, seconds: float) -> None:
        deadline = anyio.current_time() + seconds
        if deadline >= self.total_deadline:
            deadline, kind = self.total_deadline, "total"
        self.deadline_kind = kind
        self.scope.deadline = deadline

    def _elapsed_ms(self) -> float:
        return (anyio.current_time() - self.start) * 1000.0

    async def _read_events(self, response: httpx.Response) -> None:
        idle = self.timeouts.idle
        self._set_deadline("idle", idle)
        chunks = response.aiter_bytes()
        async for chunk in chunks:
            self._set_deadline("idle", idle)
            if self._feed(self.decoder.feed(chunk)):
                await _drain(chunks)
                return
        if not self._feed(self.decoder.close()):
            raise self._cut_error()

    def _feed(self, events: list[ServerSentEvent]) -> bool:
        """Fold events into the transcript; true once ``[DONE]`` has arrived."""
        if not events:
            return False
        now_ms = self._elapsed_ms()
        for event in events:
            try:
                self.assembler.feed(event.data, now_ms)
            except ProtocolError as exc:
                message = f"bad event stream from {self.url}: {exc.message}"
                raise ProtocolError(message, target=self.adapter.name, transcript=exc.transcript) from None
            if self.assembler.done:
                self.assembler.transcript.timings.total_ms = now_ms
                return True
        return False

    async def _read_start(self, response: httpx.Response, limit: int) -> str:
        """Up to ``limit`` bytes of a body that is not a stream, for an error message."""
        buffer = bytearray()
        with anyio.move_on_after(self.timeouts.idle):
            try:
                async for chunk in response.aiter_bytes():
                    buffer += chunk
                    if len(buffer) >= limit:
                        break
            except httpx.HTTPError:
                pass  # the status or content type is the error; a partial body still helps
        return _redact(buffer[:limit].decode("utf-8", "replace"), self.adapter.target.secrets)

    async def _status_error(self, response: httpx.Response) -> HTTPStatusError:
        body = await self._read_start(response, BODY_LIMIT)
        status = response.status_code
        message = f"HTTP {status} from {self.url}{self._status_hint(response)}"
        said = _error_detail(body) or (preview(body) if body.strip() else "")
        if said:
            message += f"; server says: {said}"
        return HTTPStatusError(
            message, status=status, body=body, target=self.adapter.name, transcript=self.assembler.transcript
        )

    def _status_hint(self, response: httpx.Response) -> str:
        status, target = response.status_code, self.adapter.target
        if status in (401, 403):
            if not target.token:
                return "; no token is configured for this target (set token or token_env)"
            if target.token_env:
                source = " or ".join(f"${name}" for name in target.token_env)
                return f"; the token was rejected (it comes from {source})"
            return "; the token was rejected (it is set in the target's configuration)"
        retry_after = response.headers.get("retry-after")
        if status in (429, 503) and retry_after:
            return f"; Retry-After: {retry_after}"
        location = response.headers.get("location")
        if 300 <= status < 400 and location:
            return f"; redirected to {location} (check base_url and path)"
        return ""

    async def _check_content_type(self, response: httpx.Response) -> None:
        content_type = response.headers.get("content-type", "")
        if content_type.partition(";")[0].strip().lower() == "text/event-stream":
            return
        start = await self._read_start(response, 200)
        message = (
            f"expected text/event-stream from {self.url}, got content type {content_type or '(none)'!r}; "
            f"body starts: {preview(start)}"
        )
        raise ProtocolError(message, target=self.adapter.name, transcript=self.assembler.transcript)

    def _so_far(self) -> str:
        text = self.assembler.transcript.text
        return f" after {self.assembler.event_count} events; text so far: {preview(text, 80)}"

    def _cut_error(self, reason: str = "") -> StreamCutError:
        message = f"stream from {self.url} ended before [DONE] after {self.assembler.event_count} events"
        if reason:
            message += f" ({reason})"
        if self.decoder.unterminated:
            cut = self.decoder.unterminated.decode("utf-8", "replace")
            message += f"; last line cut: {preview(cut, 80)}"
        message += f"; text so far: {preview(self.assembler.transcript.text, 80)}"
        return StreamCutError(message, target=self.adapter.name, transcript=self.assembler.transcript)

    def _timeout_error(self) -> TimeoutError:
        kind, t = self.deadline_kind, self.timeouts
        if kind == "first_byte":
            message = f"no response from {self.url} within {t.first_byte} s of sending (first_byte timeout)"
        elif kind == "idle":
            message = f"no data for {t.idle} s (idle timeout) from {self.url}{self._so_far()}"
        else:
            message = f"turn not finished within {t.total} s (total timeout) at {self.url}{self._so_far()}"
        return TimeoutError(
            message, kind=kind, target=self.adapter.name, transcript=self.assembler.transcript
        )

    def _transport_error(self, exc: httpx.HTTPError) -> TargetError:
        name, transcript = self.adapter.name, self.assembler.transcript
        if isinstance(exc, httpx.ConnectTimeout):
            message = f"cannot connect to {self.url} within {self.timeouts.connect} s (connect timeout)"
            return TimeoutError(message, kind="connect", target=name, transcript=transcript)
        if isinstance(exc, httpx.ConnectError):
            message = f"cannot connect to {self.url}: {_connect_reason(exc)}"
            return ConnectError(message, target=name, transcript=transcript)
        if not isinstance(exc, httpx.TransportError):
            message = f"unusable response from {self.url}: {type(exc).__name__}: {exc}"
            return ProtocolError(message, target=name, transcript=transcript)
        if self.headers_received:
            return self._cut_error(f"connection lost: {_describe(exc)}")
        message = f"connection to {self.url} failed before a response: {_describe(exc)}"
        return ConnectError(message, target=name, transcript=transcript)


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Briefly read past ``[DONE]``: a body read to its end returns the connection to the pool."""
    with anyio.move_on_after(DRAIN_GRACE):
        try:
            async for _ in chunks:
                pass
        except httpx.HTTPError:
            pass  # the turn is complete; a connection that fails now is not its fault


def _connect_reason(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the host name ({cause.strerror})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed ({cause.reason or cause})"
        cause = cause.__cause__ or cause.__context__
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _error_detail(body: str) -> str:
    """``error.detail`` (or ``message``) of a Robofy JSON error body, if it has one."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    for detail in (error.get("detail") if isinstance(error, dict) else None, data.get("message")):
        if isinstance(detail, str) and detail:
            return repr(detail)
    return ""


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
