"""The page rendered from hand-made entries: order, content, safety and self-containment."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_samples import XSS_CLOSE, XSS_IMG, XSS_SCRIPT, entry, tool, turn

from convtest.report.entry import Entry
from convtest.report.html import render_report, write_report
from convtest.report.view import RunInfo, build_view
from convtest.stream import TurnAssembler


class _Page(HTMLParser):
    """Tags, attributes and script bodies of a rendered page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def test_hostile_text_is_escaped_and_never_becomes_markup(entries: list[Entry], run_info: RunInfo) -> None:
    html = render_report(entries, run_info)
    page = parse(html)
    assert len(page.scripts) == 1, "only the report's own script may be on the page"
    assert "__xss" not in page.scripts[0]
    assert not [attrs for tag, attrs in page.tags if tag == "img"]
    assert not [attrs for _, attrs in page.tags if any(name.startswith("on") for name in attrs)]
    for payload in (XSS_SCRIPT, XSS_IMG, XSS_CLOSE):
        assert payload not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html


def test_script_is_allowed_by_its_hash_and_nothing_is_fetched(
    entries: list[Entry], run_info: RunInfo
) -> None:
    html = render_report(entries, run_info)
    page = parse(html)
    digest = base64.b64encode(hashlib.sha256(page.scripts[0].encode()).digest()).decode()
    csp = next(
        attrs["content"] for tag, attrs in page.tags if attrs.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None
    assert "default-src 'none'" in csp
    assert f"script-src 'sha256-{digest}'" in csp
    for tag, attrs in page.tags:
        assert "src" not in attrs, f"<{tag}> loads something"
        if tag == "link":
            pytest.fail("the page links an external resource")
        href = attrs.get("href") or ""
        assert not href or href.startswith("#"), f"<{tag} href={href!r}> leaves the page"


def test_failures_come_first_and_only_the_first_is_open(entries: list[Entry], run_info: RunInfo) -> None:
    view = build_view(entries, run_info)
    order = [(suite.file, [c.entry.name for c in suite.conversations]) for suite in view.suites]
    assert order == [
        ("suites/broken.yaml", ["<invalid suite>"]),
        ("suites/hostile.yaml", ["hostile reply is shown as text"]),
        (
            "suites/orders.yaml",
            ["order status drifted from its golden", "target was down", "waits for the new knowledge base"],
        ),
        ("suites/demo.yaml", ["greets the user"]),
    ]
    opened = [c.entry.name for suite in view.suites for c in suite.conversations if c.open]
    assert opened == ["<invalid suite>"]


def test_inside_a_suite_equal_outcomes_keep_file_order_whatever_order_they_finished_in(
    run_info: RunInfo,
) -> None:
    late, early = entry("late", [turn(1, "Hi", "Hello")]), entry("early", [turn(1, "Hi", "Hello")])
    late.location, early.location = "suites/demo.yaml:30", "suites/demo.yaml:3"
    (suite,) = build_view([late, early], run_info).suites
    assert [c.entry.name for c in suite.conversations] == ["early", "late"]


def test_summary_counts_targets_and_tags(entries: list[Entry], run_info: RunInfo) -> None:
    view = build_view(entries, run_info)
    assert view.counts == {"failed": 4, "error": 0, "xpassed": 0, "passed": 1, "xfailed": 0, "skipped": 1}
    assert view.outcome == "failed"
    assert view.targets == ["reference"]
    assert view.tags == ["kb", "orders", "security", "smoke"]
    html = render_report(entries, run_info)
    assert "2026-01-02 03:04:05" in html
    assert "3.50 s" in html


def test_turn_shows_user_reply_tools_timings_and_each_failure(run_info: RunInfo) -> None:
    failing = turn(
        1,
        "Where is my order 1234?",
        "It shipped.",
        tools=[tool("lookup_order", {"order_id": "1234"}, {"status": "shipped"})],
        failures=[
            {"check": 'text contains "UPS"', "actual": 'text was "It shipped."', "location": "x.yaml:9"}
        ],
        first_token_ms=345.0,
        total_ms=1250.0,
    )
    html = render_report([entry("order", [failing])], run_info)
    assert "Where is my order 1234?" in html
    assert "It shipped." in html
    assert "lookup_order" in html
    assert "&#34;order_id&#34;: &#34;1234&#34;" in html  # pretty JSON, escaped
    assert "345 ms" in html and "1.25 s" in html
    assert "expected text contains &#34;UPS&#34;" in html
    assert "text was &#34;It shipped.&#34;" in html
    assert "x.yaml:9" in html


def test_target_error_and_unsent_turns_are_explained(run_info: RunInfo) -> None:
    down = entry(
        "down", [turn(1, "Hi", None, error="connection refused at http://127.0.0.1:9")], turn_count=3
    )
    html = render_report([down], run_info)
    assert "ConnectError" in html
    assert "connection refused at http://127.0.0.1:9" in html
    assert "2 more turns not sent" in html
    assert "turn 1: connection refused" in html  # the headline of the collapsed card


def test_unknown_transcript_and_tool_fields_are_shown_not_dropped(run_info: RunInfo) -> None:
    rich = turn(
        1,
        "Hi",
        "Hello",
        tools=[tool("search_kb", {"q": "x"}, {"hits": 1}, provider_metadata={"latency": 7})],
        reasoning="the user greets me",
        sources=[{"url": "https://kb.example/returns", "title": "Returns"}],
        aborted=False,
    )
    html = render_report([entry("rich", [rich])], run_info)
    assert "<summary>reasoning</summary>" in html and "the user greets me" in html
    assert "<summary>sources</summary>" in html and "https://kb.example/returns" in html
    assert "<summary>provider_metadata</summary>" in html
    assert "aborted" not in html, "a false flag says nothing"


def test_each_part_of_the_reply_is_shown_where_it_came(run_info: RunInfo) -> None:
    assembler = TurnAssembler()
    for chunk in (
        {"type": "start-step"},
        {"type": "reasoning-delta", "id": "r", "delta": "Think first."},
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "Let me check."},
        {"type": "text-end", "id": "0"},
        {"type": "tool-input-available", "toolCallId": "c", "toolName": "lookup_order", "input": {}},
        {"type": "finish-step"},
        {"type": "start-step"},
        {"type": "source-url", "sourceId": "s", "url": "https://kb.example/a", "title": "Article"},
        {"type": "data-card", "id": "k", "data": {"kind": "summary-card"}},
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "Done."},
        {"type": "text-end", "id": "0"},
    ):
        assembler.feed(json.dumps(chunk), 1.0)
    ordered = turn(1, "Where is it?", "x")
    ordered["transcript"] = assembler.transcript.to_dict()
    html = render_report([entry("parts", [ordered])], run_info)
    markers = [
        "step 1",
        "Think first.",
        "Let me check.",
        "lookup_order",
        "step 2",
        "https://kb.example/a",
        "data-card #k",
        "Done.",
    ]
    places = [html.index(marker) for marker in markers]
    assert places == sorted(places), dict(zip(markers, places, strict=True))
    for once in ("Think first.", "https://kb.example/a", "summary-card", "Let me check."):
        assert html.count(once) == 1, f"{once} is shown once, among the parts"


