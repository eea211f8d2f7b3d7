"""HEAD on every GET route (RFC 9110 §9.3.2): the same status and headers, no body.

FastAPI registers GET routes without HEAD, so a monitoring probe or a cache sending HEAD got
405. This middleware answers HEAD by running the GET and keeping only its head; the scope
says so (``is_head``), so that a route whose GET opens something (the event stream) answers
its head without opening it. Any other streamed answer is cut after its first chunk.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


HEAD_KEY = "lien.head"


def is_head(scope: Scope) -> bool:
    """Whether this GET is run to answer a HEAD."""
    return bool(scope.get(HEAD_KEY))


class _HeadSent(Exception):
    """The head is sent: stop the GET that is still producing a body."""


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False

        async def head_only(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.start":
                await send(message)
            elif message["type"] == "http.response.body":
                if ended:
                    raise _HeadSent
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                if message.get("more_body", False):
                    raise _HeadSent

        try:
            await self.app({**scope, "method": "GET", HEAD_KEY: True}, receive, head_only)
        except* _HeadSent:
            pass
