"""Adapter for the Robofy chat API: ``POST /v1/ai-agent/chat/stream``, or ``/v1/ai-agent/chat``.

One turn is one POST. With ``stream: true`` (the default) the answer is a UI message stream of
server-sent events ended by ``data: [DONE]`` (:mod:`convtest.adapters.sse`); with ``stream: false``
it is one JSON document read through the target's ``response_fields``
(:mod:`convtest.adapters.json_answer`). Either way every fault becomes one
:class:`~convtest.exceptions.TargetError` that names the target and URL and carries whatever
arrived before it (:mod:`convtest.adapters.exchange`).

Auth is the target's bearer ``token``, or a client token from a handshake
(:mod:`convtest.adapters.handshake`), obtained before the first turn and renewed once on a 401.

:data:`ROBOFY` registers it (entry point ``robofy`` of the ``convtest.adapters`` group); its own
target options are read by :mod:`convtest.adapters.robofy_settings`.
"""

from __future__ import annotations

from typing import Any

import httpx

from convtest.adapters.base import AdapterKind, TurnRequest
from convtest.adapters.exchange import BODY_LIMIT, Bearer, Exchange, token_rejection, turn_timeouts
from convtest.adapters.handshake import ClientToken
from convtest.adapters.json_answer import JSONExchange
from convtest.adapters.robofy_settings import ROBOFY_OPTIONS, configure_robofy, robofy_settings
from convtest.adapters.sse import StreamExchange
from convtest.exceptions import ConfigError, HTTPStatusError, TargetError
from convtest.secrets import redact
from convtest.targets import Target
from convtest.transcript import TurnTranscript

__all__ = ["BODY_LIMIT", "ROBOFY", "RobofyAdapter"]


class RobofyAdapter:
    """Send turns to one Robofy-compatible target over a shared ``httpx.AsyncClient``.

    Timings count from the start of the request, connecting included, as a user waits:
    ``first_byte_ms`` when the response headers arrived, ``first_token_ms`` at the first text,
    ``total_ms`` at ``[DONE]`` (or at the end of a JSON answer).
    """

    def __init__(self, target: Target, client: httpx.AsyncClient) -> None:
        self.name = target.name
        self.target = target
        self.settings = robofy_settings(target)
        self.client = client
        self.url = _endpoint(target, self.settings.endpoint_path)
        #: how a successful response is read: an event stream, or one JSON answer
        self.exchange: type[Exchange] = StreamExchange if self.settings.stream else JSONExchange
        handshake = self.settings.handshake
        self.client_token = None if handshake is None else ClientToken(target, handshake, client)

    async def send_turn(self, request: TurnRequest) -> TurnTranscript:
        try:
            if self.client_token is None:
                return await self._send(request, Bearer(self.target.token, token_rejection(self.target)))
            return await self._send_with_client_token(request, self.client_token)
        except TargetError as exc:
            if exc.transcript is None:  # a failed handshake: the turn itself was never sent
                exc.transcript = TurnTranscript(user=request.query)
            raise

    async def _send_with_client_token(
        self, request: TurnRequest, client_token: ClientToken
    ) -> TurnTranscript:
        """Send with the cached client token; on a 401, renew it once and send again."""
        timeouts = turn_timeouts(self.target, request)
        token = await client_token.get(timeouts)
        try:
            return await self._send(request, self._client_bearer(token, renewed=False))
        except HTTPStatusError as exc:
            if exc.status != 401:
                raise
        token = await client_token.renew(token, timeouts)
        return await self._send(request, self._client_bearer(token, renewed=True))

    async def aclose(self) -> None:
        """Nothing to release: the client is shared and closed by its owner."""

    async def _send(self, request: TurnRequest, bearer: Bearer) -> TurnTranscript:
        return await self.exchange(
            self.target, self.client, self.url, request, self.body(request), bearer
        ).run()

    def _client_bearer(self, token: str, *, renewed: bool) -> Bearer:
        assert self.settings.handshake is not None
        again = ", also after renewing it" if renewed else ""
        return Bearer(
            token, f"the client token from the handshake at {self.settings.handshake.url} was refused{again}"
        )

    def body(self, request: TurnRequest) -> dict[str, Any]:
        context: dict[str, Any] = {"platform": request.platform}
        if request.session_id is not None:
            context["session_id"] = request.session_id
        context.update(request.user_context)
        return {
            "query": request.query,
            "pid": self.settings.pid,
            "chatbot_id": self.settings.chatbot_id,
            "user_context": context,
        }


#: the ``robofy`` adapter, registered in convtest's own pyproject.toml like any third-party one
ROBOFY = AdapterKind(name="robofy", create=RobofyAdapter, options=ROBOFY_OPTIONS, configure=configure_robofy)


def _endpoint(target: Target, path: str) -> str:
    url = target.base_url.rstrip("/") + path
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        shown = redact(f"{url!r}: {exc}", target.secrets)
        raise ConfigError(f"{_where(target)}: invalid URL {shown}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        shown = redact(repr(target.base_url), target.secrets)
        raise ConfigError(f"{_where(target)}: base_url must be an http(s) URL, got {shown}")
    return url


def _where(target: Target) -> str:
    at = f" ({target.location})" if target.location else ""
    return f"target {target.name!r}{at}"
