"""Client-token auth: a token obtained from a handshake endpoint before the first turn.

One :class:`ClientToken` per target caches the token for every conversation of the run; when a
turn is refused with 401 the adapter asks for a new one once, and conversations refused with the
same old token share that one renewal.
"""

from __future__ import annotations

import asyncio
import builtins
import json
from typing import Any

import httpx

from convtest.adapters.deadline import deadline_in
from convtest.adapters.dotted import MISSING, lookup, shape
from convtest.adapters.exchange import (
    BODY_LIMIT,
    Bearer,
    connect_reason,
    describe,
    parse_retry_after,
    status_message,
    token_rejection,
)
from convtest.adapters.robofy_settings import Handshake, robofy_settings
from convtest.exceptions import ConnectError, HTTPStatusError, ProtocolError, TargetError, TimeoutError
from convtest.secrets import note, redact
from convtest.targets import Target, Timeouts

__all__ = ["ClientToken"]


class ClientToken:
    """The current client token of one target; obtained on first use, renewed on request."""

    def __init__(self, target: Target, handshake: Handshake, client: httpx.AsyncClient) -> None:
        self.target = target
        self.handshake = handshake
        self.client = client
        self._token: str | None = None
        self._lock = asyncio.Lock()  # bound to the event loop that first uses it
        #: handshakes made so far: one per run, plus one per renewal
        self.count = 0

    async def get(self, timeouts: Timeouts) -> str:
        """The cached token, or a new one when there is none yet."""
        if self._token is None:
            async with self._lock:
                if self._token is None:
                    self._token = await self._fetch(timeouts)
        note(self._token)  # a secret of every conversation that uses it
        return self._token

    async def renew(self, rejected: str, timeouts: Timeouts) -> str:
        """A new token instead of ``rejected``; a no-op if another turn already renewed it."""
        async with self._lock:
            if self._token in (None, rejected):
                self._token = await self._fetch(timeouts)
            assert self._token is not None
            note(self._token)
            return self._token

    async def _fetch(self, timeouts: Timeouts) -> str:
        """One handshake, bounded by the turn's connect, first_byte and total timeouts."""
        self.count += 1
        url = self.handshake.url
        try:
            async with deadline_in(timeouts.total):
                response = await self.client.request(
                    self.handshake.method,
                    url,
                    json=self._body() if self.handshake.method != "GET" else None,
                    headers=self._headers(),
                    timeout=httpx.Timeout(timeouts.connect, read=timeouts.first_byte, write=None, pool=None),
                )
        except builtins.TimeoutError as exc:  # the deadline's; TimeoutError is convtest's here
            raise self._timeout(timeouts.total, "total") from exc
        except httpx.ConnectTimeout as exc:
            raise self._timeout(timeouts.connect, "connect") from exc
        except httpx.TimeoutException as exc:
            raise self._timeout(timeouts.first_byte, "first_byte") from exc
        except httpx.ConnectError as exc:
            raise ConnectError(
                f"handshake: cannot connect to {url}: {connect_reason(exc)}", target=self._name
            ) from exc
        except httpx.HTTPError as exc:
            raise ConnectError(f"handshake with {url} failed: {describe(exc)}", target=self._name) from exc
        return self._token_from(response)

    @property
    def _name(self) -> str:
        return self.target.name

    def _body(self) -> Any:
        if self.handshake.body is not None:
            return self.handshake.body
        settings = robofy_settings(self.target)
        return {"pid": settings.pid, "chatbot_id": settings.chatbot_id}

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.target.token:
            headers["Authorization"] = f"Bearer {self.target.token}"
        headers.update(self.target.headers)
        return headers

    def _timeout(self, seconds: float, kind: str) -> TargetError:
        message = f"no answer from the handshake at {self.handshake.url} within {seconds} s ({kind} timeout)"
        return TimeoutError(message, kind=kind, target=self._name, retryable=True)

    def _token_from(self, response: httpx.Response) -> str:
        url, body = self.handshake.url, redact(response.text, self.target.secrets)[:BODY_LIMIT]
        if not response.is_success:
            bearer = Bearer(self.target.token, token_rejection(self.target))
            message = status_message(
                f"handshake at {url} failed: HTTP {response.status_code}", response, body, bearer
            )
            raise HTTPStatusError(
                message,
                status=response.status_code,
                body=body,
                target=self._name,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        try:
            data = json.loads(response.content)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
            raise ProtocolError(
                f"handshake answer from {url} is not JSON: {body[:200]!r}", target=self._name
            ) from None
        token = lookup(data, self.handshake.token_path)
        if not isinstance(token, str) or not token:
            found = "nothing" if token is MISSING else repr(type(token).__name__)
            raise ProtocolError(
                f"handshake answer from {url} has no token at `{self.handshake.token_path}` "
                f"(auth.handshake.token_path): found {found} in {shape(data)}",
                target=self._name,
            )
        return token
