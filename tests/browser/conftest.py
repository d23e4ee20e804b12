"""Browser tests of the console: one broker (HTTP listener on) and one headless
Chromium for the module, Debian's `chromium` (installed by ./dev) driven by Playwright
(never `playwright install`: executable_path points at the system browser). The
screenshots taken are listed at the end of the pytest run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.console_page import CHROMIUM, SAVED
from tests.conftest import BrokerHandle


@pytest.fixture(scope="module")
def console_broker(tmp_path_factory) -> Iterator[BrokerHandle]:
    handle = BrokerHandle(
        tmp_path_factory.mktemp("console"),
        {"http.listener": "127.0.0.1:0", "group.initial.rebalance.delay.ms": "0"},
    )
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, console_broker):
    """A fresh page on the console; a JavaScript error on the page fails the test."""
    context = chromium.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.base = f"http://127.0.0.1:{console_broker.broker.http_port}/"
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def pytest_terminal_summary(terminalreporter) -> None:
    if SAVED:
        terminalreporter.section("console screenshots")
        for path in SAVED:
            terminalreporter.write_line(str(path))