def test_golden_mismatch_is_a_side_by_side_word_diff(entries: list[Entry], run_info: RunInfo) -> None:
    html = render_report(entries, run_info)
    assert "golden mismatch" in html
    assert "goldens/orders/order-status.yaml" in html
    assert '<pre class="diff-text">Your order <del>1234</del> has shipped.</pre>' in html
    assert '<pre class="diff-text">Your order <ins>5678</ins> has shipped.</pre>' in html
    assert "tool_calls[0].output.carrier" in html and "UPS" in html
    assert "tool call 1 lookup_order output.carrier" in html and "added · a new field" in html
    assert "golden: 1 turn differs from the golden" in html  # the collapsed card says why


def test_golden_changes_of_turns_never_reached_are_shown_with_the_conversation(run_info: RunInfo) -> None:
    golden = {
        "status": "mismatch",
        "path": "g.yaml",
        "message": None,
        "turns": [
            {"index": 2, "changes": [{"path": "text", "kind": "removed", "expected": "Bye", "actual": None}]}
        ],
    }
    html = render_report(
        [entry("short", [turn(1, "Hi", "Hello")], golden=golden, outcome="failed")], run_info
    )
    assert "turn 2 (not reached in this run)" in html
    assert "Bye" in html


def test_skipped_invalid_and_collection_errors_say_why(run_info: RunInfo) -> None:
    items = [
        entry("later", outcome="skipped", messages=["waiting for KB v2"]),
        entry(
            "bad", kind="invalid", outcome="failed", messages=["invalid conversation 'bad':\n  ✗ unknown key"]
        ),
        Entry(
            "x.yaml", "collection error", "x.yaml", "x.yaml", "collect", outcome="error", messages=["boom"]
        ),
    ]
    html = render_report(items, run_info)
    assert "waiting for KB v2" in html
    assert "unknown key" in html
    assert "boom" in html
    assert build_view(items, run_info).counts["error"] == 1


def test_empty_run_renders_a_page_that_says_so(run_info: RunInfo) -> None:
    html = render_report([], RunInfo(started=run_info.started, duration_s=0.1, default_target="staging"))
    assert "No conversation was collected." in html
    assert "staging" in html
    assert "No turn was timed" in html


def test_filters_are_data_attributes_of_each_conversation(entries: list[Entry], run_info: RunInfo) -> None:
    page = parse(render_report(entries, run_info))
    cards = [attrs for tag, attrs in page.tags if tag == "details" and "conv" in (attrs.get("class") or "")]
    assert len(cards) == len(entries)
    golden = next(
        a for a in cards if a["data-suite"] == "suites/orders.yaml" and a["data-status"] == "failed"
    )
    assert golden["data-tags"] == "orders smoke"
    options = re.findall(r'<option value="([^"]*)">', render_report(entries, run_info))
    assert "suites/hostile.yaml" in options and "security" in options


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    write_report(target, "<p>one</p>")
    write_report(target, "<p>two</p>")
    assert target.read_text() == "<p>two</p>"
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_a_failed_check_of_the_whole_conversation_is_shown_and_is_the_headline(run_info: RunInfo) -> None:
    passed = turn(1, "Hello", "Hi! How can I help?")
    conversation = entry("polite", [passed], outcome="failed")
    assert conversation.data is not None
    conversation.data["failures"] = [
        {"check": "python check mychecks:polite holds", "actual": "the bot was rude", "location": "x.yaml:4"}
    ]
    (suite,) = build_view([conversation], run_info).suites
    assert (
        suite.conversations[0].headline
        == "the whole conversation: expected python check mychecks:polite holds"
    )
    html = render_report([conversation], run_info)
    assert "the whole conversation" in html
    assert "✗ expected python check mychecks:polite holds" in html
    assert "the bot was rude" in html and "x.yaml:4" in html
