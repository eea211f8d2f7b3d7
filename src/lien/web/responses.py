"""Plain JSON responses and bounded request bodies: the lean pieces of the hot path."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..ledger import Reason, TxError

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_bytes(data: Any) -> bytes:
    return _encoder.encode(data).encode("utf-8")


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response without FastAPI's serialisation machinery (no model, no float)."""
    return Response(json_bytes(data), status, headers, media_type="application/json")


async def read_body(request: Request, limit_bytes: int) -> bytes:
    """The raw body, refused with ``too_large`` past ``limit_bytes`` *before* it is parsed.

    A declared ``Content-Length`` over the limit is refused without reading a byte; a body
    sent without one (chunked) is read only up to the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise TxError(Reason.MALFORMED, "Content-Length is not a number")
        if int(declared) > limit_bytes:
            raise TxError(Reason.TOO_LARGE, f"request body longer than {limit_bytes} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise TxError(Reason.TOO_LARGE, f"request body longer than {limit_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
