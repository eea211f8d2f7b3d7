"""Draw the app's PNG icons (192 and 512 px) from the same shapes as static/icons/lien.svg.

    .venv/bin/python scripts/make_icons.py

No image library: the pixels are computed here (the SVG's rounded square and its "L" stroke,
4 samples a pixel) and written with a small PNG encoder (zlib). Run once; the PNGs are
committed under src/lien/web/static/icons/.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "src" / "lien" / "web" / "static" / "icons"
BRAND = (0x1D, 0x5C, 0x4D)
WHITE = (0xFF, 0xFF, 0xFF)
#: the SVG's 64-unit grid: corner radius, the L's segments and half its stroke width
RADIUS, HALF_STROKE = 14.0, 4.0
SEGMENTS = (((20.0, 14.0), (20.0, 50.0)), ((20.0, 50.0), (46.0, 50.0)))
SAMPLES = ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75))


def _in_rounded_square(x: float, y: float) -> bool:
    cx, cy = min(max(x, RADIUS), 64 - RADIUS), min(max(y, RADIUS), 64 - RADIUS)
    return (x - cx) ** 2 + (y - cy) ** 2 <= RADIUS ** 2


def _on_stroke(x: float, y: float) -> bool:
    for (ax, ay), (bx, by) in SEGMENTS:
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
        if (x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2 <= HALF_STROKE ** 2:
            return True
    return False


def pixel(px: int, py: int, size: int) -> bytes:
    """RGBA of one pixel: the average of its samples (transparent outside the square)."""
    rgb, alpha = [0, 0, 0], 0
    for sx, sy in SAMPLES:
        x, y = (px + sx) * 64 / size, (py + sy) * 64 / size
        if not _in_rounded_square(x, y):
            continue
        colour = WHITE if _on_stroke(x, y) else BRAND
        rgb = [a + b for a, b in zip(rgb, colour, strict=True)]
        alpha += 1
    if alpha == 0:
        return bytes(4)
    return bytes([c // alpha for c in rgb] + [255 * alpha // len(SAMPLES)])


def png(size: int) -> bytes:
    rows = b"".join(b"\x00" + b"".join(pixel(x, y, size) for x in range(size)) for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def main() -> None:
    for size in (192, 512):
        (ICONS / f"lien-{size}.png").write_bytes(png(size))


if __name__ == "__main__":
    main()
