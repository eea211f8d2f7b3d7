"""What every route shares, and how a route gets it: the ``ApiContext`` of the app.

``create_app`` builds one ``ApiContext`` and stores it as ``app.state.lien``; a route asks for
it with the ``Ctx`` dependency (``ctx: Ctx``), never through a closure, so routers are plain
modules that any app can include (the tests' apps, later a federation node's).

``get_context`` is an ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in its
thread pool, which would cost a thread hop on every request. The one route that solves no
dependency at all, the hot ``POST /transactions`` (``routes.transactions.RawRoute``), calls
``context_of`` itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from ..federation.peers import PeerWatch
from ..ledger import limits
from ..members import Members, Notifier
from ..node.node import Node
from ..store import Store
from .admission import Admission
from .events import EventHub
from .metrics import ApiCounts, MetricsSettings, registry_of
from .ratelimit import Limits, RateLimits

if TYPE_CHECKING:
    from ..federation.federation import Federation

PREFIX = "/api/v1"
#: Items of a page of history or of blocks when the request names no ``limit``.
PAGE_DEFAULT = 50


@dataclass(frozen=True)
class ApiSettings:
    """Named bounds of the API (the ledger's protocol limits are in ``lien.ledger.limits``)."""

    #: Longest a request waits for ``wait=executed|final`` before answering 202.
    wait_ms_max: int = 10_000
    #: Threads that verify signatures and enqueue, off the event loop.
    admission_threads: int = 4
    #: Largest body of POST /transactions (one encoded transaction).
    request_bytes_max: int = limits.transaction_bytes_max
    #: Largest body of POST /transactions/batch: a full batch of full transactions.
    batch_bytes_max: int = limits.batch_transactions_max * (limits.transaction_bytes_max + 2) + 64
    #: Largest ``limit`` of one page of history (``PAGE_DEFAULT`` when none is asked for).
    history_page_max: int = 200
    #: Largest ``limit`` of one page of blocks (``PAGE_DEFAULT`` when none is asked for).
    blocks_page_max: int = 200
    #: Largest ``limit`` of one page of certified blocks (GET /blocks/certified, replication).
    certified_page_max: int = 200
    #: A page of certified blocks stops before the block that would bring it over this many
    #: transactions (it always holds one whole block, at most ``block_transactions_max`` and
    #: its order runs): bounds the memory and the size of one answer.
    certified_page_transactions_max: int = limits.block_transactions_max
    #: A comment line on an idle event stream this often, so proxies keep it open.
    sse_heartbeat_s: float = 15.0
    #: The ``retry:`` line of an event stream: how long a client waits before reconnecting.
    sse_retry_ms: int = 3000
    #: Events queued for one slow stream before it is sent ``overflow`` and closed.
    sse_queue_events_max: int = 1000
    #: Events replayed at most after ``Last-Event-ID``; more missed is ``overflow``.
    sse_backlog_events_max: int = 200
    #: Rate limits of submissions and sign-ups (``ratelimit``; node.toml's ``[limits]``).
    limits: Limits = Limits()
    #: Event streams open at once; one more is refused, 503 ``too_many_streams``
    #: (``lien serve`` sets it from ``[http] streams_max``).
    sse_streams_max: int = 448
    #: Whether ``GET /metrics`` is served, and to which addresses (node.toml's ``[metrics]``).
    metrics: MetricsSettings = MetricsSettings()

    def __post_init__(self) -> None:
        if min(self.history_page_max, self.blocks_page_max, self.certified_page_max
               ) < PAGE_DEFAULT:
            raise ValueError(f"a page may not be smaller than its default, {PAGE_DEFAULT}")


@dataclass(frozen=True)
class FederationInfo:
    """How the node is joined to others, for its pages and ``GET /federation``: the ordering
    backend (``embedded``: one node; ``jetstream``: a federation's replicated NATS stream), the
    stream's name and replicas, and the other nodes' API base URLs (node.toml's
    ``[federation] peers``)."""

    backend: str = "embedded"
    stream: str | None = None
    replicas: int | None = None
    peers: tuple[str, ...] = ()

    @classmethod
    def of(cls, federation: Federation) -> FederationInfo:
        """What ``lien serve`` knows of the federation it opened."""
        return cls("jetstream", federation.log.settings.name, federation.config.replicas,
                   tuple(federation.config.peers))

    @property
    def federated(self) -> bool:
        return self.backend != "embedded"


class ApiContext:
    """What the routes share: the node, the admission pipeline, its rate limits, the
    event hub, the members' service (None for a store without personal data) with its
    notifier (a node listener and a worker thread, started here, stopped by ``close``), the
    metrics' counters and registry (``metrics``), and the node's federation with the watch of
    its peers (a first round of fetches started here, in the background)."""

    def __init__(self, node: Node, settings: ApiSettings, members: Members | None = None,
                 federation: FederationInfo | None = None) -> None:
        self.node = node
        self.store = node.store
        self.settings = settings
        self.members = members
        self.limits = RateLimits(settings.limits)
        self.admission = Admission(node, settings.admission_threads, settings.wait_ms_max,
                                   self.limits)
        self.hub = EventHub(settings.sse_queue_events_max, settings.sse_streams_max,
                            retry_after_s=math.ceil(settings.sse_retry_ms / 1000))
        node.add_listener(self.hub.publish)
        self.counts = ApiCounts()
        self.registry = registry_of(node, self.hub, self.counts)
        self.notifier: Notifier | None = None
        if members is not None and isinstance(node.store, Store):
            self.notifier = Notifier(members, partial(_body_of, node.store))
            self.notifier.start()
            node.add_listener(self.notifier.listener)
        self.federation = federation or FederationInfo()
        self.peers = PeerWatch(self.federation.peers, node.chain_id)
        self.peers.refresh()
        self._closed = False

    def close(self) -> None:
        """End the event streams and release the threads; the node itself keeps running."""
        if self._closed:
            return
        self._closed = True
        self.hub.close()
        self.node.remove_listener(self.hub.publish)
        if self.notifier is not None:
            self.node.remove_listener(self.notifier.listener)
            self.notifier.stop()
        self.peers.close()
        self.admission.close()


def _body_of(store: Store, tx_id: str) -> Mapping[str, Any] | None:
    """A stored transaction's body (the notifier's lookup)."""
    stored = store.transaction(tx_id)
    return stored.tx.body if stored is not None else None


def context_of(request: Request) -> ApiContext:
    """The app's context (``app.state.lien``, set by ``create_app``)."""
    ctx: ApiContext = request.app.state.lien
    return ctx


async def get_context(request: Request) -> ApiContext:
    """``context_of`` as a dependency (``ctx: Ctx``)."""
    return context_of(request)


Ctx = Annotated[ApiContext, Depends(get_context)]
