"""Browser tests: Playwright driving Debian's headless Chromium against DTR under its
production server, over HTTPS with its self-signed certificate. The browser, its pages and
`log_in` are shared with tests/e2e: tests/support/browser.py."""

import os
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS, log_in  # noqa: F401 (for tests)

# Screenshots of the main pages: kept in a temporary folder, or where DTR_SCREENSHOTS says
# (docs/screenshots when refreshing the README's pictures).
SCREENSHOTS = os.environ.get("DTR_SCREENSHOTS")


@pytest.fixture
def screenshot(tmp_path):
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, name):
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
