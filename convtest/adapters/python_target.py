"""``adapter: python``: an agent function called in-process, one call per turn.

``callable: mypkg.bot:reply`` (or ``bots/echo.py:reply``, relative to convtest.yaml's folder) is
imported when the target is configured. Each turn calls it with the parameters it names among
``user``, ``session_id``, ``history``, ``platform``, ``turn`` and ``session`` (a dict that lasts
for one conversation), plus the target's ``args``. It may be a sync or async function returning
a string or a dict, or a sync or async generator yielding text chunks and events
(:mod:`convtest.adapters.reply`).

Sync code runs in a thread of its own, so the event loop (and every other conversation) never
waits for it. The turn's ``total``, ``first_token`` and, between a generator's items, ``idle``
timeouts are named verdicts; a sync function still running then is left to finish in its
(daemon) thread, since Python cannot stop a thread. An exception of the callable is a verdict that
shows the callable's own traceback, not convtest's frames.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import contextvars
import dataclasses
import inspect
import threading
import traceback
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from convtest.adapters.base import AdapterKind, TurnRequest
from convtest.adapters.deadline import Deadline
from convtest.adapters.options import TargetOptions, require_mapping
from convtest.adapters.reply import Finish, ReplyBuilder, ReplyError, Text, ToolCall
from convtest.checks.python import import_function
from convtest.exceptions import ConfigError, ProtocolError, TargetError, TimeoutError
from convtest.stream import preview
from convtest.targets import Target, Timeouts
from convtest.transcript import TurnTranscript

if TYPE_CHECKING:
    import httpx

__all__ = [
    "PYTHON_ADAPTER",
    "PYTHON_OPTIONS",
    "TURN_PARAMETERS",
    "CallableError",
    "Finish",
    "PythonAdapter",
    "PythonSettings",
    "Text",
    "ToolCall",
    "configure_python",
]

#: the target keys of ``adapter: python`` beyond the common ones
PYTHON_OPTIONS: Final = frozenset({"callable", "args"})
#: what a callable may ask for by parameter name
TURN_PARAMETERS: Final = frozenset({"user", "session_id", "history", "platform", "turn", "session"})
_INDENT: Final = " " * 8

Shape = Literal["function", "coroutine", "generator", "async_generator"]


class CallableError(TargetError):
    """The in-process callable raised; the message carries its own traceback."""


@dataclass(frozen=True, slots=True)
class PythonSettings:
    """The imported callable, how it is called, and the extra keyword arguments it gets."""

    #: as written in convtest.yaml: ``mypkg.bot:reply``
    reference: str
    function: Callable[..., Any] = field(compare=False)
    shape: Shape
    #: the turn parameters it takes (all of them when it takes ``**kwargs``)
    parameters: frozenset[str]
    args: Mapping[str, Any] = field(default_factory=dict)


def configure_python(options: TargetOptions) -> PythonSettings:
    """The ``configure`` hook: import the callable now, so a typo fails before any turn is sent."""
    reference = options.text("callable")
    if not reference:
        raise options.error("`callable` is required (e.g. callable: mypkg.bot:reply or bots/echo.py:reply)")
    try:
        function = import_function(reference, options.folder or Path.cwd(), allow_async=True)
    except ValueError as exc:
        raise options.error(f"`callable` {reference}: {exc}") from None
    args = _args(options)
    parameters = _parameters(
        function, args, lambda problem: options.error(f"`callable` {reference} {problem}")
    )
    return PythonSettings(reference, function, _shape(function), parameters, args)


def _args(options: TargetOptions) -> dict[str, Any]:
    raw = options.raw.get("args") or {}
    where = f"{options.where}: `args`"
    require_mapping(raw, where)
    for name in raw:
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"{where}: `{name}` is not a Python parameter name")
        if name in TURN_PARAMETERS:
            raise ConfigError(f"{where}: `{name}` is a turn parameter convtest fills in; use another name")
    return dict(options.interpolate_tree(dict(raw), where))


def _parameters(
    function: Callable[..., Any], args: Mapping[str, Any], error: Callable[[str], ConfigError]
) -> frozenset[str]:
    """The turn parameters to pass; a parameter convtest cannot fill is an error now."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return frozenset()
    known = TURN_PARAMETERS | args.keys()
    taken: set[str] = set()
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return TURN_PARAMETERS
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.name in known and parameter.kind is not inspect.Parameter.POSITIONAL_ONLY:
            taken.add(parameter.name)
        elif parameter.default is inspect.Parameter.empty:
            names = ", ".join(sorted(known))
            raise error(f"takes `{parameter.name}`, which convtest cannot fill (it passes by name: {names})")
    missing = args.keys() - taken
    if missing:
        raise error(f"takes no parameter `{sorted(missing)[0]}` given in `args`")
    return frozenset(taken & TURN_PARAMETERS)


