"""Errors of the HTTP API and their one translation point to HTTP responses.

Exception tree, and the status each gets::

    TxError(reason)            (lien.ledger)  -> 413 for ``too_large``, 400 for every other reason
    RequestValidationError     (FastAPI)      -> 400 ``malformed`` (bad query or path parameter)
    HTTPException              (Starlette)    -> its status; 404 ``not_found``, 405 ...
    ApiError                                  -> its own status and code:
      ├── NotFound                            -> 404 ``not_found``
      └── NodeHalted                          -> 503 ``node_halted`` (stopped or failed node)
    NodeStopped                (lien.node)    -> 503 ``node_halted``
    NodeBusy                   (lien.node)    -> 503 ``node_busy`` (queue full, state loading)
      └── DiskFull             (lien.node)    -> 503 ``disk_full`` (retry once space is freed)
    RateLimited                (.ratelimit)   -> 429 ``rate_limited``, ``Retry-After`` in seconds
    StreamsFull                (web.events)   -> 503 ``too_many_streams`` (``sse_streams_max``)
    ClientDisconnect           (Starlette)    -> nothing to answer: the client left mid-request
    the members' wallet (/wallet/api, lien.members):
      FieldError                              -> 400, its message key as ``code``, the French
                                                 message as ``detail``, and ``field``
      LoginFailed                             -> 401 ``login_failed`` (wrong secret or unknown
                                                 e-mail alike)
      SessionGone                             -> 401 ``not_signed_in``
      Locked                                  -> 429 ``rate_limited``, ``Retry-After``
    any other exception (a bug)               -> 500 ``internal``: logged with its traceback,
                                                 none in the body

The connection limits (``connections``) answer before the app sees a request, in the same
form: 408 ``request_timeout``, 414 ``url_too_long``, 431 ``header_too_large``, 400
``malformed``, 503 ``too_many_connections``.

Every error body is ``{"error": {"code": <code>, "detail": <text>}}``. An *execution* refusal
(``insufficient_funds``, ``unknown_account``...) is not an error here: it is the recorded result
of an executed transaction, answered with 200 and ``result.code``.

``install(app, on_error)`` also tells ``on_error(request, status, code)`` of every error it
answers: the one place where the metrics count refused transactions (``metrics``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..ledger import Reason, TxError
from ..members import FieldError, Locked, LoginFailed, SessionGone
from ..node.node import MIRROR_DETAIL, DiskFull, NodeBusy, NodeStopped
from .events import StreamsFull
from .ratelimit import RateLimited
from .responses import json_bytes

log = logging.getLogger("lien.web")


class ApiError(Exception):
    """An API-level refusal that is not a ledger reason code."""

    status = 400
    code = "error"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.extra = extra


class NotFound(ApiError):
    status = 404
    code = "not_found"


class NodeHalted(ApiError):
    status = 503
    code = "node_halted"


#: API error codes beyond the ledger's reason codes (listed by GET /api/v1/reasons).
API_CODES: dict[str, str] = {
    "not_found": "No such transaction, receipt, account, block, currency or route.",
    "method_not_allowed": "The route exists but not with this HTTP method.",
    "node_halted": "The node is stopped, or halted (a broken invariant, a failed background "
                   "verification); nothing was accepted.",
    "node_busy": "The node's queue is full or its state still loading; nothing was accepted, "
                 "retry later.",
    "disk_full": "The node's disk is full; nothing was accepted, retry later: the node resumes "
                 "by itself once space is freed.",
    "rate_limited": "Too many submissions from this address or account, or sign-ups; nothing "
                    "was accepted, retry after Retry-After seconds.",
    "too_many_streams": "The node serves its most event streams at once (streams_max); "
                        "retry after Retry-After seconds.",
    "too_many_connections": "Every connection the node may hold (connections_max) is answering "
                            "a request; nothing was read, retry later.",
    "request_timeout": "The request line and headers did not arrive within header_timeout_s "
                       "(408); the connection is closed.",
    "url_too_long": "The request URL (path and query) exceeds url_bytes_max (414).",
    "header_too_large": "The request line and headers exceed header_bytes_max (431).",
    "internal": "A bug in the node; nothing in the request caused it. Please report it.",
}

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def http_status(reason: str) -> int:
    """The HTTP status of an admission refusal: 413 for too_large, else 400."""
    return 413 if reason == Reason.TOO_LARGE else 400


class ErrorResponse(Response):
    """An error answer, ``{"error": {"code", "detail", ...}}``, that knows its ``code``."""

    media_type = "application/json"

    def __init__(self, status: int, code: str, body: bytes, headers: Mapping[str, str]) -> None:
        super().__init__(body, status, headers)
        self.code = code


def error_response(status: int, code: str, detail: str = "",
                   headers: Mapping[str, str] | None = None, **extra: Any) -> ErrorResponse:
    error: dict[str, Any] = {"code": code, "detail": detail or ""}
    error.update(extra)
    all_headers = dict(headers or {})
    if status == 503:
        all_headers.setdefault("Retry-After", "1")
    return ErrorResponse(status, code, json_bytes({"error": error}), all_headers)


def _validation_detail(exc: RequestValidationError) -> str:
    # Name the parameter and the rule, never echo the input (it may be large or sensitive).
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


async def _tx_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TxError)
    return error_response(http_status(exc.reason), exc.reason.value, exc.detail)


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.detail, **exc.extra)


async def _node_stopped(_request: Request, exc: Exception) -> Response:
    # the node's own failure stays in its log (it may name files); a mirror says what it is
    detail = MIRROR_DETAIL if str(exc) == MIRROR_DETAIL else "the node is not running"
    return error_response(503, NodeHalted.code, detail)


async def _node_busy(_request: Request, exc: Exception) -> Response:
    return error_response(503, "node_busy", str(exc))


async def _disk_full(_request: Request, exc: Exception) -> Response:
    return error_response(503, "disk_full", str(exc))


async def _rate_limited(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    return error_response(429, "rate_limited", str(exc),
                          headers={"Retry-After": str(exc.retry_after_s)})


async def _streams_full(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StreamsFull)
    return error_response(503, "too_many_streams", str(exc),
                          headers={"Retry-After": str(exc.retry_after_s)})


async def _field_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FieldError)
    return error_response(400, exc.key, exc.message, field=exc.field)


async def _login_failed(_request: Request, _exc: Exception) -> Response:
    return error_response(401, "login_failed", "wrong e-mail or password")


async def _session_gone(_request: Request, _exc: Exception) -> Response:
    return error_response(401, "not_signed_in", "log in first")


async def _locked(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Locked)
    return error_response(429, "rate_limited", str(exc),
                          headers={"Retry-After": str(exc.retry_after_s)})


async def _client_gone(_request: Request, _exc: Exception) -> Response:
    # The client closed the connection (or it was cut) while its body was read: no one is
    # left to answer, and it is no bug of the node.
    return Response(status_code=400)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, Reason.MALFORMED.value, _validation_detail(exc))


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s: %r", request.method, request.url.path, exc,
              exc_info=exc)
    return error_response(500, "internal")


Handler = Callable[[Request, Exception], Awaitable[Response]]
#: Told of each error answered: (request, HTTP status, error code).
OnError = Callable[[Request, int, str], None]

_HANDLERS: tuple[tuple[type[Exception], Handler], ...] = (
    (TxError, _tx_error),
    (ApiError, _api_error),
    (NodeStopped, _node_stopped),
    (NodeBusy, _node_busy),
    (DiskFull, _disk_full),
    (RateLimited, _rate_limited),
    (StreamsFull, _streams_full),
    (ClientDisconnect, _client_gone),
    (FieldError, _field_error),
    (LoginFailed, _login_failed),
    (SessionGone, _session_gone),
    (Locked, _locked),
    (RequestValidationError, _validation_error),
    (StarletteHTTPException, _http_error),
    (Exception, _internal_error),
)


def _telling(handler: Handler, on_error: OnError) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        if isinstance(response, ErrorResponse):
            on_error(request, response.status_code, response.code)
        return response

    return handle


def install(app: FastAPI, on_error: OnError | None = None) -> None:
    """Register the translation of every exception the API may raise; ``on_error`` is told
    of each error answered (the metrics' count of refusals)."""
    for kind, handler in _HANDLERS:
        app.add_exception_handler(kind, handler if on_error is None
                                  else _telling(handler, on_error))
