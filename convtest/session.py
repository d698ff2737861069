"""What lives for a whole run: the event loop, the adapters and HTTP clients of each target, and
the embedded reference agent, started only when a conversation actually needs it.

This is the library entry point that works without pytest (:func:`run_suite`); the pytest plugin
holds one :class:`RunSession` per process and calls :meth:`RunSession.run`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import secrets
import ssl
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from convtest.adapters import Adapter, create_adapter
from convtest.adapters.limits import RateLimiter, RetryingAdapter
from convtest.config import Config, load_config
from convtest.exceptions import ConvtestError
from convtest.golden import check_golden
from convtest.models import Conversation, InvalidConversation, Suite
from convtest.runner import ConversationResult, run_conversation
from convtest.suite import load_suite
from convtest.targets import REFERENCE_TARGET, Target

if TYPE_CHECKING:
    from convtest.server import ReferenceServer

__all__ = ["AdapterPool", "RunSession", "SuiteResult", "run_suite"]


class RunSession:
    """Owns the shared, per-run resources; close it (or use ``with``) to release them.

    Conversations run on one event loop in a background thread, so several can be in flight
    while the caller waits for the one it needs next (:meth:`submit`); ``concurrency`` bounds
    how many run at once, and a target's ``limits.max_in_flight`` bounds it per target.
    """

    def __init__(
        self, config: Config | None = None, *, target: str | None = None, concurrency: int = 1
    ) -> None:
        self.config = config or Config()
        #: the target chosen for the run (command line); a suite's own target wins over it
        self.default_target = target
        self.concurrency = max(1, concurrency)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._slots: asyncio.Semaphore | None = None
        self._server: ReferenceServer | None = None
        self._pools: dict[str, AdapterPool] = {}
        self._targets: dict[str, Target] = {}
        self._pending: set[Future[ConversationResult]] = set()

    def target_for(self, conversation: Conversation) -> Target:
        """Resolve once per name: the conversation's target, else the run's, else the config's."""
        name = conversation.target or self.default_target or self.config.default_target
        if name not in self._targets:
            self._targets[name] = self._with_reference(self.config.resolve(name))
        return self._targets[name]

    def submit(self, conversation: Conversation) -> Future[ConversationResult]:
        """Start a conversation; its future holds the result, or the ``ConvtestError`` (an
        unusable target, say) that the caller will meet when it asks for it."""
        try:
            target = self.target_for(conversation)
        except ConvtestError as error:
            failed: Future[ConversationResult] = Future()
            failed.set_exception(error)
            return failed
        future = asyncio.run_coroutine_threadsafe(self._run(conversation, target), self._running_loop())
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def run(self, conversation: Conversation) -> ConversationResult:
        """Run one conversation to completion."""
        return self.submit(conversation).result()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="convtest-loop", daemon=True)
            self._thread.start()
        return self._loop

    async def _run(self, conversation: Conversation, target: Target) -> ConversationResult:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            pool = self._pool(target)
            adapter = await pool.acquire()
            try:
                result = await run_conversation(conversation, adapter)
            finally:
                pool.release(adapter)
        result.secrets = (*result.secrets, *target.secrets)
        return result

    def _pool(self, target: Target) -> AdapterPool:
        pool = self._pools.get(target.name)
        if pool is None:
            size = min(self.concurrency, target.max_in_flight or self.concurrency)
            pool = self._pools[target.name] = AdapterPool(target, size)
        return pool

    def _with_reference(self, target: Target) -> Target:
        if target.name != REFERENCE_TARGET or target.base_url:
            return target
        if self._server is None:
            from convtest.server import ReferenceServer  # starlette and uvicorn only when used

            self._server = ReferenceServer(token=secrets.token_urlsafe(16))
            self._server.start()
        token = self._server.token
        return dataclasses.replace(
            target,
            base_url=self._server.url,
            token=token,
            pid="convtest",
            chatbot_id="reference",
            secrets=(token,) if token else (),
        )

    def close(self) -> None:
        """Cancel what is still in flight, close clients, stop the loop and the reference agent;
        safe to call twice."""
        for future in list(self._pending):
            future.cancel()
        if self._loop is not None and self._thread is not None:
            pools = list(self._pools.values())
            asyncio.run_coroutine_threadsafe(_shutdown(pools), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
        self._loop = self._thread = self._slots = None
        self._pools.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> RunSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AdapterPool:
    """The adapters of one target, each on its own small HTTP client, lent to one conversation
    at a time: the pool's size is the target's number of conversations in flight.

    One small client per slot rather than one shared pool: httpcore's async pool slows down
    sharply with many concurrent streams (measured: 200 turns at 16 in flight took 2.7 s on one
    shared client, 0.48 s on 16 clients).
    """

    def __init__(self, target: Target, size: int) -> None:
        self.target = target
        self._free = asyncio.Semaphore(size)
        self._idle: list[Adapter] = []
        self._clients: list[httpx.AsyncClient] = []
        self._limiter = RateLimiter(target.requests_per_second)

    async def acquire(self) -> Adapter:
        await self._free.acquire()
        return self._idle.pop() if self._idle else self._new_adapter()

    def release(self, adapter: Adapter) -> None:
        self._idle.append(adapter)
        self._free.release()

    def _new_adapter(self) -> Adapter:
        client = httpx.AsyncClient(
            # the reference agent is on loopback: a proxy from the environment must not catch it
            trust_env=self.target.name != REFERENCE_TARGET,
            verify=_tls_context() if self.target.base_url.startswith("https://") else False,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self._clients.append(client)
        inner = create_adapter(self.target, client)
        return RetryingAdapter(inner, limiter=self._limiter, policy=self.target.retry)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
        self._idle.clear()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One certificate store for every client: building one costs ~50 ms. Plain-HTTP clients
    (``verify=False`` above) have no certificate to verify and skip it altogether."""
    return httpx.create_ssl_context()


async def _shutdown(pools: list[AdapterPool]) -> None:
    """Cancel every conversation still running, let it unwind, then close the clients."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for pool in pools:
        await pool.aclose()


@dataclass(slots=True)
class SuiteResult:
    """A whole suite run without pytest: the results and the conversations that did not load."""

    suite: Suite
    results: list[ConversationResult] = field(default_factory=list)
    invalid: tuple[InvalidConversation, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.invalid and all(result.passed for result in self.results)


def run_suite(
    path: str | Path,
    *,
    target: str | None = None,
    rootdir: str | Path | None = None,
    concurrency: int = 1,
    update_goldens: bool = False,
) -> SuiteResult:
    """Load and run every conversation of one suite file, ``concurrency`` at a time; raise
    ``SuiteError``/``ConfigError`` for a file or target that cannot be used at all.

    Golden conversations are compared with their goldens, or with ``update_goldens`` recorded."""
    path = Path(path)
    root = Path(rootdir) if rootdir is not None else Path.cwd()
    config = load_config(root)
    if target is not None and target not in config.target_names:
        config.resolve(target)  # raises the did-you-mean error
    suite = load_suite(path, display_path=_display(path, root))
    with RunSession(config, target=target, concurrency=concurrency) as session:
        futures = [session.submit(conversation) for conversation in suite.conversations]
        results = [future.result() for future in futures]
    for result in results:
        result.golden = check_golden(result, path, update=update_goldens)
    return SuiteResult(suite=suite, results=results, invalid=suite.invalid)


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
