"""``adapter: http``: any chatbot behind HTTP, its request and answer described in convtest.yaml.

Each turn renders the target's ``request`` templates (:mod:`convtest.adapters.http_settings`)
over the turn and sends them through :class:`~convtest.adapters.exchange.Exchange`, so every
deadline and fault verdict is the Robofy adapter's. The answer is one JSON document read by
``response_fields`` (as :mod:`convtest.adapters.json_answer` reads Robofy's), or a stream of
server-sent events or NDJSON lines read by ``events`` rules (:mod:`convtest.adapters.http_events`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import httpx

from convtest.adapters.base import AdapterKind, TurnRequest
from convtest.adapters.exchange import Bearer, Exchange, drain, token_rejection
from convtest.adapters.http_events import EventError, EventFolder, NDJSONDecoder, sse_event
from convtest.adapters.http_settings import HTTP_OPTIONS, HTTPSettings, configure_http
from convtest.adapters.json_answer import JSONExchange
from convtest.adapters.robofy_settings import ResponseFields
from convtest.exceptions import ConfigError, ProtocolError, StreamCutError, TargetError, TemplateRenderError
from convtest.stream import SSEDecoder, preview, preview_bytes
from convtest.targets import Target
from convtest.templating import Template, render_value
from convtest.transcript import Exchange as Turn
from convtest.transcript import TurnTranscript

__all__ = ["HTTP_ADAPTER", "HTTPAdapter", "request_context"]

#: a JSON body's string that is one name and nothing else keeps the value's own type
_ONE_NAME: Final = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


def request_context(request: TurnRequest) -> dict[str, Any]:
    """What the request templates read: the turn, and the conversation so far as plain data."""
    history = [_past(turn) for turn in request.history]
    messages: list[dict[str, str]] = []
    for turn in history:
        messages += [
            {"role": "user", "content": turn["user"]},
            {"role": "assistant", "content": turn["text"]},
        ]
    messages.append({"role": "user", "content": request.query})
    return {
        "user": request.query,
        "session_id": request.session_id or "",
        "history": history,
        "messages": messages,
        "platform": request.platform,
        "turn": len(history) + 1,
    }


def _past(turn: Turn) -> dict[str, Any]:
    transcript = turn.transcript
    calls = [{"name": c.name, "input": c.input, "output": c.output} for c in transcript.tool_calls]
    return {"user": turn.user, "text": transcript.text, "tool_calls": calls}


class HTTPAdapter:
    """Send turns to one target whose request and answer shapes are its settings."""

    def __init__(self, target: Target, client: httpx.AsyncClient) -> None:
        if not isinstance(target.settings, HTTPSettings):
            raise ConfigError(f"target {target.name!r}: the http adapter got no settings")
        self.name = target.name
        self.target = target
        self.settings = target.settings
        self.client = client
        self.exchange: type[_Rendered] = _EXCHANGES[self.settings.format]

    async def send_turn(self, request: TurnRequest) -> TurnTranscript:
        try:
            method, url, headers, payload = self._render(request_context(request))
        except TemplateRenderError as exc:
            message = f"cannot build the request: {exc}"
            raise TargetError(
                message, target=self.name, transcript=TurnTranscript(user=request.query)
            ) from None
        bearer = Bearer(self.target.token, token_rejection(self.target))
        exchange = self.exchange(self.target, self.client, url, request, {}, bearer)
        exchange.method, exchange.request_headers, exchange.rendered_payload = method, headers, payload
        return await exchange.run()

    async def aclose(self) -> None:
        """Nothing to release: the client is shared and closed by its owner."""

    def _render(self, context: Mapping[str, Any]) -> tuple[str, str, dict[str, str], dict[str, Any]]:
        settings = self.settings
        method = str(render_value(settings.method, context)).strip().upper()
        url = str(render_value(settings.url, context))
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise TemplateRenderError(f"`request.url` rendered {url!r}, not a URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise TemplateRenderError(f"`request.url` rendered {url!r}, not an http(s) URL")
        headers = {name: str(render_value(value, context)) for name, value in settings.headers.items()}
        return method, url, {name: value for name, value in headers.items() if value}, self._payload(context)

    def _payload(self, context: Mapping[str, Any]) -> dict[str, Any]:
        body = self.settings.body
        if body is None:
            return {}
        if isinstance(body, str | Template):
            return {"content": str(render_value(body, context)).encode()}
        return {"json": _render_json(body, context)}


def _render_json(value: Any, context: Mapping[str, Any]) -> Any:
    """Render the strings of a JSON body; ``"{{ history }}"`` alone gives the list, not its text."""
    if isinstance(value, Template):
        found = _ONE_NAME.match(value.source)
        return context[found.group(1)] if found else value.render(context)
    if isinstance(value, dict):
        return {key: _render_json(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_json(item, context) for item in value]
    return value


class _Rendered(Exchange):
    """An exchange whose method, headers and body were rendered for this turn, and whose session
    id may come from a response header or cookie."""

    rendered_payload: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return self.rendered_payload

    @property
    def http_settings(self) -> HTTPSettings:
        assert isinstance(self.target.settings, HTTPSettings)
        return self.target.settings

    def session_from(self, response: httpx.Response) -> str | None:
        settings = self.http_settings
        if settings.session_header:
            header: str | None = response.headers.get(settings.session_header)
            return header
        if settings.session_cookie:
            cookie: str | None = response.cookies.get(settings.session_cookie)
            return cookie
        return None


class _JSONAnswer(_Rendered, JSONExchange):
    """One JSON document, read by the target's ``response_fields``."""

    def response_fields(self) -> ResponseFields:
        return self.http_settings.response_fields

    async def read(self, response: httpx.Response) -> None:
        await super().read(response)
        session_id = self.session_from(response)
        if session_id:
            self.transcript.session_id = session_id


