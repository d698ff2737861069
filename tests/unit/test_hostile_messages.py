"""Messages built to make the reference agent's patterns backtrack: the rules rewritten to match in
linear time must decide exactly as the old ones did, checked against every short message made of
the words they look for."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from convtest.server.agent import DEFAULT_AGENT_FILE, MAX_MESSAGE_CHARS, Agent, SessionState
from convtest.server.faults import BadRequest, Faults, read_faults

#: (intent, where its rewritten pattern is in agent.yaml, the pattern before, the words to try)
REWRITTEN = [
    (
        "resend_tracking",
        ("patterns", 0),
        r"\bresend\b.*?\btracking\b(?:\s+number)?(?:\s+#?(?P<tracking>(?=[a-z0-9-]*\d)[a-z0-9][a-z0-9-]{3,}))?",
        ["resend", "tracking", "number", "#ab12", "zz9-x", "abcd", "Resend tracking", ","],
    ),
    (
        "order_status",
        ("patterns", 1),
        r"\b(?:where(?:'s|\u2019s| is)|status of|track|check)\b.*\b(?:order|package|parcel)\b",
        [
            "where is",
            "where's",
            "where\u2019s",
            "status of",
            "track",
            "check",
            "checks",
            "order",
            "parcels",
            "x",
            ",",
        ],
    ),
    (
        "check_stock",
        ("patterns", 0),
        r"\bis (?:the |your |this )?(?P<product>[\w -]+?) in stock\b",
        ["is", "is the", "your", "tent", "in stock", "in", "stock", "stocks", ",", "-", "x's"],
    ),
    (
        "knowledge_base",
        ("topics", 2, 1),
        r"\bhow long\b.*\b(?:deliver\w*|shipping|arrive)\b",
        ["how long", "how", "long", "delivery", "shipping", "arrives", "x", ","],
    ),
]
OLD_FAULT_PHRASE = re.compile(r"\[\[fault:([^\]]*)\]\]", re.IGNORECASE)


def messages(words: list[str], longest: int) -> Iterator[str]:
    """Every sequence of up to ``longest`` words, joined by spaces."""
    for length in range(1, longest + 1):
        for sequence in itertools.product(words, repeat=length):
            yield " ".join(sequence)


def rewritten_pattern(intent: str, where: tuple[Any, ...]) -> re.Pattern[str]:
    rules = yaml.safe_load(DEFAULT_AGENT_FILE.read_text(encoding="utf-8"))
    node: Any = next(raw for raw in rules["intents"] if raw["name"] == intent)
    for key in where:
        node = node[key]
        if isinstance(node, dict) and "patterns" in node:
            node = node["patterns"]
    return re.compile(node, re.IGNORECASE)


@pytest.mark.parametrize(
    ("intent", "where", "before", "words"), REWRITTEN, ids=[intent for intent, *_ in REWRITTEN]
)
def test_a_rewritten_pattern_matches_and_captures_as_before(
    intent: str, where: tuple[Any, ...], before: str, words: list[str]
) -> None:
    old, new = re.compile(before, re.IGNORECASE), rewritten_pattern(intent, where)
    assert old.pattern != new.pattern
    tried = 0
    for message in messages(words, 4):
        was, now = old.search(message), new.search(message)
        assert (was is None) == (now is None), message
        if was is not None and now is not None:
            assert was.groupdict() == now.groupdict(), message
        tried += 1
    assert tried > 1000


def fault_outcome_before(query: str) -> tuple[Faults, str] | str:
    """What ``read_faults`` answered when phrases were found by the regex it used to use."""
    specs = OLD_FAULT_PHRASE.findall(query)
    try:
        faults, _ = read_faults(None, "".join(f"[[fault:{spec}]]" for spec in specs))
    except BadRequest as exc:
        return exc.detail
    return faults, " ".join(OLD_FAULT_PHRASE.sub(" ", query).split()) if specs else query


def fault_outcome(query: str) -> tuple[Faults, str] | str:
    try:
        return read_faults(None, query)
    except BadRequest as exc:
        return exc.detail


def test_fault_phrases_are_found_and_removed_as_before() -> None:
    pieces = ["[[fault:", "[[FAULT:", "]", "]]", "cut", "stall:5", "x", " ", "["]
    found = 0
    for length in range(1, 5):
        for sequence in itertools.product(pieces, repeat=length):
            query = "".join(sequence)
            outcome = fault_outcome(query)
            assert outcome == fault_outcome_before(query), query
            found += isinstance(outcome, tuple) and outcome[0] != Faults()
    assert found > 50


def test_the_rules_read_only_the_first_max_message_chars() -> None:
    agent = Agent.from_file()
    fits = "x" * (MAX_MESSAGE_CHARS - len(" hello")) + "   hello"
    assert agent.respond(SessionState(), fits).intent == "greeting"
    assert agent.respond(SessionState(), "x" + fits).intent == "fallback"
