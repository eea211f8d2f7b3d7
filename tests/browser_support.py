"""Real headless Chromium for the tests (Playwright), and the web wallet's static files served
to it without a node.

    pytest_plugins = ("browser_support",)   # in a test module: its fixtures

``browser`` is one Chromium per test session (``LIEN_CHROMIUM`` names another executable than
Debian's ``/usr/bin/chromium``; the tests never download one); ``page`` is a page of a fresh
context per test (its own cookies and IndexedDB); ``static_page`` is such a page opened on
``http://lien.test/``, where every request under that origin is answered from
``src/lien/web/static`` (``/js/keys.js`` is ``static/js/keys.js``), so that modules can be
imported with ``page.evaluate("import('/js/keys.js')")``. The origin counts as a secure
context for WebCrypto only through the flag below, as localhost would.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, sync_playwright

STATIC = Path(__file__).resolve().parents[1] / "src" / "lien" / "web" / "static"
ORIGIN = "http://lien.test"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--unsafely-treat-insecure-origin-as-secure={ORIGIN}"]
CONTENT_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
                 ".json": "application/json", ".css": "text/css", ".html": "text/html",
                 ".svg": "image/svg+xml", ".png": "image/png", ".md": "text/plain"}
ABOUT = "<!doctype html><html lang=en><title>LIEN test page</title></html>"


def chromium_path() -> str:
    path = os.environ.get("LIEN_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        pytest.fail(f"no Chromium at {path} (make test installs Debian's chromium; "
                    "LIEN_CHROMIUM names another)")
    return path


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """The one Playwright driver of the run (the sync API allows one)."""
    with sync_playwright() as driver:
        yield driver


def launch(driver: Playwright, *extra_args: str) -> Browser:
    """Another Chromium with more switches (a fake camera...)."""
    return driver.chromium.launch(executable_path=chromium_path(), headless=True,
                                  args=[*CHROMIUM_ARGS, *extra_args])


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = launch(playwright)
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def _serve_static(route: Route) -> None:
    path = route.request.url.removeprefix(ORIGIN).split("?", 1)[0].split("#", 1)[0]
    if path == "/":
        route.fulfill(status=200, content_type="text/html", body=ABOUT)
        return
    file = (STATIC / path.lstrip("/")).resolve()
    if not file.is_relative_to(STATIC) or not file.is_file():
        route.fulfill(status=404, content_type="text/plain", body="not found")
        return
    kind = CONTENT_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
    route.fulfill(status=200, content_type=kind or "application/octet-stream",
                  body=file.read_bytes())


@pytest.fixture
def static_page(page: Page) -> Page:
    page.route(f"{ORIGIN}/**", _serve_static)
    page.goto(f"{ORIGIN}/")
    return page
