"""The scripted agent: deterministic answers from the rules and knowledge in ``agent.yaml``.

Pure and synchronous, with no HTTP in sight, so every answer can be tested directly; the app
only streams what :meth:`Agent.respond` returns. Tool calls are executed for real
(:mod:`convtest.server.tools`) and a tool step is always followed by a text step built from the
tool outputs, as an LLM agent would do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from convtest.server.tools import Toolbox, ToolError

__all__ = [
    "DEFAULT_AGENT_FILE",
    "HELP_CENTER_URL",
    "MAX_MESSAGE_CHARS",
    "Agent",
    "AgentFileError",
    "Citation",
    "Reply",
    "SessionState",
    "Step",
    "ToolCall",
]

DEFAULT_AGENT_FILE = Path(__file__).parent / "agent.yaml"

#: what the underlying provider would have said for each normalized finish reason
RAW_FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS"}
#: where help-center articles live; knowledge-base answers cite ``{HELP_CENTER_URL}/<article id>``
HELP_CENTER_URL = "https://help.convtest.example/articles"
#: how much of a message (whitespace collapsed) the rules read; the rest is ignored. Every pattern
#: is tried at every place in the text, so this bounds the cost of one answer whatever a client
#: sends, even with a pattern in a custom agent file that backtracks badly.
MAX_MESSAGE_CHARS = 10_000

#: the reply templates each action needs; ``order_status`` also needs one per status in the table
_ACTION_REPLIES: dict[str, tuple[str, ...]] = {
    "reply": ("text",),
    "introduce": ("text",),
    "recall_name": ("known", "unknown"),
    "resend_tracking": ("text", "ask"),
    "order_status": ("not_found", "ask_number"),
    "calculate": ("result", "division_by_zero", "error"),
    "search_kb": ("found", "none"),
    "check_stock": ("unavailable",),
}


class AgentFileError(ValueError):
    """``agent.yaml`` cannot be used: a bad regex, a missing reply, an unknown action..."""


class ToolCall(NamedTuple):
    """One executed tool call: the name, the input the model sent and the output it got back,
    or the error it failed with (then there is no output)."""

    name: str
    input: dict[str, Any]
    output: dict[str, Any] | None
    error: str | None = None


class Citation(NamedTuple):
    """A source an answer cites, streamed as a ``source-url`` chunk."""

    id: str
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class Step:
    """One model step: its reasoning, the tool calls made together in it, and/or one block of
    text with the sources it cites."""

    tool_calls: tuple[ToolCall, ...] = ()
    text: str | None = None
    reasoning: str | None = None
    sources: tuple[Citation, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """Everything the agent answers to one message, in the order it would be streamed."""

    #: the intent that answered, ``fallback`` when none did; for tests and debugging
    intent: str
    steps: tuple[Step, ...]
    #: ``stop``, or ``length`` when the answer was cut at the (pretend) token limit
    finish_reason: str = "stop"

    @property
    def raw_finish_reason(self) -> str:
        return RAW_FINISH_REASONS[self.finish_reason]

    @property
    def text(self) -> str:
        return "\n\n".join(step.text for step in self.steps if step.text is not None)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(call for step in self.steps for call in step.tool_calls)


@dataclass(slots=True)
class SessionState:
    """What the agent remembers of one conversation between requests."""

    name: str | None = None
    last_order_id: str | None = None
    turns: int = 0


@dataclass(frozen=True, slots=True)
class _Intent:
    name: str
    action: str
    patterns: tuple[re.Pattern[str], ...]
    replies: Mapping[str, str]
    finish_reason: str = "stop"
    #: search_kb only: (search query, patterns) in priority order
    topics: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...] = ()
    #: order_status only: finds every order id in a message
    order_id_pattern: re.Pattern[str] | None = None

    def match(self, text: str) -> re.Match[str] | None:
        for pattern in self.patterns:
            found = pattern.search(text)
            if found is not None:
                return found
        return None


_Handler = Callable[[_Intent, "re.Match[str]", SessionState, str], Reply]


class Agent:
    """Answers messages by the first matching intent; deterministic for a given session state."""

    def __init__(self, intents: tuple[_Intent, ...], fallback: str, toolbox: Toolbox) -> None:
        self._intents = intents
        self._fallback = fallback
        self.toolbox = toolbox
        self._handlers: dict[str, _Handler] = {
            "reply": self._reply,
            "introduce": self._introduce,
            "recall_name": self._recall_name,
            "resend_tracking": self._resend_tracking,
            "order_status": self._order_status,
            "calculate": self._calculate,
            "search_kb": self._search_kb,
            "check_stock": self._check_stock,
        }

    @classmethod
    def from_file(cls, path: str | Path | None = None) -> Agent:
        """Load the rules; by default the ``agent.yaml`` packaged next to this module."""
        source = Path(path) if path is not None else DEFAULT_AGENT_FILE
        try:
            data = yaml.safe_load(source.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise AgentFileError(f"{source}: not valid YAML: {exc}") from None
        try:
            return cls.from_dict(data)
        except AgentFileError as exc:
            raise AgentFileError(f"{source}: {exc}") from None

    @classmethod
    def from_dict(cls, data: Any) -> Agent:
        """Build from parsed ``agent.yaml`` content, checking everything that could fail later."""
        if not isinstance(data, dict):
            raise AgentFileError("the top level must be a mapping")
        try:
            toolbox = Toolbox.from_config(data.get("orders", {}), data.get("knowledge_base", []))
        except ValueError as exc:
            raise AgentFileError(str(exc)) from None
        raw_intents = data.get("intents")
        if not isinstance(raw_intents, list) or not raw_intents:
            raise AgentFileError("'intents' must be a non-empty list")
        intents = tuple(_load_intent(raw) for raw in raw_intents)
        for intent in intents:
            if intent.action == "order_status":
                _check_order_replies(intent, toolbox)
        fallback = data.get("fallback")
        if not isinstance(fallback, str) or not fallback:
            raise AgentFileError("'fallback' must be a non-empty string")
        return cls(intents, fallback, toolbox)

    def respond(self, state: SessionState, query: str) -> Reply:
        """Answer one message, updating ``state`` (name, last order, turn count) as a side effect."""
        state.turns += 1
        text = " ".join(query.split())[:MAX_MESSAGE_CHARS]
        for intent in self._intents:
            found = intent.match(text)
            if found is not None:
                return self._handlers[intent.action](intent, found, state, text)
        return Reply("fallback", (Step(text=self._fallback),))

    def _call(self, name: str, arguments: dict[str, Any]) -> ToolCall:
        try:
            return ToolCall(name, arguments, self.toolbox.call(name, arguments))
        except ToolError as exc:
            return ToolCall(name, arguments, None, str(exc))

    def _reply(self, intent: _Intent, found: re.Match[str], state: SessionState, text: str) -> Reply:
        return Reply(intent.name, (Step(text=intent.replies["text"]),), intent.finish_reason)

    def _introduce(self, intent: _Intent, found: re.Match[str], state: SessionState, text: str) -> Reply:
        name = found["name"].rstrip("'\u2019-")
        state.name = name[:1].upper() + name[1:]
        return _say(intent, intent.replies["text"].format(name=state.name))

    def _recall_name(self, intent: _Intent, found: re.Match[str], state: SessionState, text: str) -> Reply:
        if state.name is None:
            return _say(intent, intent.replies["unknown"])
        return _say(intent, intent.replies["known"].format(name=state.name))

    def _resend_tracking(
        self, intent: _Intent, found: re.Match[str], state: SessionState, text: str
    ) -> Reply:
        tracking = found.groupdict().get("tracking")
        if not tracking:
            return _say(intent, intent.replies["ask"])
        return _say(intent, intent.replies["text"].format(tracking=tracking))

    def _order_status(self, intent: _Intent, found: re.Match[str], state: SessionState, text: str) -> Reply:
        assert intent.order_id_pattern is not None  # guaranteed by _load_intent
        order_ids = list(dict.fromkeys(intent.order_id_pattern.findall(text)))
        if not order_ids and state.last_order_id is None:
            return _say(intent, intent.replies["ask_number"])
        order_ids = order_ids or [state.last_order_id or ""]
        state.last_order_id = order_ids[-1]
        calls = tuple(self._call("lookup_order", {"order_id": order_id}) for order_id in order_ids)
        summary = " ".join(_order_sentence(intent, call.output or {}) for call in calls)
        return Reply(intent.name, (Step(tool_calls=calls), Step(text=summary)))

    def _calculate(self, intent: _Intent, found: re.Match[str], state: SessionState, text: str) -> Reply:
        expression = found["expression"].strip().rstrip(".").strip()
        call = self._call("calculate", {"expression": expression})
        output = call.output or {}
        if "result" in output:
            answer = intent.replies["result"].format(expression=expression, result=output["result"])
        elif output.get("error") == "division by zero":
            answer = intent.replies["division_by_zero"]
        else:
            answer = intent.replies["error"]
        thought = intent.replies.get("reasoning")
        reasoning = None if thought is None else thought.format(expression=expression)
        return Reply(intent.name, (Step(tool_calls=(call,), reasoning=reasoning), Step(text=answer)))

    def _search_kb(self, intent: _Intent, found: re.Match[str], state: SessionState, text: str) -> Reply:
        query = next(query for query, patterns in intent.topics if any(p.search(text) for p in patterns))
        call = self._call("search_kb", {"query": query})
        articles = (call.output or {})["articles"]
        if not articles:
            return Reply(intent.name, (Step(tool_calls=(call,)), Step(text=intent.replies["none"])))
        best = articles[0]
        cited = (Citation(best["id"], f"{HELP_CENTER_URL}/{best['id']}", best["title"]),)
        answer = intent.replies["found"].format(**best)
        return Reply(intent.name, (Step(tool_calls=(call,)), Step(text=answer, sources=cited)))

    def _check_stock(self, intent: _Intent, found: re.Match[str], state: SessionState, text: str) -> Reply:
        product = (found.groupdict().get("product") or "").strip() or "that item"
        call = self._call("check_stock", {"product": product})
        return Reply(intent.name, (Step(tool_calls=(call,)), Step(text=intent.replies["unavailable"])))


def _say(intent: _Intent, text: str) -> Reply:
    return Reply(intent.name, (Step(text=text),), intent.finish_reason)


def _order_sentence(intent: _Intent, output: Mapping[str, Any]) -> str:
    key = str(output["status"]) if output["found"] else "not_found"
    return intent.replies[key].format_map(output)


def _load_intent(raw: Any) -> _Intent:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise AgentFileError(f"every intent needs a name, got {raw!r}")
    name = raw["name"]
    try:
        return _build_intent(name, raw)
    except re.error as exc:
        raise AgentFileError(f"intent {name!r}: bad pattern {exc.pattern!r}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise AgentFileError(f"intent {name!r}: {exc}") from None


def _build_intent(name: str, raw: dict[str, Any]) -> _Intent:
    action = raw.get("action", "reply")
    if action not in _ACTION_REPLIES:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(sorted(_ACTION_REPLIES))}")
    replies = raw.get("replies")
    if not isinstance(replies, dict) or not all(isinstance(v, str) for v in replies.values()):
        raise ValueError("'replies' must map keys to template strings")
    missing = [key for key in _ACTION_REPLIES[action] if key not in replies]
    if missing:
        raise ValueError(f"action {action!r} needs replies {missing}")
    finish_reason = raw.get("finish_reason", "stop")
    if finish_reason not in RAW_FINISH_REASONS:
        raise ValueError(f"finish_reason must be one of {sorted(RAW_FINISH_REASONS)}")
    topics = tuple((str(t["query"]), _compile_all(t["patterns"])) for t in raw.get("topics", []))
    patterns = tuple(p for _, group in topics for p in group) or _compile_all(raw.get("patterns"))
    id_pattern = raw.get("order_id_pattern")
    if action == "order_status" and not isinstance(id_pattern, str):
        raise ValueError("action 'order_status' needs an 'order_id_pattern'")
    if action == "search_kb" and not topics:
        raise ValueError("action 'search_kb' needs 'topics'")
    return _Intent(
        name=name,
        action=action,
        patterns=patterns,
        replies=dict(replies),
        finish_reason=finish_reason,
        topics=topics,
        order_id_pattern=re.compile(id_pattern) if isinstance(id_pattern, str) else None,
    )


def _compile_all(patterns: Any) -> tuple[re.Pattern[str], ...]:
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
        raise ValueError("'patterns' must be a non-empty list of strings")
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


def _check_order_replies(intent: _Intent, toolbox: Toolbox) -> None:
    """Format every order once now, so a missing template or field fails at load, not mid-stream."""
    for order_id in [*toolbox.orders, "\0not-an-order"]:
        output = toolbox.lookup_order(order_id)
        try:
            _order_sentence(intent, output)
        except KeyError as exc:
            raise AgentFileError(
                f"intent {intent.name!r}: order {order_id!r} (status {output.get('status')!r}) "
                f"has no reply or lacks field {exc.args[0]!r}"
            ) from None
