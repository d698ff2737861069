"""Running the reference agent for real: uvicorn on a socket bound here, in a thread or in the foreground.

Binding the socket ourselves makes ``port=0`` race-free: the kernel picks a free port and nobody
can take it between choosing and listening. The server runs on its own event loop, so tests and
the pytest plugin can start it from synchronous code.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from convtest.server.agent import Agent
from convtest.server.app import DEFAULT_MAX_BODY_BYTES, DEFAULT_TOKEN, create_app, release_held_streams
from convtest.server.connections import DEFAULT_HEADER_TIMEOUT, ConnectionLimits, LimitedConfig

__all__ = ["ReferenceServer", "serve_forever"]

_STARTUP_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_BACKLOG = 2048
_MAX_PORT = 65535


class _Server(uvicorn.Server):
    """A uvicorn server that reports readiness and ends held-open streams before shutting down."""

    def __init__(self, app: Starlette, limits: ConnectionLimits) -> None:
        config = LimitedConfig(
            app,
            limits,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # Leave the host process's logging alone: no dictConfig of uvicorn's defaults.
            log_config=None,
            loop="asyncio",
            # LimitedConfig serves with h11, which tells the app about client disconnects (ASGI 2.3):
            # that ends held-open streams.
            ws="none",
            proxy_headers=False,
            # A backstop: streams still running after this are cancelled.
            timeout_graceful_shutdown=1,
        )
        super().__init__(config)
        self._app = app
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        release_held_streams(self._app)
        await super().shutdown(sockets=sockets)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, so connections queue even before the event loop accepts them."""
    if not 0 <= port <= _MAX_PORT:
        # socket.bind would raise OverflowError with a message that does not say which port.
        raise ValueError(f"port must be 0-{_MAX_PORT}, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets that do, and without
    # it Nagle's algorithm holds small events back for a delayed ACK (40 ms on Linux).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # Lets a fixed port be reused at once after a restart, without waiting out TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _limits(header_timeout: float, max_connections: int | None) -> ConnectionLimits:
    if max_connections is None:
        return ConnectionLimits(header_timeout)
    return ConnectionLimits(header_timeout, max_connections)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ReferenceServer:
    """The reference agent on a real local port, in a daemon thread; a context manager.

    Hostile clients are refused: a body over ``max_body_bytes`` is a 413, a connection whose
    request head takes more than ``header_timeout`` seconds is closed, and one past
    ``max_connections`` (default 1,000, fewer under a low file limit) gets a 503 and is closed.

    >>> with ReferenceServer() as server:
    ...     httpx.get(f"{server.url}/health")
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        token: str | None = DEFAULT_TOKEN,
        latency_ms: float = 0,
        token_latency_ms: float = 0,
        *,
        agent: Agent | None = None,
        max_sessions: int = 10_000,
        client_token_uses: int | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        max_connections: int | None = None,
    ) -> None:
        self.host = host
        self.token = token
        self._port = port
        self._app = create_app(
            token=token,
            latency_ms=latency_ms,
            token_latency_ms=token_latency_ms,
            agent=agent,
            max_sessions=max_sessions,
            client_token_uses=client_token_uses,
            max_body_bytes=max_body_bytes,
        )
        self._limits = _limits(header_timeout, max_connections)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually listened on once started (the requested one before)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``; only meaningful once started."""
        if self._thread is None:
            raise RuntimeError("the reference server is not running; call start() first")
        return _url(self.host, self._port)

    def start(self) -> ReferenceServer:
        """Listen and serve in a daemon thread; returns once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("the reference server is already running")
        sock = _bind(self.host, self._port)
        self._port = sock.getsockname()[1]
        server = _Server(self._app, self._limits)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"convtest-reference-{self._port}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not server.ready.wait(0.01):
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError(f"the reference server did not start on {_url(self.host, self._port)}")
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop gracefully: running streams get up to a second, held-open ones end at once."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT)
        self._server = self._thread = None

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = DEFAULT_TOKEN,
    latency_ms: float = 0,
    token_latency_ms: float = 0,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    max_connections: int | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; ``on_ready`` gets the URL once listening.

    Ctrl-C shuts down gracefully, then raises ``KeyboardInterrupt`` for the caller to swallow.
    """
    app = create_app(
        token=token,
        latency_ms=latency_ms,
        token_latency_ms=token_latency_ms,
        max_body_bytes=max_body_bytes,
    )
    limits = _limits(header_timeout, max_connections)
    sock = _bind(host, port)
    if on_ready is not None:
        on_ready(_url(host, sock.getsockname()[1]))
    _Server(app, limits).run(sockets=[sock])
