"""The run report opened in a real browser: Debian's Chromium, headless, driven by
Playwright, started and stopped by the test, loading the file from disk (file://).

Chromium is a system package (`apt-get install -y chromium`); the README's test command
installs it when it is missing, so here a missing Chromium fails loudly, never skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Request, sync_playwright

from tests.report.demo import demo_pipeline

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """The demo run's report (made before the browser starts: Playwright's sync API runs an
    event loop of its own, in which `Pipeline.run()` refuses to run)."""
    result = demo_pipeline(tmp_path / "store.db").build().run()
    return result.report(tmp_path / "report.html")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed ({CHROMIUM} is missing): install it with "
            "`apt-get update && apt-get install -y chromium` (the README's test command "
            "does this when it is missing)"
        )
    profile = tmp_path / "chromium-profile"  # a new, empty user data dir
    profile.mkdir()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        try:
            yield context
        finally:
            context.close()


@pytest.mark.timeout(180)
def test_report_renders_graph_and_tables_in_headless_chromium(
    tmp_path: Path, report: Path, browser: BrowserContext
) -> None:
    problems: list[str] = []
    fetched: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    def on_request(request: Request) -> None:
        if not request.url.startswith(("file:", "data:", "about:")):
            fetched.append(request.url)

    page = browser.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("request", on_request)
    page.goto(report.as_uri(), wait_until="load")

    names = page.locator("svg.graph text.step-name")
    assert sorted(names.all_text_contents()) == ["input", "judge", "llama", "questions", "qwen"]
    for index in range(names.count()):
        assert names.nth(index).is_visible()
        box = names.nth(index).bounding_box()
        assert box is not None and box["width"] > 10 and box["height"] > 5
    assert page.locator("svg.graph g.edge").count() == 5
    assert page.locator("table.steps tbody tr").count() == 4
    assert page.locator("table.steps tbody tr").first.is_visible()
    assert page.locator("table.failures tr.failure-kind").count() == 2
    assert page.locator("section#config pre").is_visible()
    screenshot = tmp_path / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)

    assert screenshot.stat().st_size > 10_000
    assert problems == []
    assert fetched == []  # the report fetched nothing
