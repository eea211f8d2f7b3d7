"""Real headless Chromium (Debian's /usr/bin/chromium) for the browser tests, through Playwright.

    (registered for every module by tests/conftest.py)

* ``playwright`` (module) — the Playwright driver (the sync API allows one at a time);
* ``browser`` (module) — Chromium launched with ``CHROMIUM_ARGS`` (``LIEN_CHROMIUM`` names
  another executable; the tests never download one);
* ``launch(playwright, *extra_args)`` — another Chromium with more switches (a fake camera);
* ``page`` — a page of a fresh context (its own cookies and IndexedDB) per test;
* ``axe_violations(page)`` — the serious and critical axe-core violations of a page (axe-core
  vendored under ``tests/vendor/axe-core``; ``AXE_RUN`` is the script both the sync and the
  async tests evaluate);
* ``static_page`` / ``open_static(browser)`` — a page at ``http://lien.test/`` whose requests are
  answered from ``src/lien/web/static`` without any server (``/static/js/keys.js`` and
  ``/js/keys.js`` are both ``static/js/keys.js``), so ES modules import as in the wallet. The
  origin counts as a secure context for WebCrypto through the flag below, as localhost would.

Module scope, not session scope: while Playwright's sync driver runs, its event loop is the
thread's running loop, and every ``anyio`` test of a later module would fail to start its own.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    Page,
    Playwright,
    Request,
    Route,
    ViewportSize,
    sync_playwright,
)

STATIC = Path(__file__).resolve().parents[1] / "src" / "lien" / "web" / "static"
ORIGIN = "http://lien.test"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SECURE_TEST_ORIGIN = f"--unsafely-treat-insecure-origin-as-secure={ORIGIN}"
CONTENT_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
                 ".json": "application/json", ".css": "text/css", ".html": "text/html",
                 ".svg": "image/svg+xml", ".png": "image/png", ".md": "text/plain"}
BLANK = ("<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>LIEN test page"
         "</title></head><body></body></html>")


def chromium_path() -> str:
    path = os.environ.get("LIEN_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        pytest.fail(f"no Chromium at {path} (make test installs Debian's chromium; "
                    "LIEN_CHROMIUM names another)")
    return path


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


def launch(driver: Playwright, *extra_args: str, secure_test_origin: bool = True) -> Browser:
    """A Chromium with ``CHROMIUM_ARGS`` and more switches; ``ORIGIN`` is a secure context
    unless ``secure_test_origin`` is false."""
    secure = [SECURE_TEST_ORIGIN] if secure_test_origin else []
    return driver.chromium.launch(executable_path=chromium_path(), headless=True,
                                  args=[*CHROMIUM_ARGS, *secure, *extra_args])


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = launch(playwright)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="fr-FR")
    try:
        yield context.new_page()
    finally:
        context.close()


def _serve_static(route: Route) -> None:
    path = route.request.url.removeprefix(ORIGIN).split("?", 1)[0].split("#", 1)[0]
    if path == "/":
        route.fulfill(status=200, body=BLANK, content_type="text/html; charset=utf-8")
        return
    file = (STATIC / path.removeprefix("/static/").lstrip("/")).resolve()
    if not file.is_relative_to(STATIC) or not file.is_file():
        route.fulfill(status=404, content_type="text/plain", body="not found")
        return
    kind = CONTENT_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
    route.fulfill(status=200, content_type=kind or "application/octet-stream",
                  body=file.read_bytes())


def serve_static(page: Page) -> Page:
    """Answer ``page``'s requests to ``ORIGIN`` from the static files and open it there."""
    page.route(f"{ORIGIN}/**", _serve_static)
    page.goto(f"{ORIGIN}/")
    return page


def open_static(browser: Browser) -> Page:
    """A new page (own context) at ``http://lien.test/``, the static files routed in."""
    return serve_static(browser.new_context(locale="fr-FR").new_page())


@pytest.fixture
def static_page(page: Page) -> Page:
    return serve_static(page)


# -- accessibility: axe-core, vendored for the tests ---------------------------------------------
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
#: where the test routes axe in, same origin as the page (its CSP allows no inline script)
AXE_PATH = "/__tests__/axe.min.js"
#: axe-core's WCAG A/AA rules on the whole document: the serious and critical violations, with
#: the first nodes concerned
AXE_RUN = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
  .filter((v) => v.impact === "serious" || v.impact === "critical")
  .map((v) => ({id: v.id, impact: v.impact,
                nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}))"""


def axe_lines(found: list[dict[str, Any]]) -> list[str]:
    return [f"{v['id']} ({v['impact']}): {', '.join(v['nodes'])}" for v in found]


def axe_violations(page: Page) -> list[str]:
    """The serious and critical accessibility violations of ``page``, one line each: rule,
    impact, and the first nodes concerned (an empty list: none)."""
    origin = "/".join(page.url.split("/")[:3])
    page.route(f"{origin}{AXE_PATH}", lambda route: route.fulfill(
        status=200, content_type="text/javascript", body=AXE.read_bytes()))
    page.add_script_tag(url=AXE_PATH)
    return axe_lines(page.evaluate(AXE_RUN))


# -- pages of a served node at phone width -------------------------------------------------------
PHONE: ViewportSize = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[1] / "var" / "screenshots"


def screenshot(page: Page, name: str, lang: str = "fr") -> Path:
    """The page at phone width, saved as ``var/screenshots/<name>-<lang>.png`` (an artefact)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{lang}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class Requests:
    """Every request a browser context sent: its URL, headers and body (``post_data``)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    def record(self, request: Request) -> None:
        body = request.post_data_buffer or b""
        headers = " ".join(f"{k}: {v}" for k, v in request.headers.items())
        self.sent.append((request.url, headers, body))

    def contains(self, needle: bytes) -> bool:
        lowered = needle.lower()
        return any(lowered in (url + headers).encode().lower() or lowered in body.lower()
                   for url, headers, body in self.sent)
