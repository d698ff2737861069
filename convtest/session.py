"""What lives for a whole run: the event loop, the adapters and HTTP clients of each target, and
the embedded reference agent, started only when a conversation actually needs it.

This is the library entry point that works without pytest (:func:`run_suite`); the pytest plugin
holds one :class:`RunSession` per process and calls :meth:`RunSession.run`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from convtest.adapters import Adapter
from convtest.adapters.limits import RateLimiter, RetryingAdapter
from convtest.adapters.robofy_settings import robofy_settings
from convtest.config import Config, load_config
from convtest.exceptions import ConvtestError, SuiteError
from convtest.golden import check_golden
from convtest.log_records import guard_log_records
from convtest.models import Conversation, InvalidConversation, Suite
from convtest.runner import ConversationResult, run_conversation
from convtest.suite.loader import load_suite
from convtest.targets import REFERENCE_OPENAI_TARGET, REFERENCE_TARGETS, Target

if TYPE_CHECKING:
    import httpx

    from convtest.server import ReferenceServer

__all__ = ["AdapterPool", "RunSession", "SuiteResult", "run_suite"]

#: seconds that cancelled conversations and closing clients get to unwind
SHUTDOWN_TIMEOUT = 30


class RunSession:
    """Owns the shared, per-run resources; close it (or use ``with``) to release them.

    Conversations run on one event loop in the caller's thread: :meth:`submit` starts one, and
    :meth:`result` runs the loop (so every conversation in flight moves on) until the one asked
    for is done. ``concurrency`` bounds how many run at once, and a target's
    ``limits.max_in_flight`` bounds it per target.

    The loop runs only inside :meth:`result`, never beside the caller: a loop in a second
    thread fights the caller for the GIL, and under pytest each of pytest's own file operations
    between items then waited for the loop thread (measured: 40x slower output capture, a third
    of a sequential run's time). Between items the loop is paused; sockets buffer what arrives.
    """

    def __init__(
        self, config: Config | None = None, *, target: str | None = None, concurrency: int = 1
    ) -> None:
        self.config = config or Config()
        #: the target chosen for the run (command line); a suite's own target wins over it
        self.default_target = target
        self.concurrency = max(1, concurrency)
        guard_log_records()  # what httpx logs about a conversation's requests keeps its secrets
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._server: ReferenceServer | None = None
        self._pools: dict[str, AdapterPool] = {}
        self._targets: dict[str, Target] = {}

    def target_for(self, conversation: Conversation) -> Target:
        """Resolve once per name: the conversation's target, else the run's, else the config's."""
        name = conversation.target or self.default_target or self.config.default_target
        if conversation.target is not None and name not in self.config.target_names:
            where = conversation.target_location or conversation.location
            raise SuiteError(self.config.unknown_target(name), where, conversation=conversation.name)
        if name not in self._targets:
            self._targets[name] = self._with_reference(self.config.resolve(name))
        return self._targets[name]

    def submit(self, conversation: Conversation) -> asyncio.Future[ConversationResult]:
        """Start a conversation; it makes progress whenever :meth:`result` runs the loop. The
        future holds the result, or the ``ConvtestError`` (an unusable target, say) that the
        caller meets when it asks for it."""
        loop = self._event_loop()
        try:
            target = self.target_for(conversation)
        except ConvtestError as error:
            failed: asyncio.Future[ConversationResult] = loop.create_future()
            failed.set_exception(error)
            return failed
        return loop.create_task(self._run(conversation, target))

    def result(self, pending: asyncio.Future[ConversationResult]) -> ConversationResult:
        """Run the loop until ``pending`` is done and return its result (or raise its error)."""
        if not pending.done():
            self._event_loop().run_until_complete(pending)
        return pending.result()

    def run(self, conversation: Conversation) -> ConversationResult:
        """Run one conversation to completion."""
        return self.result(self.submit(conversation))

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            if _inside_running_loop():
                raise ConvtestError(
                    "convtest runs conversations on its own event loop and cannot be called from "
                    "a running one (an async function, a notebook cell): call it in a thread, "
                    "e.g. await asyncio.to_thread(run_suite, path)"
                )
            self._loop = asyncio.new_event_loop()
        return self._loop

    async def _run(self, conversation: Conversation, target: Target) -> ConversationResult:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            # start at the loop's next round: a conversation given its slot as the loop stops
            # (the caller has its result and goes off to report it) then begins when the loop
            # runs again, so no pause of the caller falls inside its first turn's timings
            await asyncio.sleep(0)
            pool = self._pool(target)
            adapter = await pool.acquire()
            try:
                result = await run_conversation(conversation, adapter, secrets=target.secrets)
            finally:
                pool.release(adapter)
        return result

    def _pool(self, target: Target) -> AdapterPool:
        pool = self._pools.get(target.name)
        if pool is None:
            size = min(self.concurrency, target.max_in_flight or self.concurrency)
            pool = self._pools[target.name] = AdapterPool(target, size, blocking=self.concurrency == 1)
        return pool

    def _with_reference(self, target: Target) -> Target:
        if target.name not in REFERENCE_TARGETS or target.base_url:
            return target
        if self._server is None:
            from convtest.server import ReferenceServer  # starlette and uvicorn only when used

            self._server = ReferenceServer(token=secrets.token_urlsafe(16))
            self._server.start()
        token = self._server.token
        settings: object
        if target.name == REFERENCE_OPENAI_TARGET:
            from convtest.server.openai_api import reference_settings

            base_url, settings = f"{self._server.url}/v1", reference_settings()
        else:
            base_url = self._server.url
            settings = dataclasses.replace(robofy_settings(target), pid="convtest", chatbot_id="reference")
        return dataclasses.replace(
            target, base_url=base_url, token=token, settings=settings, secrets=(token,) if token else ()
        )

    def close(self) -> None:
        """Cancel what is still in flight, close clients, the loop and the reference agent;
        safe to call twice, and after an interrupt (Ctrl-C) stopped the loop midway."""
        loop, self._loop = self._loop, None
        if loop is not None:
            try:
                pools = list(self._pools.values())
                loop.run_until_complete(_shutdown(pools))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
        self._slots = None
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
    shared client, 0.48 s on 16 clients). Cookies a target sets last for one conversation: a
    slot's next conversation starts without them, as a new visitor would. ``blocking`` is for a
    run of one conversation at a time (see :class:`~convtest.adapters.transport.BlockingTransport`).
    """

    def __init__(self, target: Target, size: int, *, blocking: bool = False) -> None:
        self.target = target
        #: one conversation in the whole run at a time: clients on the blocking transport
        self.blocking = blocking
        self._free = asyncio.Semaphore(size)
        self._idle: list[Adapter] = []
        self._clients: dict[Adapter, httpx.AsyncClient] = {}
        self._limiter = RateLimiter(target.requests_per_second)

    async def acquire(self) -> Adapter:
        await self._free.acquire()
        if not self._idle:
            return self._new_adapter()
        adapter = self._idle.pop()
        self._clients[adapter].cookies.clear()
        return adapter

    def release(self, adapter: Adapter) -> None:
        self._idle.append(adapter)
        self._free.release()

    def _new_adapter(self) -> Adapter:
        # httpx and httpcore only once a turn is sent
        from convtest.adapters.registry import create_adapter
        from convtest.adapters.transport import new_client

        client = new_client(
            verify=self.target.base_url.startswith("https://"),
            # the reference agent is on loopback: a proxy from the environment must not catch it
            trust_env=self.target.name not in REFERENCE_TARGETS,
            blocking=self.blocking,
        )
        adapter = RetryingAdapter(
            create_adapter(self.target, client), limiter=self._limiter, policy=self.target.retry
        )
        self._clients[adapter] = client
        return adapter

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        self._idle.clear()


async def _shutdown(pools: list[AdapterPool]) -> None:
    """Cancel every conversation still running, let it unwind, then close the clients."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    async with asyncio.timeout(SHUTDOWN_TIMEOUT):
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
    suite = load_suite(path, display_path=_display(path, root), limits=config.suite_limits)
    with RunSession(config, target=target, concurrency=concurrency) as session:
        futures = [session.submit(conversation) for conversation in suite.conversations]
        results = [session.result(future) for future in futures]
    for result in results:
        result.golden = check_golden(result, path, update=update_goldens)
    return SuiteResult(suite=suite, results=results, invalid=suite.invalid)


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _inside_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
