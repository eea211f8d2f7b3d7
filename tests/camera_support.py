"""A fake camera for the browser tests: Chromium films a Y4M file (``write_y4m``) made of a real
QR code drawn by segno, as a till's or an account's page shows it (``camera_browser``)."""

from __future__ import annotations

from pathlib import Path

from browser_support import launch
from playwright.sync_api import Browser, Playwright

from lien.web.pages import qr

WIDTH, HEIGHT = 640, 480


def write_y4m(path: Path, link: str, frames: int = 2) -> None:
    """A tiny Y4M video (4:2:0, grey): the link's QR code, 5 px a module, centred on white."""
    rows = [bytes(0 if dark else 255 for dark in row)
            for row in qr.qr_code(link).matrix_iter(scale=5, border=4)]
    size = len(rows)
    assert size <= HEIGHT
    top, left = (HEIGHT - size) // 2, (WIDTH - size) // 2
    white = b"\xff" * WIDTH
    luma = b"".join(
        white[:left] + rows[y - top] + white[left + size:] if top <= y < top + size else white
        for y in range(HEIGHT))
    chroma = b"\x80" * (WIDTH // 2 * HEIGHT // 2)
    frame = b"FRAME\n" + luma + chroma + chroma
    header = f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * frames)


def camera_browser(playwright: Playwright, video: Path, link: str) -> Browser:
    """A Chromium whose camera films ``link``'s QR code (written to ``video``), the camera
    permission granted without asking."""
    write_y4m(video, link)
    return launch(playwright, "--use-fake-device-for-media-stream",
                  "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={video}")