def _shape(function: Callable[..., Any]) -> Shape:
    if inspect.isasyncgenfunction(function):
        return "async_generator"
    if inspect.iscoroutinefunction(function):
        return "coroutine"
    if inspect.isgeneratorfunction(function):
        return "generator"
    return "function"


def python_settings(target: Target) -> PythonSettings:
    if not isinstance(target.settings, PythonSettings):
        raise ConfigError(f"target {target.name!r}: the python adapter needs a `callable`")
    return target.settings


class PythonAdapter:
    """One conversation at a time; :attr:`session` lasts from its first turn to its last."""

    def __init__(self, target: Target, client: httpx.AsyncClient | None = None) -> None:
        self.name = target.name
        self.target = target
        self.settings = python_settings(target)
        #: the conversation's own dict, handed to the callable as ``session``
        self.session: dict[str, Any] = {}
        self._session_id = ""

    async def send_turn(self, request: TurnRequest) -> TurnTranscript:
        if not request.history:  # a new conversation (or its first turn again, on a retry)
            self.session = {}
            self._session_id = request.session_id or str(uuid.uuid4())
        session_id = request.session_id or self._session_id
        values = {
            "user": request.query,
            "session_id": session_id,
            "history": request.history,
            "platform": request.platform,
            "turn": len(request.history) + 1,
            "session": self.session,
        }
        arguments = {name: values[name] for name in self.settings.parameters} | dict(self.settings.args)
        transcript = await _Turn(self.target, self.settings, request).run(arguments)
        transcript.session_id = transcript.session_id or session_id
        return transcript

    async def aclose(self) -> None:
        """Nothing to release."""


#: the ``python`` adapter, registered in convtest's pyproject.toml like any third-party one
PYTHON_ADAPTER = AdapterKind(
    name="python", create=PythonAdapter, options=PYTHON_OPTIONS, configure=configure_python
)


