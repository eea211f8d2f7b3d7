"""Real headless Chromium (Debian's /usr/bin/chromium) for the browser tests, through Playwright.

* ``playwright`` (module) — the Playwright driver (the sync API allows one at a time);
* ``browser`` (module) — Chromium launched with ``CHROMIUM_ARGS``;
* ``launch(playwright, *extra_args)`` — another Chromium with more switches (a fake camera);
* ``static_page(browser)`` — a page at ``http://lien.test/`` whose ``/static/...`` requests are
  answered from ``src/lien/web/static`` without any server, so ES modules import as in the wallet.

Module scope, not session scope: while Playwright's sync driver runs, its event loop is the
thread's running loop, and every ``anyio`` test of a later module would fail to start its own.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STATIC = Path(__file__).resolve().parents[1] / "src" / "lien" / "web" / "static"
ORIGIN = "http://lien.test"
BLANK = "<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>test</title></head>" \
        "<body></body></html>"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


def launch(driver: Playwright, *extra_args: str) -> Browser:
    return driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                  args=[*CHROMIUM_ARGS, *extra_args])


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = launch(playwright)
    yield chromium
    chromium.close()


def _serve_static(route: Route) -> None:
    path = route.request.url.removeprefix(ORIGIN).split("?", 1)[0]
    if path == "/":
        route.fulfill(status=200, body=BLANK, content_type="text/html; charset=utf-8")
        return
    file = (STATIC / path.removeprefix("/static/")).resolve()
    if not path.startswith("/static/") or STATIC not in file.parents or not file.is_file():
        route.fulfill(status=404, body="not found")
        return
    kind = "text/javascript" if file.suffix in (".js", ".mjs") else (
        mimetypes.guess_type(file.name)[0] or "application/octet-stream")
    route.fulfill(status=200, body=file.read_bytes(), content_type=kind)


def static_page(browser: Browser) -> Page:
    """A new page (own context) at ``http://lien.test/``, the static files routed in."""
    page = browser.new_context().new_page()
    page.route(f"{ORIGIN}/**", _serve_static)
    page.goto(f"{ORIGIN}/")
    return page
