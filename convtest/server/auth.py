"""Who may talk to the reference agent: its API token, or a client token from the handshake.

Client tokens are what a web widget holds: obtained from ``POST /v1/ai-agent/chat/handshake``
(the API token as bearer, ``{"pid", "chatbot_id"}`` as body) and good for ``client_token_uses``
requests each (no limit by default), so a test can watch a client renew an expired one.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict

__all__ = ["CLIENT_TOKEN_SECONDS", "HANDSHAKE_PATH", "Gatekeeper"]

HANDSHAKE_PATH = "/v1/ai-agent/chat/handshake"
#: what the handshake announces as ``expires_in``; tokens really expire by use count
CLIENT_TOKEN_SECONDS = 3600
#: client tokens remembered at once, oldest out first, so long benchmarks stay bounded
_MAX_CLIENT_TOKENS = 10_000
_INVALID = "Authentication token is missing or invalid."


class Gatekeeper:
    """Checks bearer tokens; issues and counts down client tokens."""

    def __init__(self, token: str | None, client_token_uses: int | None = None) -> None:
        if client_token_uses is not None and client_token_uses < 0:
            raise ValueError("client_token_uses must not be negative")
        self._token = token.encode() if token else None
        self._uses = client_token_uses
        #: client token -> requests it may still make (None: no limit)
        self._client_tokens: OrderedDict[str, int | None] = OrderedDict()

    def refusal(self, authorization: str, *, client_tokens: bool = True) -> str | None:
        """None when the ``Authorization`` header may pass; else the 401's detail."""
        if self._token is None:
            return None
        credentials = _bearer(authorization)
        if credentials is None:
            return _INVALID
        if hmac.compare_digest(credentials.encode(), self._token):
            return None
        if not client_tokens or credentials not in self._client_tokens:
            return _INVALID
        remaining = self._client_tokens[credentials]
        if remaining is None:
            return None
        if remaining <= 0:
            del self._client_tokens[credentials]
            return "Client token expired; obtain a new one from the handshake."
        self._client_tokens[credentials] = remaining - 1
        return None

    def issue(self) -> str:
        token = f"ct_{secrets.token_urlsafe(18)}"
        self._client_tokens[token] = self._uses
        if len(self._client_tokens) > _MAX_CLIENT_TOKENS:
            self._client_tokens.popitem(last=False)
        return token


def _bearer(authorization: str) -> str | None:
    scheme, _, credentials = authorization.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None
