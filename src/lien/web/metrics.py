"""``GET /metrics``: the node's figures for Prometheus (text exposition format 0.0.4).

Operators scrape it; it holds no personal data (heights, counts, the node's state, HTTP answers
by route template — never an account, an address or an amount). Nothing is updated per block:
at each scrape ``NodeCollector`` reads the node's immutable ``summary`` and a few of its
properties, and the API's own counters (``ApiCounts``: refused transactions by code, HTTP
answers by route and status class). Each app has its own ``CollectorRegistry`` (a process may
run several apps: the tests do), with the process's CPU, memory and open files.

Where the counts come from::

    errors.install(app, on_error)  every error the API answers  ─▶ ``refusal_counter``: those
                                   of a route that submits transactions, with a refusal code
    POST /transactions/batch       each item refused inside a 200 answer  ─▶ ``ApiCounts.refused``
    ``CountAnswers`` (middleware)  every HTTP answer: method, route template, status class

Who may read it: the ``[metrics]`` table of node.toml (``MetricsSettings``): ``enabled``
(default true; false: no such route, 404) and ``allow``, the client addresses served (default
the loopback, where a local Prometheus or an SSH tunnel scrapes from); any other address is
answered 403 ``forbidden``. Behind a reverse proxy every client has the proxy's address unless
``[http] trusted_proxies`` names it, so keep the proxy trusted, or deny ``/metrics`` there.
No rate limit applies (they count submissions only), and HEAD answers like GET (``head``).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..ledger.reasons import ADMISSION
from ..node.node import Node
from .errors import ApiError, OnError
from .events import EventHub
from .head import is_head

if TYPE_CHECKING:
    from .context import ApiContext

log = logging.getLogger("lien.web")

PATH = "/metrics"
#: The codes counted as refused transactions: every admission code (400, 413 ``too_large``)
#: and the API's refusals of a submission (429, 503); a fixed set, so the label stays bounded.
REFUSAL_CODES = tuple(sorted({r.value for r in ADMISSION}
                             | {"rate_limited", "node_busy", "node_halted", "disk_full"}))
#: Methods counted by name; any other is ``other`` (the label stays bounded).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of a request that matched no route (404).
UNMATCHED = "unmatched"


@dataclass(frozen=True)
class MetricsSettings:
    """Whether ``GET /metrics`` is served, and to whom (the ``[metrics]`` table of node.toml)."""

    #: False: no ``/metrics`` route at all (404).
    enabled: bool = True
    #: Client addresses or networks served; any other is answered 403 ``forbidden``.
    allow: tuple[str, ...] = ("127.0.0.0/8", "::1")
    #: ``allow`` parsed
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ValueError(f"[metrics] enabled must be true or false, not {self.enabled!r}")
        allow = self.allow
        if isinstance(allow, str) or not isinstance(allow, (list, tuple)):
            raise ValueError(f"[metrics] allow must be a list of IP addresses or networks, "
                             f"not {allow!r}")
        networks = []
        for entry in allow:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except (TypeError, ValueError):
                raise ValueError(f"[metrics] allow: {entry!r} is not an IP address or "
                                 "network") from None
        object.__setattr__(self, "allow", tuple(allow))
        object.__setattr__(self, "networks", tuple(networks))

    @classmethod
    def from_table(cls, table: object) -> MetricsSettings:
        """The ``[metrics]`` table of node.toml (any subset of the fields); ``ValueError``
        names an unknown key or a bad value."""
        if not isinstance(table, Mapping):
            raise ValueError("[metrics] must be a table of settings")
        known = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"[metrics] has no setting {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        return cls(**dict(table))

    def allows(self, host: str) -> bool:
        """Whether the client at ``host`` is served (an IPv4 client seen IPv4-mapped by a
        dual-stack listener as its IPv4 address; anything unparsable is not)."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


class MetricsRefused(ApiError):
    """A client address outside ``[metrics] allow``."""

    status = 403
    code = "forbidden"


