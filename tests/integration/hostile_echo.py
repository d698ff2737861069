"""Test helper: a misbehaving bot on 127.0.0.1 that echoes back everything it was sent.

Every request's bearer token, headers, path and body (the handshake's, the turn's) are collected
into one "echo" text, together with planted values the test hands it; each turn's query names a
way to send that echo back: an error status, an HTML page, a stream's text, tool inputs and
outputs, error chunks, a stream cut in the middle of a secret, a malformed event. The secrets
sit at the places where convtest cuts text for display (first characters, limits of previews
and excerpts, BODY_LIMIT), so a redaction that came after a cut would leave a piece.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["HANDSHAKE_ONLY", "MODES", "EchoServer"]

#: planted values that only a turn sent with the client token gets back
HANDSHAKE_ONLY = ("AUDIT_HS", "client token")

#: where convtest cuts bot text: failure text (400), excerpts (200 head, 80 tail), JSON (120,
#: 160), previews (80, 120, 200), error bodies (2048)
CUTS = (80, 120, 160, 200, 300, 400, 2048)

#: what a turn's query may ask for; each fails its turn in its own way
MODES = (
    "status",
    "unauthorized",
    "html",
    "bigbody",
    "redirect",
    "text",
    "tools",
    "errorchunk",
    "cut",
    "cutline",
    "badevent",
    "reasoning",
)


ESCAPES = "\x1b]0;owned\x07\x1b[2K\rPASSED \x9b31m"


def sse(*chunks: dict[str, Any] | str) -> bytes:
    texts = (c if isinstance(c, str) else json.dumps(c, ensure_ascii=False) for c in chunks)
    return b"".join(b"data: %s\n\n" % text.encode() for text in texts)


START = sse({"type": "start", "messageId": "m1"}, {"type": "start-step"}, {"type": "text-start", "id": "0"})
END = sse(
    {"type": "text-end", "id": "0"},
    {"type": "finish-step"},
    {"type": "finish", "finishReason": "stop"},
    "[DONE]",
)


def at_cuts(secret: str, offset: int = 0) -> str:
    """``secret`` written across every cut, counted from ``offset`` characters before the text
    (a JSON or HTML prefix), and across the 80th character from the end."""
    text = secret + " "
    for cut in CUTS:
        start = max(len(text), cut - offset - len(secret) // 2)
        text += "x" * (start - len(text)) + secret
    return text + " " + secret + "y" * (80 - len(secret) // 2)


class EchoServer:
    """The hostile bot in a thread; :attr:`received` holds everything it was sent.

    Each reply echoes the planted values and what this request carried; a turn sent with the
    client token also echoes what came with the handshake that issued it (a bot echoes what its
    own caller gave it, not what another target sent)."""

    def __init__(self, planted: dict[str, str], client_token: str) -> None:
        #: every planted value by name: a query's ``focus=NAME`` puts that one across the cuts
        self.known = planted
        self.planted = tuple(value for name, value in planted.items() if name not in HANDSHAKE_ONLY)
        self.client_token = client_token
        self.received: list[str] = []
        self.handshake: list[str] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"bot": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def echo(self, request: list[str]) -> list[str]:
        """What a reply to ``request`` (the values it carried) sends back, longest first."""
        with self._lock:
            values = {*self.planted, *request}
            if self.client_token in request:
                values.update(self.handshake)
        return sorted((v for v in values if len(v) >= 4), key=len, reverse=True)

    def keep(self, values: list[str], *, handshake: bool) -> None:
        with self._lock:
            self.received.extend(values)
            if handshake:
                self.handshake.extend(values)


class _Handler(BaseHTTPRequestHandler):
    bot: EchoServer
    request: list[str]
    #: the secret written across the cuts of this reply
    focus: str
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: a cut is a close

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        body = _json(raw)
        self.request = [
            self.path,
            *self.path.strip("/").split("/"),
            *(value.removeprefix("Bearer ") for value in self.headers.values()),
            *_strings(body),
        ]
        self.bot.keep(self.request, handshake=self.path.endswith("/handshake"))
        if self.path.endswith("/handshake"):
            self._send(200, "application/json", json.dumps({"token": self.bot.client_token}).encode())
            return
        query = str(body.get("query", "")) if isinstance(body, dict) else ""
        words = query.split()
        mode = next((mode for mode in MODES if mode in words), "text")
        focus = next((word.removeprefix("focus=") for word in words if word.startswith("focus=")), "")
        self.focus = self.bot.known.get(focus.replace("+", " "), "")
        getattr(self, f"_{mode}")()

    def _send(self, status: int, content_type: str, data: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def _all(self, offset: int = 0) -> str:
        """The focused secret across the cuts (counted from ``offset``), then every value
        whole, then escape sequences that would retitle the terminal, erase the line and
        return to its start."""
        every = " | ".join(self.bot.echo(self.request))
        return f"{at_cuts(self.focus, offset)} | {every} {ESCAPES} {at_cuts(self.focus)}"

    def _status(self) -> None:
        body = {"error": {"detail": self._all()}, "message": self._all()}
        self._send(500, "application/json", json.dumps(body).encode())

    def _unauthorized(self) -> None:
        self._send(401, "text/plain", self._all().encode())

    def _html(self) -> None:
        prefix = "<html><body><p>"
        self._send(200, "text/html", f"{prefix}{self._all(len(prefix))}</p></body></html>".encode())

    def _bigbody(self) -> None:
        self._send(502, "text/html", f"<html>{self._all(len('<html>'))}</html>".encode())

    def _redirect(self) -> None:
        self._send(302, "text/plain", self._all().encode(), Location=f"http://127.0.0.1:1/{self.focus}")

    def _stream(self, *middle: bytes, end: bytes = END) -> None:
        self._send(200, "text/event-stream", START + b"".join(middle) + end)

    def _delta(self, text: str) -> bytes:
        return sse({"type": "text-delta", "id": "0", "delta": text})

    def _text(self) -> None:
        self._stream(self._delta(self._all()))

    def _reasoning(self) -> None:
        reasoning = sse(
            {"type": "reasoning-start", "id": "r"},
            {"type": "reasoning-delta", "id": "r", "delta": self._all()},
            {"type": "reasoning-end", "id": "r"},
        )
        self._stream(reasoning, self._delta("thinking done"))

    def _tools(self) -> None:
        """Inputs and outputs with the focused secret across the cuts of their compact JSON;
        then one call per echoed value, in a key and in a value."""
        secret = self.focus
        calls = [
            {"q": at_cuts(secret, len('{"q": "'))},
            {"found": at_cuts(secret, len('{"found": "'))},
            *({value: value} for value in self.bot.echo(self.request)),
        ]
        events = [
            sse(
                {"type": "tool-input-available", "toolCallId": f"c{n}", "toolName": "lookup", "input": data},
                {"type": "tool-output-available", "toolCallId": f"c{n}", "output": data},
            )
            for n, data in enumerate(calls)
        ]
        self._stream(*events, self._delta("done"))

    def _errorchunk(self) -> None:
        self._stream(self._delta("oops"), sse({"type": "error", "errorText": self._all()}))

    def _cut(self) -> None:
        """The stream ends in the middle of a secret: no [DONE], the connection closes."""
        secret = self.focus
        self._stream(self._delta(self._all() + " partial " + secret[: len(secret) // 2 + 4]), end=b"")

    def _cutline(self) -> None:
        """The last line breaks off, across the 80th character of its preview."""
        prefix = 'data: {"type": "text-delta", "id": "0", "delta": "'
        self._stream(self._delta("so far"), f"{prefix}{at_cuts(self.focus, len(prefix))}".encode(), end=b"")

    def _badevent(self) -> None:
        prefix = '{"type": "text-delta", "id": 7, "delta": "'
        self._stream(
            self._delta("fine"), sse({"type": "text-delta", "id": 7, "delta": self._all(len(prefix))})
        )


def _json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
