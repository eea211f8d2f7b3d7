"""scan.js in real Chromium: a fake camera films a real QR code (drawn by segno, as the till
shows it) and the scanner hands the parsed payment request on; camera errors become codes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import STATIC, launch, open_static
from camera_support import write_y4m
from payload_support import VECTORS
from playwright.sync_api import Browser, Page, Playwright

TILL = VECTORS["valid"][0]  # amount, reference, 5-minute expiry, name
NOW = VECTORS["now_ms"]
JSQR_SHA256 = "bc40c8a15196236b2314db0856f72ca0b49980cd5413b8c852a7349f5fee0859"


@pytest.fixture(scope="module")
def camera_browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory,  # noqa: F811
                   ) -> Iterator[Browser]:
    video = tmp_path_factory.mktemp("camera") / "till.y4m"
    write_y4m(video, TILL["url"])
    chromium = launch(playwright, "--use-fake-device-for-media-stream",
                      "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={video}",
                      "--unsafely-treat-insecure-origin-as-secure=http://lien.test")
    yield chromium
    chromium.close()


@pytest.fixture
def page(camera_browser: Browser) -> Iterator[Page]:
    opened = open_static(camera_browser)
    yield opened
    opened.context.close()


START = """async ({nowMs}) => {
  const {startScanner} = await import("/static/js/scan.js");
  const video = document.createElement("video");
  document.body.append(video);
  window.refused = [];
  window.scanner = await startScanner(video, {
    now: () => nowMs,
    onLink: (link, text) => { window.found = {link, text, stopped: window.scanner.stopped,
                                             tracks: video.srcObject === null}; },
    onRefused: (error, text) => { window.refused.push({code: error.code, text}); },
  });
  return true;
}"""


def test_the_scanner_reads_a_till_s_qr_code_from_the_camera(page: Page) -> None:
    page.evaluate(START, {"nowMs": NOW})
    page.wait_for_function("window.found !== undefined", timeout=15_000)
    found: dict[str, Any] = page.evaluate("window.found")
    assert found == {"link": TILL["request"], "text": TILL["url"], "stopped": True,
                     "tracks": True}
    assert page.evaluate("window.refused") == []


def test_an_expired_request_is_refused_and_scanning_goes_on(page: Page) -> None:
    page.evaluate(START, {"nowMs": TILL["request"]["expires_ms"]})
    page.wait_for_function("window.refused.length > 0", timeout=15_000)
    assert page.evaluate("window.refused") == [{"code": "expired", "text": TILL["url"]}]
    assert page.evaluate("window.found === undefined && !window.scanner.stopped")
    page.evaluate("window.scanner.stop()")
    assert page.evaluate("window.scanner.stopped")


CAMERA_ERROR = """async (name) => {
  const {startScanner} = await import("/static/js/scan.js");
  if (name === null) {
    Object.defineProperty(navigator, "mediaDevices", {value: undefined});
  } else if (navigator.mediaDevices) {  // none at all on an insecure page
    navigator.mediaDevices.getUserMedia = async () => { throw new DOMException("no", name); };
  }
  try {
    await startScanner(document.createElement("video"), {onLink: () => {}});
    return "started";
  } catch (error) {
    return [error.name, error.code];
  }
}"""


@pytest.mark.parametrize(("thrown", "code"), [
    ("NotAllowedError", "permission_denied"),
    ("NotFoundError", "no_camera"),
    ("OverconstrainedError", "no_camera"),
    ("NotReadableError", "camera_busy"),
    ("TypeError", "camera_failed"),
    (None, "not_supported"),
])
def test_camera_errors_become_codes_the_page_translates(
    page: Page, thrown: str | None, code: str
) -> None:
    assert page.evaluate(CAMERA_ERROR, thrown) == ["ScanError", code]


def test_an_insecure_page_is_told_so(playwright: Playwright) -> None:  # noqa: F811
    chromium = launch(playwright, secure_test_origin=False)
    try:
        plain = open_static(chromium)
        assert plain.evaluate(CAMERA_ERROR, "NotAllowedError") == ["ScanError",
                                                                    "insecure_context"]
    finally:
        chromium.close()


def test_the_vendored_decoder_is_the_pinned_file() -> None:
    folder = STATIC / "vendor" / "jsqr"
    assert hashlib.sha256((folder / "jsQR.js").read_bytes()).hexdigest() == JSQR_SHA256
    assert JSQR_SHA256 in (folder / "README.md").read_text()
    assert "Apache License" in (folder / "LICENSE").read_text()