class _Events(_Rendered):
    """A stream of events, each folded into the transcript as it arrives."""

    #: what the stream and one of its events are called in messages
    unit: ClassVar[str]
    unit_name: ClassVar[str]
    #: bytes -> events, each within ``limits.max_event_bytes``
    decoder_class: ClassVar[type[SSEDecoder] | type[NDJSONDecoder]]
    decoder: SSEDecoder | NDJSONDecoder

    def _new_transcript(self, user: str) -> TurnTranscript:
        self.decoder = self.decoder_class(self.target.max_event_bytes)
        settings = self.http_settings
        self.folder = EventFolder(settings.events, settings.response_fields, user)
        return self.folder.reply.transcript

    @property
    def transcript(self) -> TurnTranscript:
        return self.folder.reply.transcript

    @property
    def finished(self) -> bool:
        return self.folder.done

    async def read(self, response: httpx.Response) -> None:
        self.awaiting_body()
        chunks = self.body_pieces(response)
        async for chunk in chunks:
            # fed before the deadline moves: the first text lifts the first_token deadline
            done = self._fold(self.decode(chunk))
            self.body_chunk()
            if done:
                await drain(chunks)
                return self._end(response)
            too_large = self.too_large_event()
            if too_large is not None:
                limit = self.target.max_event_bytes
                raise self._limit_error(
                    f"{self.unit_name} {too_large} from {self.url} is larger than limits.max_event_bytes "
                    f"({limit} bytes)"
                )
        done = self._fold(self.close())
        if not done and (self.unterminated() or self.http_settings.events.done is not None):
            raise self.cut_error()
        self.folder.done = True
        self._end(response)

    def _fold(self, events: list[Any]) -> bool:
        """Fold events in, one by one (what came before a bad one is kept); true once the
        ``done`` event arrived."""
        for event in events:
            if self.folder.events >= self.target.max_events:
                limit = self.target.max_events
                raise self._limit_error(
                    f"stream from {self.url} has more than limits.max_events ({limit}) events"
                )
            try:
                self.folder.feed(self.event(event, self.folder.events + 1))
            except EventError as exc:
                message = f"bad {self.unit} stream from {self.url}: {exc}"
                raise ProtocolError(message, target=self.target.name, transcript=self.transcript) from None
            if self.timings.first_token_ms is None and self.folder.reply.has_text:
                self.timings.first_token_ms = self.elapsed_ms()
            if self.folder.done:
                return True
        return False

    def _end(self, response: httpx.Response) -> None:
        self.folder.reply.finish(default_reason=None)
        self.timings.total_ms = self.elapsed_ms()
        session_id = self.session_from(response)
        if session_id:
            self.transcript.session_id = session_id

    def decode(self, chunk: bytes) -> list[Any]:
        return list(self.decoder.feed(chunk))

    def close(self) -> list[Any]:
        return list(self.decoder.close())

    def event(self, decoded: Any, number: int) -> Any:
        """What the rules read of one decoded event."""
        return decoded

    def unterminated(self) -> bytes:
        return self.decoder.unterminated

    def too_large_event(self) -> int | None:
        """The number of an event past ``limits.max_event_bytes``, once the decoder met one."""
        return self.decoder.too_large

    def too_large_error(self) -> ProtocolError:
        return self._limit_error(
            f"stream from {self.url} is larger than limits.max_turn_bytes "
            f"({self.target.max_turn_bytes} bytes) after {self.folder.events} events"
        )

    def _limit_error(self, problem: str) -> ProtocolError:
        """A limit of the target was passed: the turn ends, keeping what arrived before."""
        return ProtocolError(
            f"{problem}; raise it in convtest.yaml", target=self.target.name, transcript=self.transcript
        )

    def progress(self) -> str:
        return f" after {self.folder.events} events; text so far: {preview(self.transcript.text, 80)}"

    def cut_error(self, reason: str = "") -> StreamCutError:
        ended = "ended before its done event" if self.http_settings.events.done else "was cut"
        message = f"stream from {self.url} {ended} after {self.folder.events} events"
        if reason:
            message += f" ({reason})"
        if self.unterminated():
            message += f"; last line cut: {preview_bytes(self.unterminated(), 80)}"
        message += f"; text so far: {preview(self.transcript.text, 80)}"
        return StreamCutError(message, target=self.target.name, transcript=self.transcript)


class _SSE(_Events):
    content_types = ("text/event-stream",)
    accept = "text/event-stream"
    unit = "event"
    unit_name = "event"
    decoder_class = SSEDecoder

    def event(self, decoded: Any, number: int) -> Any:
        return sse_event(decoded, number)


class _NDJSON(_Events):
    content_types = ("ndjson", "jsonl", "jsonlines", "application/json")
    accept = "application/x-ndjson"
    unit = "NDJSON"
    unit_name = "line"
    decoder_class = NDJSONDecoder
    decoder: NDJSONDecoder

    def event(self, decoded: Any, number: int) -> Any:
        return self.decoder.parse(decoded, number)


_EXCHANGES: Final[dict[str, type[_Rendered]]] = {"json": _JSONAnswer, "sse": _SSE, "ndjson": _NDJSON}

#: the ``http`` adapter, registered in convtest's pyproject.toml like any third-party one
HTTP_ADAPTER = AdapterKind(name="http", create=HTTPAdapter, options=HTTP_OPTIONS, configure=configure_http)
