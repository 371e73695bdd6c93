"""One headless Chromium (Debian's /usr/bin/chromium) per browser-test module."""
from __future__ import annotations

import pytest
from e2e_app import ARGS, CHROMIUM


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()
