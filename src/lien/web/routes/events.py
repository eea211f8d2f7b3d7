"""The live events of an account: Server-Sent Events (``lien.web.events`` runs the streams).

Live events are the node's own ``TxEvent`` records; the events replayed after a
``Last-Event-ID`` are built from the stored history as the same ``TxEvent`` (``stored_event``),
so both carry the same fields, encoded once by ``TxEvent.to_json``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ...ledger import Reason, TxError
from ...node.node import TxEvent
from ...store.store import StoredTx
from ..context import ApiContext, Ctx
from ..events import EventHub, Subscription, stream
from ..head import is_head
from ..openapi import ERRORS

from ..params import AccountPath, known_account

router = APIRouter(tags=["accounts"])


class EventStream(StreamingResponse):
    """The SSE response; its subscription ends with it, even when the client left before the
    stream's first byte (the body generator, which also ends it, then never runs)."""

    def __init__(self, body: AsyncIterator[bytes], hub: EventHub, sub: Subscription,
                 headers: dict[str, str]) -> None:
        super().__init__(body, media_type="text/event-stream", headers=headers)
        self.hub = hub
        self.sub = sub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.hub.unsubscribe(self.sub)


def stored_event(stored: StoredTx, final: bool) -> TxEvent:
    """The event of a transaction read back from the history (for a replayed backlog)."""
    return TxEvent(stored.tx.id, stored.tx.type, stored.result, stored.height, stored.seq,
                   "final" if final else "executed")


def backlog(ctx: ApiContext, account: str, after: int) -> tuple[list[TxEvent], bool]:
    """Events of ``account`` after seq ``after``, oldest first; True when some are too old
    to replay (more than ``sse_backlog_events_max``)."""
    size = ctx.settings.sse_backlog_events_max
    rows = ctx.store.history(account, None, size + 1)
    missed = [r for r in rows if r.seq > after]
    if len(missed) > size:
        return [], True
    return [stored_event(r, ctx.node.is_final(r.height)) for r in reversed(missed)], False


def _last_event_id(request: Request) -> int | None:
    last = request.headers.get("last-event-id")
    if last is None:
        return None
    if not (last.isascii() and last.isdigit() and len(last) < 16):
        raise TxError(Reason.MALFORMED, "Last-Event-ID is a seq (an integer)")
    return int(last)


@router.get(
    "/accounts/{account_id}/events",
    summary="Live events of an account (SSE)",
    description=(
        "`text/event-stream`. It opens with a `retry:` line (the milliseconds a client waits "
        "before reconnecting), then one `transaction` event per executed transaction touching "
        "the account (`id:` is its seq; `data:` is `{id, type, result, height, seq, "
        "status}`), and a `: keep-alive` comment when idle. Reconnect with `Last-Event-ID` to "
        "replay what was missed. A client too slow to keep up, or one that missed more than "
        "can be replayed, gets an `overflow` event and the stream closes: reconnect with "
        "`Last-Event-ID` (or reload the history). `halted`: the node stopped."
    ),
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
               **ERRORS},
)
async def account_events(ctx: Ctx, account_id: AccountPath, request: Request) -> Response:
    loop = asyncio.get_running_loop()
    account = await loop.run_in_executor(None, known_account, ctx, account_id)
    after = _last_event_id(request)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if is_head(request.scope):  # the head of the stream, without opening one
        return Response(media_type="text/event-stream", headers=headers)
    sub = ctx.hub.subscribe(account)
    replay = None if after is None else functools.partial(backlog, ctx, account, after)
    settings = ctx.settings
    body = stream(ctx.hub, sub, replay, lambda: not ctx.node.running, settings.sse_heartbeat_s,
                  settings.sse_retry_ms)
    return EventStream(body, ctx.hub, sub, headers)
