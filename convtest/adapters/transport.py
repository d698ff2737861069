"""The HTTP client of one conversation slot: httpx over sockets driven by asyncio itself.

httpx's async client reaches the network through httpcore's AnyIO backend, which wraps every
read and write in a cancel scope with its own timer, asks sniffio which event loop is running,
and polls the socket before each request to see whether the server closed it: a sixth of
the client's CPU time per streamed turn (measured against the reference agent, in one process,
interleaved: 3.25 ms with AnyIO, 2.72 ms with this backend). :class:`AsyncioBackend`
implements httpcore's public network-backend interface on asyncio streams instead: a read
returns what is buffered, a write waits only when the socket is full, and a closed idle
connection is known from the stream's state. Everything above it (HTTP/1.1 parsing, pooling,
redirects, proxies, errors) is still httpx and httpcore. :class:`CancelSafeTransport` keeps a
turn's deadline (an asyncio cancellation) from stranding a connection in httpcore's pool.

When one conversation runs at a time there is nothing for the event loop to interleave, and the
async machinery is pure cost: httpcore's async pool with its AnyIO locks and shields, and a loop
round per read (measured against the reference agent, in one process: 2.6 ms of client CPU per
streamed turn, against 1.8 ms for httpx's sync client). :class:`BlockingTransport` then serves
the same ``httpx.AsyncClient`` from httpx's sync transport: the request, cookies, redirects and
errors are the async client's as before, and only the socket waits block. Those waits never
outlast the task's earliest deadline (:mod:`convtest.adapters.deadline`); at that moment the
transport hands control back to the loop, where the deadline's asyncio timeout fires as usual; so it
does between two chunks of a body that arrive without pause, once the deadline has passed.
"""

from __future__ import annotations

import asyncio
import functools
import math
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from typing import Any

import httpcore
import httpx

from convtest.adapters.deadline import earliest_deadline

__all__ = ["AsyncioBackend", "AsyncioStream", "BlockingTransport", "CancelSafeTransport", "new_client"]

#: connections kept alive by one client: one conversation slot talks to one target at a time
_LIMITS = httpx.Limits(max_connections=1, max_keepalive_connections=1)


def new_client(
    *, verify: bool | ssl.SSLContext, trust_env: bool, blocking: bool = False
) -> httpx.AsyncClient:
    """A client with one kept-alive connection; ``verify`` checks TLS certificates against the
    system's store (True, for https) or a context of one's own, ``trust_env`` honours proxy
    variables and ``.netrc``. ``blocking`` serves it from :class:`BlockingTransport`, for a run
    of one conversation at a time; otherwise its connection runs on :class:`AsyncioBackend`."""
    if isinstance(verify, ssl.SSLContext):
        context = verify
    else:
        context = _tls_context() if verify else _unverified_context()
    client = httpx.AsyncClient(trust_env=trust_env, verify=context, limits=_LIMITS)
    transport = getattr(client, "_transport", None)
    if not (isinstance(transport, httpx.AsyncHTTPTransport) and hasattr(transport, "_pool")):
        return client  # an httpx that no longer looks like this keeps its own default transport
    # the one private step: httpx has no parameter for the backend of its default transport, and
    # passing a transport of one's own would turn off proxies from the environment (those are
    # mounted transports of their own, and keep AnyIO)
    if blocking:
        client._transport = BlockingTransport(context, trust_env=trust_env)
    else:
        transport._pool = _asyncio_pool(context)
        client._transport = CancelSafeTransport(transport)
    mounts = getattr(client, "_mounts", {})
    for pattern, mounted in mounts.items():  # proxies from the environment
        if mounted is not None:
            mounts[pattern] = CancelSafeTransport(mounted)
    return client


