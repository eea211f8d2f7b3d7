"""GET /metrics: what Prometheus reads agrees with the chain's own API, every refused transaction
is counted under its code, and the endpoint is served only as node.toml's ``[metrics]`` says.

The figures are read as Prometheus would, parsed by ``prometheus_client.parser``: against a real
``lien serve`` (the module's ``node``) and, for what needs the node in hand (a halted node, a
node whose last block is not final, a database gone), against an app in process.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from api_support import API, CHAIN, Env, api_env, envelope, member
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)
from cli_support import Founders, ServedNode
from prometheus_client.parser import text_string_to_metric_families
from server_support import CLI_ENV, LIEN, Server

from lien.ledger import limits
from lien.node.genesis import make_genesis
from lien.node.node import Node, wall_clock_ms
from lien.store import Store
from lien.wallet import Member, TxMaker
from lien.web import ApiSettings, create_app
from lien.web.metrics import REFUSAL_CODES, MetricsSettings
from lien.web.ratelimit import Limits

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: (sample name, sorted label items) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def one(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def refusals(samples: Samples) -> dict[str, float]:
    return {dict(labels)["code"]: value for (name, labels), value in samples.items()
            if name == "lien_admission_refusals_total"}


def executed_by_the_chain_api(api: str) -> tuple[int, int]:
    """(blocks, transactions) as GET /blocks pages tell them."""
    blocks = transactions = 0
    after: int | None = 0
    while after is not None:
        page = httpx.get(f"{api}/blocks", params={"after": after, "limit": 200}, timeout=10).json()
        for block in page["items"]:
            blocks += 1
            transactions += block["header"]["tx_count"]
            assert block["first_seq"] + block["header"]["tx_count"] == transactions
        after = page["next"]
    return blocks, transactions


@pytest.fixture(scope="module")
def pair(node: ServedNode, founders: Founders, tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[Member, Member]:
    tmp = tmp_path_factory.mktemp("metrics-keys")
    alice, _ = founders.open_member(tmp, "alice", nantie_minor=10_000)
    bob, _ = founders.open_member(tmp, "bob")
    return alice, bob


# -- against lien serve ------------------------------------------------------------------------
def test_heights_and_executed_transactions_are_the_chain_s(
        node: ServedNode, founders: Founders, pair: tuple[Member, Member]) -> None:
    alice, bob = pair
    before = scrape(node.url)
    payments = 3
    for amount in range(1, payments + 1):
        founders.submit(founders.maker.pay(alice, bob, amount))
    after = scrape(node.url)
    chain = httpx.get(f"{node.api}/chain", timeout=10).json()
    blocks, transactions = executed_by_the_chain_api(node.api)
    assert one(after, "lien_block_height") == chain["height"] == blocks
    assert one(after, "lien_blocks_committed_total") == blocks
    assert one(after, "lien_final_height") == chain["final_height"] == chain["height"]
    assert one(after, "lien_final_lag_blocks") == 0
    assert one(after, "lien_final_lag_seconds") == 0
    assert one(after, "lien_last_block_time_seconds") == chain["time_ms"] / 1000
    assert one(after, "lien_transactions_executed_total") == transactions
    assert (one(after, "lien_transactions_executed_total")
            - one(before, "lien_transactions_executed_total")) == payments
    assert one(after, "lien_block_height") > one(before, "lien_block_height")
    assert one(after, "lien_accounts") == one(before, "lien_accounts")
    for name in ("lien_admission_queue_transactions", "lien_transactions_pending"):
        assert one(after, name) == 0, name  # every payment was answered executed


def test_refused_transactions_are_counted_by_code(
        node: ServedNode, founders: Founders, pair: tuple[Member, Member]) -> None:
    alice, bob = pair
    maker = founders.maker
    before = refusals(scrape(node.url))
    assert set(before) == set(REFUSAL_CODES)  # every code is there from the start, at 0

    flipped = maker.pay(alice, bob, 1).to_json()
    sig = flipped["signatures"][0]["sig"]
    flipped["signatures"][0]["sig"] = ("1" if sig[0] == "0" else "0") + sig[1:]
    expired = TxMaker(node.chain_id, lambda: wall_clock_ms() - 3_600_000).pay(alice, bob, 1)
    foreign = TxMaker("another-chain", wall_clock_ms).pay(alice, bob, 1)
    stranger = member("never opened")
    unknown = maker.pay(stranger, bob, 1)
    bodies: list[tuple[bytes, int, str]] = [
        (json.dumps(flipped).encode(), 400, "bad_signature"),
        (envelope(expired), 400, "expired"),
        (envelope(foreign), 400, "wrong_chain"),
        (envelope(unknown), 400, "unknown_signer"),
        (b"{not json", 400, "malformed"),
        (b"x" * (limits.transaction_bytes_max + 1), 413, "too_large"),
    ]
    for body, status, code in bodies:
        answer = httpx.post(f"{node.api}/transactions", content=body, timeout=10)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    batch = httpx.post(f"{node.api}/transactions/batch", timeout=10, json={"transactions": [
        flipped, maker.pay(alice, bob, 2).to_json(), expired.to_json()]}).json()
    assert [item.get("error", {}).get("code") for item in batch["items"]] == [
        "bad_signature", None, "expired"]
    # Not a submission: a typo in an account id is bad_field, but no transaction was refused.
    typo = alice.account[:-2] + ("00" if alice.account[-2:] != "00" else "01")
    bad_id = httpx.get(f"{node.api}/accounts/{typo}", timeout=10)
    assert bad_id.json()["error"]["code"] == "bad_field"

    after = refusals(scrape(node.url))
    counted = {code: after[code] - before[code] for code in after if after[code] != before[code]}
    assert counted == {"bad_signature": 2, "expired": 2, "wrong_chain": 1, "unknown_signer": 1,
                       "malformed": 1, "too_large": 1}


def test_the_node_s_state_and_the_http_answers(node: ServedNode) -> None:
    before = scrape(node.url)
    for _ in range(3):
        assert httpx.get(f"{node.api}/chain", timeout=10).status_code == 200
    assert httpx.get(f"{node.url}/no/such/page", timeout=10).status_code == 404
    after = scrape(node.url)
    for name, value in [("lien_node_up", 1), ("lien_node_ready", 1), ("lien_node_halted", 0),
                        ("lien_node_disk_full", 0), ("lien_event_streams", 0)]:
        assert one(after, name) == value, name

    def delta(**labels: str) -> float:
        key = ("lien_http_requests_total", tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta(method="GET", route="/api/v1/chain", status="2xx") == 3
    assert delta(method="GET", route="unmatched", status="4xx") == 1
    assert delta(method="GET", route="/metrics", status="2xx") == 1  # the first scrape
    # What the process itself costs, for the operator: its memory and open files.
    assert one(after, "process_resident_memory_bytes") > 0
    assert one(after, "process_open_fds") > 0


def test_head_and_odd_requests_are_answered_never_500(node: ServedNode) -> None:
    got = httpx.get(f"{node.url}/metrics", timeout=10)
    head = httpx.head(f"{node.url}/metrics", timeout=10)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-type"] == got.headers["content-type"]
    odd: list[tuple[str, str, dict[str, str | bytes]]] = [
        ("GET", "/metrics?name[]=lien_block_height&x=%ff%00", {}),
        ("GET", "/metrics", {"Accept": "application/openmetrics-text; version=x.y; q=0"}),
        ("GET", "/metrics", {"Accept": b"\xe9" * 200, "Accept-Encoding": "gzip, br"}),
        ("POST", "/metrics", {}),
        ("DELETE", "/metrics", {}),
        ("GET", "/metrics/", {}),
        ("GET", "/metrics/../metrics", {}),
    ]
    for method, path, headers in odd:
        answer = httpx.request(method, f"{node.url}{path}", headers=headers, timeout=10)
        assert answer.status_code < 500, (method, path, headers, answer.text)
    assert httpx.post(f"{node.url}/metrics", timeout=10).status_code == 405


# -- node.toml's [metrics] -----------------------------------------------------------------------
def with_metrics_table(path: Path, table: str) -> Server:
    served = ServedNode(path)
    with (path / "node.toml").open("a") as f:
        f.write(f"\n[metrics]\n{table}\n")
    return served


def test_lien_serve_serves_metrics_only_to_the_allowed_addresses(tmp_path: Path) -> None:
    with with_metrics_table(tmp_path / "node", 'allow = ["192.0.2.0/24"]') as served:
        refused = httpx.get(f"{served.url}/metrics", timeout=10)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
        assert httpx.head(f"{served.url}/metrics", timeout=10).status_code == 403
        assert httpx.get(f"{served.api}/chain", timeout=10).status_code == 200


@pytest.mark.parametrize(("table", "message"), [
    ("allow = \"127.0.0.1\"", "allow must be a list of IP addresses or networks"),
    ("allow = [\"localhost\"]", "allow: 'localhost' is not an IP address or network"),
    ("enabled = \"yes\"", "enabled must be true or false"),
    ("port = 9100", "has no setting port"),
])
def test_lien_serve_refuses_bad_metrics_settings_with_exit_2(tmp_path: Path, table: str,
                                                             message: str) -> None:
    served = with_metrics_table(tmp_path / "node", table)
    done = subprocess.run([LIEN, "serve", "--dir", str(served.path), "--port", str(served.port)],
                          capture_output=True, text=True, env=CLI_ENV, timeout=60,
                          stdin=subprocess.DEVNULL)
    text = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2, text
    assert f"{served.path / 'node.toml'}: [metrics] {message}" in text


def test_the_documented_metrics_table_is_the_default_one() -> None:
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    block = text.split("```toml\n[metrics]\n", 1)[1].split("```", 1)[0]
    table = tomllib.loads("[metrics]\n" + block)["metrics"]
    assert MetricsSettings.from_table(table) == MetricsSettings()
    assert set(table) == {"enabled", "allow"}


def test_the_documented_metrics_are_the_served_ones(node: ServedNode) -> None:
    """docs/operations.md lists every lien_ metric the node serves, and no other."""
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    monitoring = text[text.index("## Monitoring"):]
    monitoring = monitoring[:monitoring.index("\n## ", 1)]
    families = {family.name for family in text_string_to_metric_families(
        httpx.get(f"{node.url}/metrics", timeout=10).text) if family.name.startswith("lien_")}
    served = {f"{name}_total" if name in COUNTERS else name for name in families}
    documented = set(re.findall(r"`(lien_[a-z_]+)`", monitoring))
    assert served == documented


#: the families the parser names without their _total
COUNTERS = {"lien_blocks_committed", "lien_transactions_executed", "lien_admission_refusals",
            "lien_http_requests"}


def test_allowed_addresses() -> None:
    default = MetricsSettings()
    for host, allowed in [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True),
                          ("::ffff:127.0.0.1", True), ("192.0.2.7", False), ("2001:db8::1", False),
                          ("", False), ("testclient", False)]:
        assert default.allows(host) == allowed, host
    everyone = MetricsSettings(allow=("0.0.0.0/0", "::/0"))
    assert everyone.allows("192.0.2.7") and everyone.allows("2001:db8::1")
    assert not MetricsSettings(allow=()).allows("127.0.0.1")


# -- in process ------------------------------------------------------------------------------------
async def in_process_scrape(env: Env) -> Samples:
    response = await env.client.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


@pytest.mark.anyio
async def test_disabled_metrics_are_no_route(tmp_path: Path) -> None:
    settings = ApiSettings(metrics=MetricsSettings(enabled=False))
    async with api_env(tmp_path, settings, bootstrap=False) as env:
        assert (await env.client.get("/metrics")).status_code == 404
        assert (await env.client.head("/metrics")).status_code == 404


@pytest.mark.anyio
async def test_rate_limited_submissions_are_counted(tmp_path: Path) -> None:
    settings = ApiSettings(limits=Limits(address_burst=1, address_per_s=0.01))
    async with api_env(tmp_path, settings, bootstrap=False) as env:
        assert (await env.client.post(f"{API}/transactions", content=b"{")).status_code == 400
        limited = await env.client.post(f"{API}/transactions/batch", content=b"{")
        assert (limited.status_code, limited.json()["error"]["code"]) == (429, "rate_limited")
        counted = refusals(await in_process_scrape(env))
        assert {code: n for code, n in counted.items() if n} == {"malformed": 1,
                                                                 "rate_limited": 1}


@pytest.mark.anyio
async def test_a_halted_node_s_refusals_and_state(tmp_path: Path) -> None:
    async with api_env(tmp_path, bootstrap=False, healthy=False) as env:
        env.node.halt(RuntimeError("a broken invariant, for the test"))
        tx = env.mk.pay(env.genesis.association, member("never opened"), 1)
        halted = await env.client.post(f"{API}/transactions", content=envelope(tx))
        assert (halted.status_code, halted.json()["error"]["code"]) == (503, "node_halted")
        samples = await in_process_scrape(env)
        assert {code: n for code, n in refusals(samples).items() if n} == {"node_halted": 1}
        assert (one(samples, "lien_node_up"), one(samples, "lien_node_halted")) == (0, 1)


@asynccontextmanager
async def app_client(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(node)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://lien.test") as client:
            yield client
    finally:
        app.state.lien.close()


@pytest.fixture
def not_final(tmp_path: Path) -> Iterator[tuple[Node, Store, Path]]:
    """A node whose last block is not final: the chain's validator committed the bootstrap
    blocks (final), then a node without its key committed one more block (not signed)."""
    genesis = make_genesis(CHAIN, wall_clock_ms())
    database = tmp_path / "node.db"
    store = Store(f"sqlite:///{database}")
    store.create(genesis.config)
    validator = Node(store, validator_key=genesis.validator)
    validator.start()
    validator.run(genesis.bootstrap)
    validator.stop()
    node = Node(store)
    node.start()
    maker = TxMaker(genesis.config.chain_id, node.clock)
    node.run([maker.pay(genesis.association, member("never opened"), 1)])
    try:
        yield node, store, database
    finally:
        if node.running:  # the test may have stopped it
            node.stop()
        store.dispose()


@pytest.mark.anyio
async def test_the_final_lag_of_a_block_not_final_yet(
        not_final: tuple[Node, Store, Path]) -> None:
    node, store, database = not_final
    last = store.last_block()
    assert last is not None
    final = store.block(last.header.height - 1)
    assert final is not None and node.summary.final_height == final.header.height > 0
    async with app_client(node) as client:
        samples = parse((await client.get("/metrics")).text)
        assert one(samples, "lien_final_lag_blocks") == 1
        assert one(samples, "lien_final_lag_seconds") == (
            last.header.time_ms - final.header.time_ms) / 1000

        # The database gone: the scrape still answers, without the lag it could not read.
        node.stop()
        store.dispose()
        shutil.move(database, database.with_suffix(".moved"))
        database.mkdir()
        answer = await client.get("/metrics")
        assert answer.status_code == 200
        samples = parse(answer.text)
        assert not any(name == "lien_final_lag_seconds" for name, _ in samples)
        assert one(samples, "lien_final_lag_blocks") == 1
        assert one(samples, "lien_node_up") == 0
