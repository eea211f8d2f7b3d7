"""Real headless Chromium for the browser tests (Playwright's async API, Debian's chromium).

The wallet pages' tests run the node's app on a real uvicorn in the test's own event loop
(``api_support.served``) and drive Chromium from the same loop, so they use the async API:

* ``chromium(driver)`` — Chromium launched with ``CHROMIUM_ARGS`` (never a downloaded one);
* ``phone(browser, lang)`` — a fresh context (own cookies, IndexedDB, service workers) at
  390×844, locale ``fr-FR`` (the page's language is then chosen by ``?lang=``);
* ``axe_violations(page)`` — axe-core (vendored under ``tests/vendor/axe-core``, routed in as
  a same-origin script by the test only: the pages' CSP forbids inline scripts) run on the page: the serious and critical violations, as readable lines;
* ``screenshot(page, name, lang)`` — ``var/screenshots/<name>-<lang>.png`` (gitignored
  artefacts, for the README and the reviewers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LIEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
AXE_PATH = "/__tests__/axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}


async def chromium(driver: Playwright) -> Browser:
    return await driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS)


async def phone(browser: Browser, **options: Any) -> BrowserContext:
    return await browser.new_context(viewport=PHONE, locale="fr-FR", **options)


async def axe_violations(page: Page) -> list[str]:
    """The serious and critical accessibility violations of the page (axe-core's WCAG A/AA
    rules), one line each: rule, impact, and the first nodes concerned."""
    # served as a same-origin file for the test only: the pages' CSP allows no inline script
    origin = "/".join(page.url.split("/")[:3])
    await page.route(f"{origin}{AXE_PATH}", lambda route: route.fulfill(
        status=200, content_type="text/javascript", body=AXE.read_bytes()))
    await page.add_script_tag(url=AXE_PATH)
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
             .filter((v) => v.impact === "serious" || v.impact === "critical")
             .map((v) => ({id: v.id, impact: v.impact,
                           nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}))""")
    return [f"{v['id']} ({v['impact']}): {', '.join(v['nodes'])}" for v in found]


async def screenshot(page: Page, name: str, lang: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{lang}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
