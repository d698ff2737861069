"""The report in a real headless Chromium (Debian's ``chromium``, driven by Python playwright with
no browser download): it loads cleanly, fetches nothing, filters and searches, and hostile
content stays text. One browser per module; one fresh page per test.

Without chromium or playwright these tests skip locally, and fail in CI (``CI=true``), where
``.ci/run`` installs both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from report_samples import XSS_IMG, XSS_SCRIPT, sample_entries

from convtest.report.html import RunInfo, render_report, write_report

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

CHROMIUM = Path(os.environ.get("CONVTEST_CHROMIUM", "/usr/bin/chromium"))
#: as root in a closed network: no sandbox, no GPU, nothing phoning home
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run the browser tests: .ci/run installs chromium)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        unavailable(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def report_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "report.html"
    run = RunInfo(started=datetime.now().astimezone(), duration_s=3.2)
    write_report(path, render_report(sample_entries(), run))
    return path.as_uri()


class Loaded:
    """A page with the report open, and everything it said or asked for while loading."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.goto(url)

    def visible(self) -> list[str]:
        names: list[str] = self.page.eval_on_selector_all(
            ".conv:not([hidden]) .conv-name", "els => els.map(e => e.textContent)"
        )
        return names

    def shown(self) -> str:
        return self.page.inner_text("#shown")


@pytest.fixture
def loaded(browser: BrowserContext, report_url: str) -> Iterator[Loaded]:
    page = browser.new_page()
    yield Loaded(page, report_url)
    page.close()


ALL = [
    "<invalid suite>",
    "hostile reply is shown as text",
    "order status drifted from its golden",
    "target was down",
    "waits for the new knowledge base",
    "greets the user",
]


def test_page_loads_with_no_console_error_and_fetches_nothing_else(loaded: Loaded, report_url: str) -> None:
    assert loaded.page.inner_text("h1") == "convtest report"
    assert loaded.visible() == ALL
    assert loaded.shown() == "6 of 6 shown"
    assert loaded.errors == []
    assert loaded.requests == [report_url]


def test_xss_payloads_are_shown_as_text_and_never_run(loaded: Loaded) -> None:
    page = loaded.page
    assert page.evaluate("window.__xss") is None
    card = page.locator(".conv", has_text="hostile reply is shown as text")
    card.locator("summary").first.click()
    card.locator(".tool > summary").first.click()
    text = card.inner_text()
    assert XSS_SCRIPT in text
    assert XSS_IMG in text
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 1
    assert page.evaluate("window.__xss") is None
    assert loaded.errors == []


def test_status_filter_hides_and_shows_conversations(loaded: Loaded) -> None:
    page = loaded.page
    page.locator('.status-filter input[value="passed"]').uncheck()
    assert "greets the user" not in loaded.visible()
    assert page.locator('.suite[data-suite="suites/demo.yaml"]').is_hidden()
    page.locator('.status-filter input[value="failed"]').uncheck()
    assert loaded.visible() == ["waits for the new knowledge base"]
    assert loaded.shown() == "1 of 6 shown"
    page.locator('.status-filter input[value="passed"]').check()
    assert loaded.visible() == ["waits for the new knowledge base", "greets the user"]


def test_suite_and_tag_filters_combine(loaded: Loaded) -> None:
    page = loaded.page
    page.select_option("#filter-suite", "suites/orders.yaml")
    assert loaded.visible() == ALL[2:5]
    page.select_option("#filter-tag", "smoke")
    assert loaded.visible() == ["order status drifted from its golden"]
    page.select_option("#filter-suite", "")
    assert loaded.visible() == ["order status drifted from its golden", "greets the user"]


def test_search_finds_text_inside_closed_conversations_and_says_when_nothing_matches(loaded: Loaded) -> None:
    page = loaded.page
    page.fill("#filter-search", "5678 shipped")
    assert loaded.visible() == ["order status drifted from its golden"]
    page.fill("#filter-search", "CONNECTION refused")
    assert loaded.visible() == ["target was down"]
    page.fill("#filter-search", "no such words anywhere")
    assert loaded.visible() == []
    assert page.locator("#no-match").is_visible()
    page.fill("#filter-search", "")
    assert loaded.visible() == ALL


def test_first_failure_is_open_and_a_chart_dot_opens_its_conversation(loaded: Loaded) -> None:
    page = loaded.page
    opened: list[str] = page.eval_on_selector_all(
        ".conv[open] .conv-name", "els => els.map(e => e.textContent)"
    )
    assert opened == ["<invalid suite>"]
    greeting = page.locator(".conv", has_text="greets the user")
    assert greeting.get_attribute("open") is None
    anchor = greeting.get_attribute("id")
    page.locator(f'.chart a[href^="#{anchor}-"]').first.click()
    assert greeting.get_attribute("open") == ""


def test_screenshot_of_the_report_is_a_png(loaded: Loaded, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    loaded.page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000