class _Raised(Exception):
    """The callable raised ``error``: carried out of the item sources as one kind of thing."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


class _Turn:
    """One call: its items folded into the transcript under the turn's moving deadline."""

    def __init__(self, target: Target, settings: PythonSettings, request: TurnRequest) -> None:
        self.target = target
        self.settings = settings
        self.timeouts = _timeouts(target.timeouts, request.timeouts)
        self.reply = ReplyBuilder(request.query)
        self.items = 0
        self.streaming = settings.shape in ("generator", "async_generator")
        self.clock = asyncio.get_running_loop().time
        self.start = self.clock()
        self.kind = "total"

    async def run(self, arguments: dict[str, Any]) -> TurnTranscript:
        scope = Deadline(self._deadline())
        try:
            async with scope, contextlib.aclosing(self._source(arguments)) as items:
                async for item in items:
                    self._add(item)
                    scope.reschedule(self._deadline())
        except builtins.TimeoutError:
            if not scope.expired():
                raise
            raise self._timeout() from None
        except _Raised as raised:
            raise self._raised(raised.error) from None
        transcript = self.reply.finish()
        transcript.timings.total_ms = self._elapsed_ms()
        return transcript

    def _add(self, item: Any) -> None:
        now = self._elapsed_ms()
        timings = self.reply.transcript.timings
        if timings.first_byte_ms is None:
            timings.first_byte_ms = now
        self.items += 1
        try:
            self.reply.add(item)
        except ReplyError as exc:
            what = "yielded" if self.streaming else "returned"
            message = f"{self.settings.reference} {what} a bad answer: {exc}"
            raise ProtocolError(message, target=self.target.name, transcript=self.reply.transcript) from None
        if timings.first_token_ms is None and self.reply.has_text:
            timings.first_token_ms = now

    def _deadline(self) -> float:
        """The earliest limit in force: total; first_token until text came; idle between items."""
        t = self.timeouts
        deadline, self.kind = self.start + t.total, "total"
        if t.first_token is not None and not self.reply.has_text and self.start + t.first_token < deadline:
            deadline, self.kind = self.start + t.first_token, "first_token"
        if self.streaming and self.clock() + t.idle < deadline:
            deadline, self.kind = self.clock() + t.idle, "idle"
        return deadline

    def _source(self, arguments: dict[str, Any]) -> AsyncGenerator[Any, None]:
        function = self.settings.function
        if self.settings.shape == "async_generator":
            return _async_items(function(**arguments))
        if self.settings.shape == "coroutine":
            return _awaited(function, arguments)
        return _threaded(lambda: function(**arguments), self.settings.reference)

    def _timeout(self) -> TimeoutError:
        t, where, kind = self.timeouts, self.settings.reference, self.kind
        if kind == "first_token":
            message = f"no text from {where} within {t.first_token} s (first_token timeout)"
        elif kind == "idle":
            message = f"nothing yielded by {where} for {t.idle} s (idle timeout)"
        else:
            message = f"turn not finished within {t.total} s (total timeout) in {where}"
        if self.streaming:
            message += f" after {self.items} items; text so far: {preview(self.reply.transcript.text, 80)}"
        return TimeoutError(message, kind=kind, target=self.target.name, transcript=self.reply.transcript)

    def _raised(self, error: BaseException) -> CallableError:
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next  # the frames that called the user's code are convtest's
        lines = "".join(traceback.format_exception(type(error), error, tb)).rstrip().splitlines()
        message = f"{self.settings.reference} raised {type(error).__name__}: {error}\n" + "\n".join(
            _INDENT + line for line in lines
        )
        return CallableError(message, target=self.target.name, transcript=self.reply.transcript)

    def _elapsed_ms(self) -> float:
        return (self.clock() - self.start) * 1000.0


def _timeouts(timeouts: Timeouts, overrides: Mapping[str, float]) -> Timeouts:
    return dataclasses.replace(timeouts, **overrides) if overrides else timeouts


async def _async_items(items: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    try:
        while True:
            try:
                item = await anext(items)
            except StopAsyncIteration:
                return
            except Exception as exc:
                raise _Raised(exc) from None
            yield item
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


async def _awaited(function: Callable[..., Any], arguments: dict[str, Any]) -> AsyncGenerator[Any, None]:
    try:
        result = await function(**arguments)
    except Exception as exc:
        raise _Raised(exc) from None
    if isinstance(result, AsyncIterator):
        async for item in _async_items(result):
            yield item
    else:
        yield result


async def _threaded(call: Callable[[], Any], name: str) -> AsyncGenerator[Any, None]:
    """Run ``call`` (and iterate a generator it returns) in a daemon thread; items come back here.

    Not the loop's executor: a callable that never returns would hold up the loop's shutdown."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def put(kind: str, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:
            stop.set()  # the loop is closed: nobody waits for this call any more

    def work() -> None:
        try:
            result = call()
            if isinstance(result, Iterator):
                _pump(result, put, stop)
            else:
                put("item", result)
        except Exception as exc:
            put("raise", exc)
        finally:
            put("end", None)

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name=f"convtest {name}", daemon=True).start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "end":
                return
            if kind == "raise":
                raise _Raised(value)
            yield value
    finally:
        stop.set()


def _pump(items: Iterator[Any], put: Callable[[str, Any], None], stop: threading.Event) -> None:
    """Hand each item of a sync generator to the loop until it ends or nobody waits any more."""
    try:
        for item in items:
            put("item", item)
            if stop.is_set():
                return
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