def _asyncio_pool(context: ssl.SSLContext) -> httpcore.AsyncConnectionPool:
    """httpcore's pool with the limits of one slot, its connections on :class:`AsyncioBackend`."""
    return httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=_LIMITS.max_connections,
        max_keepalive_connections=_LIMITS.max_keepalive_connections,
        keepalive_expiry=_LIMITS.keepalive_expiry,
        network_backend=AsyncioBackend(),
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One certificate store for every client: building one costs ~50 ms."""
    return httpx.create_ssl_context()


@functools.cache
def _unverified_context() -> ssl.SSLContext:
    """For plain-HTTP targets, which have no certificate to load or check."""
    return httpx.create_ssl_context(verify=False)


@asynccontextmanager
async def _faults(
    timeout: float | None, on_timeout: type[httpcore.TimeoutException], on_error: type[httpcore.NetworkError]
) -> AsyncIterator[None]:
    """httpcore's exception for a timeout or an OS error, the original kept as the cause (it
    tells a refused connection from a rejected certificate)."""
    try:
        if timeout is None:
            yield
        else:
            async with asyncio.timeout(timeout):
                yield
    except TimeoutError as exc:
        raise on_timeout(str(exc) or "timed out") from exc
    except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError
        raise on_error(str(exc) or type(exc).__name__) from exc


#: httpcore's names for what an asyncio transport tells about its connection
_EXTRA_INFO = {
    "ssl_object": "ssl_object",
    "client_addr": "sockname",
    "server_addr": "peername",
    "socket": "socket",
}


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection as asyncio's reader and writer; its faults become httpcore's exceptions."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        async with _faults(timeout, httpcore.ReadTimeout, httpcore.ReadError):
            data = await self._reader.read(max_bytes)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        async with _faults(timeout, httpcore.WriteTimeout, httpcore.WriteError):
            self._writer.write(buffer)
            await self._writer.drain()

    async def aclose(self) -> None:
        self._writer.close()
        await asyncio.sleep(0)  # let the transport close the socket before this returns

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> AsyncioStream:
        try:
            async with _faults(timeout, httpcore.ConnectTimeout, httpcore.ConnectError):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except httpcore.ConnectError:
            await self.aclose()
            raise
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # asked of an idle connection before reusing it: readable there means the server
            # closed it (or broke it); the stream already knows, no system call needed
            reader = self._reader
            return reader.at_eof() or reader.exception() is not None or self._writer.is_closing()
        name = _EXTRA_INFO.get(info)
        return None if name is None else self._writer.get_extra_info(name)


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens httpcore's connections with asyncio itself (TLS, if any, follows in start_tls)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncioStream:
        local = None if local_address is None else (local_address, 0)
        async with _faults(timeout, httpcore.ConnectTimeout, httpcore.ConnectError):
            reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        return _stream(reader, writer, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncioStream:
        async with _faults(timeout, httpcore.ConnectTimeout, httpcore.ConnectError):
            reader, writer = await asyncio.open_unix_connection(path)
        return _stream(reader, writer, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _stream(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
) -> AsyncioStream:
    sock = writer.get_extra_info("socket")
    for option in socket_options or ():
        sock.setsockopt(*option)
    return AsyncioStream(reader, writer)


# --- asyncio's cancellation, and httpcore's pool ---------------------------------------------------


class CancelSafeTransport(httpx.AsyncBaseTransport):
    """An httpcore-based async transport that asyncio's cancellation cannot leave unusable.

    httpcore guards its bookkeeping with AnyIO locks and shields, which do not stop asyncio's own
    cancellation. A deadline (an asyncio timeout) that fires at either of two moments leaves a
    connection counted as in use for good, and the client's next request waits for it until its
    own deadline:

    - while a response closes, which httpx does as soon as a body is read to its end, inside the
      turn's deadlines: httpcore has marked the response closed before it hands the connection
      back (encode/httpcore#1115). Seen here as a turn that got no response for 30 s after a 50 ms
      drain happened to fire during a close. Each close runs in a task of its own, where it
      always finishes; the caller still sees its cancellation.
    - right after connecting, at the lock that marks the new connection busy: it stays "new",
      neither free nor closed. A slot's client serves one request at a time, so once a request
      is cancelled, any connection of its pool that is neither idle nor closed is such a one,
      and is closed; the pool then drops it and connects afresh.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except asyncio.CancelledError:
            pool = getattr(self._inner, "_pool", None)  # httpx's transport, or a proxy's
            if isinstance(pool, httpcore.AsyncConnectionPool):
                await _in_its_own_task(_close_stranded(pool))
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _ClosedInItsOwnTask(response.stream)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _close_stranded(pool: httpcore.AsyncConnectionPool) -> None:
    for connection in pool.connections:
        if not (connection.is_idle() or connection.is_closed()):
            await connection.aclose()


class _ClosedInItsOwnTask(httpx.AsyncByteStream):
    def __init__(self, body: httpx.AsyncByteStream) -> None:
        self._body = body

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._body.__aiter__()

    async def aclose(self) -> None:
        await _in_its_own_task(self._body.aclose())


async def _in_its_own_task(closing: Coroutine[Any, Any, None]) -> None:
    """Run a close to its end, even if the caller is cancelled meanwhile."""
    task = asyncio.ensure_future(closing)
    task.add_done_callback(_retrieve)  # a close that fails after its caller left is moot
    await asyncio.shield(task)


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


# --- one conversation at a time: the sync transport under the async client -----------------------


class BlockingTransport(httpx.AsyncBaseTransport):
    """httpx's sync HTTP transport behind the async client's interface, for a run in which one
    conversation is in flight: nothing else needs the event loop while its socket waits."""

    def __init__(self, context: ssl.SSLContext, *, trust_env: bool) -> None:
        # no limit on connections: a second request while a response is open gets its own,
        # where a limit of one would wait for a release that only this task could make
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=1)
        self._sync = httpx.HTTPTransport(verify=context, trust_env=trust_env, limits=limits)
        # the same private step as new_client's: socket waits bounded by the task's deadline
        self._sync._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        trace = request.extensions.get("trace")
        if trace is not None:
            request.extensions = {**request.extensions, "trace": _sync_trace(trace)}
        try:
            response = self._sync.handle_request(request)
        except httpx.TimeoutException:
            await _yield_to_deadline()
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_AsyncBody(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        self._sync.close()


class _AsyncBody(httpx.AsyncByteStream):
    """A sync response body read through the async client's interface."""

    def __init__(self, body: httpx.SyncByteStream) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            for chunk in self._body:
                # a server that never pauses never times a socket wait out: the deadline is
                # checked at each chunk too, or a fast endless body would outrun every timeout
                await _yield_to_deadline()
                yield chunk
        except httpx.TimeoutException:
            await _yield_to_deadline()
            raise

    async def aclose(self) -> None:
        self._body.close()


async def _yield_to_deadline() -> None:
    """A socket wait ended at the task's deadline: give the event loop the rounds in which that
    deadline's timeout fires and cancels this task, as it would have mid-read. A timeout of
    httpx's own (connect) returns at once, to be raised as it is."""
    if earliest_deadline() > asyncio.get_running_loop().time():
        return
    for _ in range(_ROUNDS_TO_FIRE):
        await asyncio.sleep(0)


#: a due timer runs in the loop's next round, after the callbacks already queued in this one
_ROUNDS_TO_FIRE = 3


_Trace = Callable[[str, dict[str, Any]], Awaitable[None]]


def _sync_trace(trace: _Trace) -> Callable[[str, dict[str, Any]], None]:
    """The sync transport calls trace hooks directly; convtest's own never suspend, so the
    coroutine runs to its end in one step."""

    def call(name: str, info: dict[str, Any]) -> None:
        step = trace(name, info).__await__()
        try:
            next(step)
        except StopIteration:
            return
        step.close()
        raise RuntimeError(f"trace hook {trace!r} awaited something: it cannot run in blocking mode")

    return call


def _bounded(timeout: float | None) -> float | None:
    """``timeout``, shortened so a socket wait ends by the task's earliest deadline."""
    deadline = earliest_deadline()
    if deadline == math.inf:
        return timeout
    # a timeout of 0 would make the socket non-blocking, an error instead of a timeout
    remaining = max(deadline - asyncio.get_running_loop().time(), _SHORTEST_WAIT)
    return remaining if timeout is None else min(timeout, remaining)


_SHORTEST_WAIT = 1e-4


class _DeadlineStream(httpcore.NetworkStream):
    """httpcore's socket stream, each wait bounded by :func:`_bounded`."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> _DeadlineStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _bounded(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sync backend, its streams bounded by the task's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> _DeadlineStream:
        stream = self._backend.connect_tcp(host, port, _bounded(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> _DeadlineStream:
        return _DeadlineStream(self._backend.connect_unix_socket(path, _bounded(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
