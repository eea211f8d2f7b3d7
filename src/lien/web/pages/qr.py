"""QR codes of LIEN links: ``GET /qr.svg?text=<link>`` and the printed counter QR.

Only LIEN payment and account links are drawn (``lien.wallet.payload`` parses them first, its
expiry aside): the route is no open QR service, and a till never shows a code that no wallet
reads. A refused text is answered 400 ``{"error": {"code", "detail", "field"}}`` with the
parser's code.

The text is split into QR segments (ISO/IEC 18004 §7.4) by the smallest total size: digit runs
(``exp``, ``amount``) in numeric mode, upper-case runs (the account id, ``LIEN``, ``%C3%A9``) in
alphanumeric mode, the rest in byte mode. A till's link then fits one version lower at level M.
"""

from __future__ import annotations

import io
import math
from typing import Any

import segno
from fastapi import APIRouter, Request, Response
from segno import consts

from ...wallet.payload import PayloadError, parse_link, url_chars_max
from ..responses import json_response

router = APIRouter()

#: Error correction: M (15 %) survives a scratched print or a glare on a phone's screen.
ERROR_LEVEL = "M"
#: Pixels per module in the SVG (a version-6 code is 41 modules + 2 × 4 of quiet zone).
svg_scale = 8
quiet_zone_modules = 4

_NUMERIC = frozenset("0123456789")
_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
_MODES = (consts.MODE_BYTE, consts.MODE_ALPHANUMERIC, consts.MODE_NUMERIC)
#: Bits of a segment's header: 4 of mode + its character count (versions 1-9).
_HEADER_BITS = {consts.MODE_BYTE: 12, consts.MODE_ALPHANUMERIC: 13, consts.MODE_NUMERIC: 14}
#: Bits per character, × 6 to stay in integers (numeric: 10 bits / 3, alphanumeric: 11 / 2).
_CHAR_SIXTHS = {consts.MODE_BYTE: 48, consts.MODE_ALPHANUMERIC: 33, consts.MODE_NUMERIC: 20}


def _fits(mode: int, ch: str) -> bool:
    if mode == consts.MODE_NUMERIC:
        return ch in _NUMERIC
    return mode == consts.MODE_BYTE or ch in _ALPHANUMERIC


def segments(text: str) -> list[tuple[str, int]]:
    """The cheapest split of an ASCII ``text`` into (characters, QR mode) segments.

    Dynamic programming over the characters: ``cost[m]`` is the smallest size (in sixths of a
    bit) of the text so far when its last character is in mode ``m``; a new segment costs its
    header and rounds the previous one up to whole bits.
    """
    assert text.isascii() and text, "links are ASCII (percent-encoded)"
    inf = math.inf
    cost: dict[int, float] = {}
    back: list[dict[int, int]] = []
    for i, ch in enumerate(text):
        new: dict[int, float] = {}
        came: dict[int, int] = {}
        for mode in _MODES:
            if not _fits(mode, ch):
                new[mode] = inf
                continue
            best, origin = (cost[mode], mode) if i else (inf, mode)
            for prev in _MODES:
                if i and cost[prev] == inf:
                    continue
                start = 0.0 if i == 0 else math.ceil(cost[prev] / 6) * 6
                switched = start + _HEADER_BITS[mode] * 6
                if switched < best:
                    best, origin = switched, prev
            new[mode], came[mode] = best + _CHAR_SIXTHS[mode], origin
        cost = new
        back.append(came)
    mode = min(_MODES, key=lambda m: cost[m])
    modes = [0] * len(text)
    for i in range(len(text) - 1, -1, -1):
        modes[i] = mode
        mode = back[i][mode]
    out: list[tuple[str, int]] = []
    for ch, m in zip(text, modes, strict=True):
        if out and out[-1][1] == m:
            out[-1] = (out[-1][0] + ch, m)
        else:
            out.append((ch, m))
    return out


def qr_code(text: str) -> segno.QRCode:
    """The QR code of a link (already checked by the caller), at level M or better."""
    # segno reads a list of (content, mode) segments (segno.encoder.prepare_data); its type
    # hints name only a single str, int or bytes.
    parts: Any = segments(text)
    return segno.make_qr(parts, error=ERROR_LEVEL, boost_error=True)


def svg_bytes(text: str) -> bytes:
    out = io.BytesIO()
    qr_code(text).save(out, kind="svg", scale=svg_scale, border=quiet_zone_modules,
                       dark="#000", light="#fff", xmldecl=False)
    return out.getvalue()


def save_link_qr(link: str, path: str, *, now_ms: int | None = None) -> segno.QRCode:
    """Write a link's QR code to ``path`` (``.svg`` or ``.png``): the printed counter QR.

    Raises PayloadError for anything but a LIEN link.
    """
    parse_link(link, now_ms=now_ms)
    code = qr_code(link)
    code.save(path, scale=svg_scale if path.endswith(".png") else 4,
              border=quiet_zone_modules, dark="#000", light="#fff")
    return code


def _refuse(code: str, detail: str, field: str | None = "text") -> Response:
    error = {"code": code, "detail": detail, "field": field}
    return json_response({"error": error}, 400, {"Cache-Control": "no-store"})


@router.get("/qr.svg")
async def qr_svg(request: Request) -> Response:
    """The QR code (SVG) of a LIEN payment or account link given as ``text``."""
    texts = request.query_params.getlist("text")
    if len(texts) != 1 or not texts[0]:
        return _refuse("bad_url", "give the link once, as ?text=")
    text = texts[0]
    if len(text) > url_chars_max:
        return _refuse("too_long", f"a link has at most {url_chars_max} characters")
    try:
        parse_link(text, now_ms=None)  # the screen's clock decides expiry, not the node's
    except PayloadError as error:
        return _refuse(error.code, error.detail, error.field or "text")
    headers = {"Cache-Control": "private, max-age=86400, immutable",
               "Content-Security-Policy": "default-src 'none'",
               "X-Content-Type-Options": "nosniff"}
    return Response(svg_bytes(text), 200, headers, media_type="image/svg+xml")