class ApiCounts:
    """The API's own counters: refused transactions by code, HTTP answers by (method, route
    template, status class). Counted on the event loop, read by a scrape in a worker thread:
    each is a few dictionary operations under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refusals = dict.fromkeys(REFUSAL_CODES, 0)
        self._answers: dict[tuple[str, str, str], int] = {}

    def refused(self, code: str, n: int = 1) -> None:
        """``n`` transactions refused with ``code`` (ignored unless a ``REFUSAL_CODES``)."""
        with self._lock:
            if code in self._refusals:
                self._refusals[code] += n

    def answered(self, method: str, route: str, status: int) -> None:
        key = (method if method in METHODS else "other", route, f"{status // 100}xx")
        with self._lock:
            self._answers[key] = self._answers.get(key, 0) + 1

    def refusals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._refusals)

    def answers(self) -> dict[tuple[str, str, str], int]:
        with self._lock:
            return dict(self._answers)


def refusal_counter(counts: ApiCounts, submissions: Collection[str]) -> OnError:
    """The ``on_error`` of ``errors.install``: an error answered to a POST on one of the
    ``submissions`` route templates counts as a refused transaction."""

    def on_error(request: Request, _status: int, code: str) -> None:
        route = request.scope.get("route")
        if request.method == "POST" and getattr(route, "path_format", None) in submissions:
            counts.refused(code)

    return on_error


class CountAnswers:
    """Counts every HTTP answer (``ApiCounts.answered``) once it ends: its method (HEAD for a
    HEAD answered by ``head.HeadAsGet``), the template of the route that answered
    (``/api/v1/transactions/{id}``; a mount's ``/static/{path}``; ``unmatched``) and its status
    class; a request that failed before answering counts as ``5xx``. Installed inside
    ``HeadAsGet``, where the router's scope (the matched route) is the one it sees."""

    def __init__(self, app: ASGIApp, counts: ApiCounts) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        root_path = scope.get("root_path", "")

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = "HEAD" if is_head(scope) else scope["method"]
            self.counts.answered(method, _route_of(scope, root_path), status)


def _route_of(scope: Scope, root_path: str) -> str:
    route = scope.get("route")
    if route is not None:
        return str(route.path_format)
    mounted = scope.get("root_path", "")
    if mounted != root_path:  # a mount (the static files) matched
        return f"{mounted}/{{path}}"
    return UNMATCHED


class NodeCollector:
    """The node's figures, read at each scrape (``prometheus_client`` calls ``collect``)."""

    def __init__(self, node: Node, hub: EventHub, counts: ApiCounts) -> None:
        self.node = node
        self.hub = hub
        self.counts = counts
        self._lag_failed = False

    def collect(self) -> Iterator[Metric]:
        node, summary = self.node, self.node.summary
        yield _gauge("lien_block_height", "Height of the last block this node committed.",
                     summary.height)
        yield _gauge("lien_final_height", "Height up to which blocks are final (certified by "
                     "more than 2/3 of the validators).", summary.final_height)
        yield _gauge("lien_final_lag_blocks", "Blocks committed but not final yet.",
                     summary.height - summary.final_height)
        lag_s = self._final_lag_s()
        if lag_s is not None:
            yield _gauge("lien_final_lag_seconds", "Block time of the last block minus that "
                         "of the last final block.", lag_s)
        yield _gauge("lien_last_block_time_seconds", "Block time of the last block (Unix "
                     "time; the genesis time before the first block).", summary.time_ms / 1000)
        yield _counter("lien_blocks_committed", "Blocks on the chain, committed by this node "
                       "(the height: rate() gives blocks per second).", summary.height)
        yield _counter("lien_transactions_executed", "Transactions executed on the chain "
                       "(rate() gives transactions per second).", summary.transactions)
        yield _gauge("lien_accounts", "Accounts on the chain.", summary.accounts)
        yield _gauge("lien_admission_queue_transactions", "Transactions checked and waiting "
                     "for the ordering log.", node.queue_depth)
        yield _gauge("lien_admission_queue_transactions_max", "Transactions that may wait "
                     "for the log; past it submissions are refused, node_busy.",
                     node.settings.queue_depth_max)
        yield _gauge("lien_transactions_pending", "Transactions this node admitted and has "
                     "not executed yet (waiting for the log, or in it).", node.pending)
        refusals = CounterMetricFamily(
            "lien_admission_refusals", "Transactions the API refused, by reason code "
            "(4xx and 503 answers to submissions, and refused items of batches).",
            labels=["code"])
        for code, count in sorted(self.counts.refusals().items()):
            refusals.add_metric([code], count)
        yield refusals
        yield _gauge("lien_node_up", "1 while the node takes submissions (running, not "
                     "halted).", node.running)
        yield _gauge("lien_node_ready", "0 while the node loads its state after a start.",
                     summary.ready)
        yield _gauge("lien_node_halted", "1 once the node halted (a broken invariant, a "
                     "failed verification): see its log.", node.failure is not None)
        yield _gauge("lien_node_disk_full", "1 while the node's disk is full: submissions "
                     "are refused until space is freed.", node.disk_full)
        yield _gauge("lien_event_streams", "Event streams open.", self.hub.open_streams)
        yield _gauge("lien_event_streams_max", "Event streams that may be open at once.",
                     self.hub.streams_max)
        answers = CounterMetricFamily(
            "lien_http_requests", "HTTP answers by method, route template and status class.",
            labels=["method", "route", "status"])
        for labels, count in sorted(self.counts.answers().items()):
            answers.add_metric(list(labels), count)
        yield answers

    def _final_lag_s(self) -> float | None:
        """The time between the last block and the last final one: 0 when the last block is
        final, else the final block's time read from the store. None when that read fails: a
        scrape still shows the rest, above all whether the node halted."""
        summary = self.node.summary
        if summary.final_height >= summary.height:
            return 0.0
        if summary.final_height == 0:
            final_time_ms = self.node.config.genesis_time_ms
        else:
            try:
                block = self.node.store.block(summary.final_height)
            except Exception as exc:  # the database: the node's own loops report it
                if not self._lag_failed:
                    log.warning("metrics: the last final block could not be read: %r", exc)
                self._lag_failed = True
                return None
            self._lag_failed = False  # a later failure is logged again
            if block is None:
                return None
            final_time_ms = block.header.time_ms
        return max(0, summary.time_ms - final_time_ms) / 1000


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=float(value))


def registry_of(node: Node, hub: EventHub, counts: ApiCounts) -> CollectorRegistry:
    """This app's own registry: the node's figures and the process's (CPU, memory, files)."""
    registry = CollectorRegistry()
    registry.register(NodeCollector(node, hub, counts))
    ProcessCollector(registry=registry)
    return registry


router = APIRouter(include_in_schema=False)


@router.get(PATH)
def metrics(request: Request) -> Response:
    """The exposition (a plain ``def``: the scrape may read the store, off the event loop)."""
    ctx: ApiContext = request.app.state.lien
    client = request.client.host if request.client is not None else ""
    if not ctx.settings.metrics.allows(client):
        raise MetricsRefused("metrics are served only to the addresses of node.toml's "
                             "[metrics] allow")
    return Response(generate_latest(ctx.registry), headers={"Cache-Control": "no-store"},
                    media_type=CONTENT_TYPE_PLAIN_0_0_4)


__all__ = ["PATH", "REFUSAL_CODES", "ApiCounts", "CountAnswers", "MetricsRefused",
           "MetricsSettings", "NodeCollector", "refusal_counter", "registry_of", "router"]
