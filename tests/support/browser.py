"""Browser fixtures (a pytest plugin, registered in tests/conftest.py, so tests/ui and
tests/e2e share them): Playwright driving Debian's headless Chromium (never a downloaded
browser), a fresh context per test that saves a screenshot when the test fails, and a log-in
through DTR's form."""

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.server import USERS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's outcome on the test, so fixtures can tell a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request, tmp_path):
    """A fresh browser context; on failure its last page is saved as failure.png (the path
    is printed) to see what the browser saw."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    # assertions wait as long as actions (5 s by default): a password change hashes with
    # argon2, which a loaded 2-core machine has taken over 5 s to answer
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        path = Path(tempfile.gettempdir()) / f"dtr-ui-failure-{request.node.name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"browser at failure: {page.url}, screenshot {path}")
    context.close()


def log_in(page, url, user="admin"):
    """Log in through the form of the DTR at `url`, as one of the test USERS."""
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(USERS[user][0])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/repositories$"))
