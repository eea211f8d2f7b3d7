"""What a node knows of the other nodes of its federation: each peer's height and final height,
as its ``GET /api/v1/chain`` last answered.

``PeerWatch.views()`` never waits for a peer: it answers what the last round of fetches found
and, when that is older than ``fresh_ms``, starts another round in the background (one round at
a time; every peer at once, each bounded by ``fetch_timeout_ms`` from connecting to the last
byte and by ``answer_bytes_max``). Nothing is fetched while nobody looks.

A peer's status: ``pending`` (not asked yet), ``reachable``, ``unreachable`` (with its
``error``: ``timeout``, ``connection``, ``bad_status``, ``bad_answer``, ``too_large``), or
``other_chain`` (it answers, for another chain: a mistake in ``[federation] peers``). The
heights are those of the last answer, kept while a peer is unreachable (``seen_ms`` says when).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import httpx

log = logging.getLogger("lien.federation")

#: Peers watched at most (more in ``[federation] peers`` are left out, with a warning).
peers_max = 64
#: A round's answers are shown this long before a view starts the next round.
fresh_ms = 5_000
#: One peer's whole fetch, from connecting to the last byte of its answer.
fetch_timeout_ms = 2_000
#: The largest answer read from a peer (its chain, genesis document included).
answer_bytes_max = 1_000_000

STATUSES = ("pending", "reachable", "unreachable", "other_chain")
ERRORS = ("timeout", "connection", "bad_status", "bad_answer", "too_large")


@dataclass(frozen=True, slots=True)
class PeerView:
    """One peer as last fetched."""

    url: str  #: its API's base URL, as configured
    status: str = "pending"  #: one of ``STATUSES``
    height: int | None = None  #: its height at its last answer (None: never answered)
    final_height: int | None = None  #: its final height at its last answer
    halted: bool | None = None  #: its node had stopped itself (its ``node.halted``)
    checked_ms: int | None = None  #: when it was last asked (ms since the epoch)
    seen_ms: int | None = None  #: when it last answered for our chain
    error: str | None = None  #: why it is unreachable (one of ``ERRORS``)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Unreachable(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _heights(answer: Any) -> tuple[str, int, int, bool]:
    """(chain id, height, final height, halted) of a ``GET /api/v1/chain`` answer."""
    if not isinstance(answer, dict):
        raise _Unreachable("bad_answer")
    chain_id, height, final = answer.get("chain_id"), answer.get("height"), answer.get(
        "final_height")
    node = answer.get("node")
    if (not isinstance(chain_id, str) or type(height) is not int or type(final) is not int
            or not 0 <= final <= height or not isinstance(node, dict)):
        raise _Unreachable("bad_answer")
    return chain_id, height, final, node.get("halted") is True


class PeerWatch:
    """The peers of one node, fetched in the background when looked at (see the module doc).

    ``transport``: an httpx transport for the fetches (a test seam); ``clock``: the wall clock
    in ms."""

    def __init__(self, peers: Sequence[str], chain_id: str, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        if len(peers) > peers_max:
            log.warning("%d peers configured: only the first %d are watched", len(peers),
                        peers_max)
        self.chain_id = chain_id
        self.transport = transport
        self.clock = clock
        self._views = tuple(PeerView(url.rstrip("/")) for url in peers[:peers_max])
        self._lock = threading.Lock()
        self._round: threading.Thread | None = None
        self._round_at = -float("inf")  #: monotonic time the last round started
        self._closed = False

    def views(self) -> tuple[PeerView, ...]:
        """The peers as last fetched; starts a round in the background when that is old."""
        self.refresh()
        return self._views

    def refresh(self) -> None:
        """Start a round unless one is running or the last one is still fresh."""
        with self._lock:
            now = time.monotonic()
            if (self._closed or not self._views or self._round is not None
                    or now - self._round_at < fresh_ms / 1000):
                return
            self._round_at = now
            self._round = threading.Thread(target=self._run_round, name="lien-peers",
                                           daemon=True)
            self._round.start()

    def wait(self, timeout_s: float) -> bool:
        """Wait for the running round, if any (``close``); True when none is left."""
        with self._lock:
            round_ = self._round
        if round_ is not None:
            round_.join(timeout_s)
            return not round_.is_alive()
        return True

    def close(self) -> None:
        """No more rounds; waits (bounded) for the running one."""
        with self._lock:
            self._closed = True
        self.wait(fetch_timeout_ms / 1000 + 1)

    def _run_round(self) -> None:
        try:
            views = asyncio.run(self._fetch_all(self._views))
            self._views = views  # one assignment: readers see the old round or the new one
        except Exception:  # a bug here must not end the node's pages: log it, keep the views
            log.exception("fetching the peers' heights")
        finally:
            with self._lock:
                self._round = None

    async def _fetch_all(self, views: tuple[PeerView, ...]) -> tuple[PeerView, ...]:
        timeout = httpx.Timeout(fetch_timeout_ms / 1000)
        async with httpx.AsyncClient(transport=self.transport, timeout=timeout,
                                     follow_redirects=False) as client:
            return tuple(await asyncio.gather(*(self._fetch(client, v) for v in views)))

    async def _fetch(self, client: httpx.AsyncClient, view: PeerView) -> PeerView:
        checked = replace(view, checked_ms=self.clock())
        try:
            answer = await asyncio.wait_for(self._get_chain(client, view.url),
                                            fetch_timeout_ms / 1000)
            chain_id, height, final, halted = _heights(answer)
        except (TimeoutError, httpx.TimeoutException):
            return replace(checked, status="unreachable", error="timeout")
        except (httpx.HTTPError, httpx.InvalidURL):
            return replace(checked, status="unreachable", error="connection")
        except _Unreachable as exc:
            return replace(checked, status="unreachable", error=exc.error)
        if chain_id != self.chain_id:
            return replace(checked, status="other_chain", error=None)
        return replace(checked, status="reachable", height=height, final_height=final,
                       halted=halted, seen_ms=checked.checked_ms, error=None)

    async def _get_chain(self, client: httpx.AsyncClient, url: str) -> Any:
        async with client.stream("GET", f"{url}/api/v1/chain") as response:
            if response.status_code != 200:
                raise _Unreachable("bad_status")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > answer_bytes_max:
                    raise _Unreachable("too_large")
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep JSON
            raise _Unreachable("bad_answer") from exc
