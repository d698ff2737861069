"""What lives for a whole run: the event loop, one HTTP client and adapter per target, and the
embedded reference agent, started only when a conversation actually needs it.

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

import httpx

from convtest.adapters import Adapter, create_adapter
from convtest.config import Config, load_config
from convtest.models import Conversation, InvalidConversation, Suite
from convtest.runner import ConversationResult, run_conversation
from convtest.server import ReferenceServer
from convtest.suite import load_suite
from convtest.targets import REFERENCE_TARGET, Target

__all__ = ["RunSession", "SuiteResult", "run_suite"]


class RunSession:
    """Owns the shared, per-run resources; close it (or use ``with``) to release them."""

    def __init__(self, config: Config | None = None, *, target: str | None = None) -> None:
        self.config = config or Config()
        #: the target chosen for the run (command line); a suite's own target wins over it
        self.default_target = target
        self._loop: asyncio.Runner | None = None
        self._server: ReferenceServer | None = None
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._adapters: dict[str, Adapter] = {}
        self._targets: dict[str, Target] = {}

    def target_for(self, conversation: Conversation) -> Target:
        """Resolve once per name: the conversation's target, else the run's, else the config's."""
        name = conversation.target or self.default_target or self.config.default_target
        if name not in self._targets:
            self._targets[name] = self._with_reference(self.config.resolve(name))
        return self._targets[name]

    def run(self, conversation: Conversation) -> ConversationResult:
        """Run one conversation to completion on the session's event loop."""
        target = self.target_for(conversation)
        if self._loop is None:
            self._loop = asyncio.Runner()
        return self._loop.run(self._run(conversation, target))

    async def _run(self, conversation: Conversation, target: Target) -> ConversationResult:
        result = await run_conversation(conversation, self._adapter(target))
        result.secrets = (*result.secrets, *target.secrets)
        return result

    def _adapter(self, target: Target) -> Adapter:
        adapter = self._adapters.get(target.name)
        if adapter is None:
            client = httpx.AsyncClient(
                # the reference agent is on loopback: a proxy from the environment must not catch it
                trust_env=target.name != REFERENCE_TARGET,
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
            )
            self._clients[target.name] = client
            adapter = self._adapters[target.name] = create_adapter(target, client)
        return adapter

    def _with_reference(self, target: Target) -> Target:
        if target.name != REFERENCE_TARGET or target.base_url:
            return target
        if self._server is None:
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
        """Close clients, stop the loop and the reference agent; safe to call twice."""
        if self._loop is not None:
            clients = list(self._clients.values())
            self._loop.run(_close_all(clients))
            self._loop.close()
            self._loop = None
        self._clients.clear()
        self._adapters.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> RunSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def _close_all(clients: list[httpx.AsyncClient]) -> None:
    for client in clients:
        await client.aclose()


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
    path: str | Path, *, target: str | None = None, rootdir: str | Path | None = None
) -> SuiteResult:
    """Load and run every conversation of one suite file; raise ``SuiteError``/``ConfigError``
    for a file that cannot be used at all."""
    path = Path(path)
    root = Path(rootdir) if rootdir is not None else Path.cwd()
    config = load_config(root)
    if target is not None and target not in config.target_names:
        config.resolve(target)  # raises the did-you-mean error
    suite = load_suite(path, display_path=_display(path, root))
    with RunSession(config, target=target) as session:
        results = [session.run(conversation) for conversation in suite.conversations]
    return SuiteResult(suite=suite, results=results, invalid=suite.invalid)


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
