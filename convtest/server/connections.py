"""HTTP/1.1 connections that a slow or greedy client cannot hold for ever.

uvicorn's h11 protocol starts no timer while a request's headers arrive, and its keep-alive timer
starts over with every byte, so a client that sends its headers a byte at a time (slowloris), or
never, keeps its connection and a file descriptor for as long as it likes. This protocol gives
each request head a deadline, and turns connections over a cap away as soon as they are accepted.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "ConnectionLimits",
    "LimitedConfig",
    "LimitedH11Protocol",
    "default_max_connections",
]

#: seconds a client has to send a request's headers, from connecting or from its first byte
DEFAULT_HEADER_TIMEOUT = 10.0
_MAX_CONNECTIONS = 1000


def default_max_connections() -> int:
    """1,000, or half the files this process may open when that is fewer, so the cap comes first."""
    try:
        import resource
    except ImportError:  # Windows has no file limit to stay under
        return _MAX_CONNECTIONS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return _MAX_CONNECTIONS
    return max(1, min(_MAX_CONNECTIONS, soft // 2))


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How long a request head may take to arrive, and how many connections may be open at once."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_connections: int = field(default_factory=default_max_connections)

    def __post_init__(self) -> None:
        if not self.header_timeout > 0:
            raise ValueError(f"header_timeout must be more than 0 seconds, got {self.header_timeout}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {self.max_connections}")


class LimitedConfig(uvicorn.Config):
    """uvicorn's configuration, serving HTTP/1.1 with :class:`LimitedH11Protocol` and these limits."""

    def __init__(self, app: Any, limits: ConnectionLimits, **options: Any) -> None:
        super().__init__(app, http=LimitedH11Protocol, **options)
        self.limits = limits


def _too_many_connections(limit: int) -> bytes:
    detail = f"The server already has {limit} connections open (max_connections)."
    body = json.dumps(
        {"message": "Service Unavailable", "error": {"code": "TOO_MANY_CONNECTIONS", "detail": detail}}
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return (head + body).encode()


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for every request head and a cap on connections."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = config.limits if isinstance(config, LimitedConfig) else ConnectionLimits()
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            # Nothing was read, so closing sends a FIN and the client gets to read the answer.
            transport.write(_too_many_connections(self._limits.max_connections))
            transport.close()
            return
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._head_deadline is None and self.conn.their_state is h11.IDLE:
            self._await_head()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._stop_waiting()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._head_deadline = self.loop.call_later(self._limits.header_timeout, self._head_too_late)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_late(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.conn.send(h11.ConnectionClosed())
            self.transport.close()
