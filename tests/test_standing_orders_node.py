"""Standing orders on a real node: the node runs an order at its due time with no
transaction waiting (time injected through the node's clock, never slept), the runs reach the
listeners of both accounts, an order survives a restart and runs once, and ``verify``
recomputes every run — refusing a block whose runs are not the orders due."""

from __future__ import annotations

import threading
from pathlib import Path

from ledger_support import member

from lien.ledger.orders import WEEK_MS
from lien.node.genesis import make_genesis
from lien.node.node import Node, TxEvent
from lien.node.verify import Problem, check_runs, verify_store
from lien.store import Store
from lien.wallet import TxMaker

T0 = 1_900_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now_ms = T0

    def __call__(self) -> int:
        return self.now_ms


class Runs:
    """The order_run events the node pushes, by account; ``wait`` blocks on a push."""

    def __init__(self) -> None:
        self.events: list[tuple[str, TxEvent]] = []
        self._cond = threading.Condition()

    def __call__(self, account: str, event: TxEvent) -> None:
        if event.type == "order_run":
            with self._cond:
                self.events.append((account, event))
                self._cond.notify_all()

    def wait(self, count: int) -> list[tuple[str, TxEvent]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.events) >= count, timeout=20)
            return list(self.events)


def test_a_node_runs_an_order_at_its_due_time_and_after_a_restart_once(tmp_path: Path) -> None:
    clock = Clock()
    genesis = make_genesis("lien-orders", T0)
    url = f"sqlite:///{tmp_path / 'node.db'}"
    created = Store(url)
    created.create(genesis.config)
    created.dispose()
    node = Node(Store(url), validator_key=genesis.validator, clock=clock)
    runs = Runs()
    node.add_listener(runs)
    node.start()
    mk = TxMaker(genesis.config.chain_id, clock)
    payer, payee = member("orders payer"), member("orders payee")
    admin = genesis.admins[0]
    try:
        assert all(s.result == {"code": "ok"} for s in node.run(genesis.bootstrap))
        node.run([mk.open(payer), mk.open(payee)])
        node.run([mk.approve(admin, payer), mk.approve(admin, payee)])
        node.run([mk.issue([genesis.comptoir], payer, 1500)])
        due = clock.now_ms + 60_000
        [made] = node.run([mk.standing_order(payer, payee, 1000, due, "weekly", count_max=3)])
        order_id = made.result["order"] if made.result else ""
        height = node.summary.height
        clock.now_ms = due  # nothing is submitted: the node ticks by itself for the order
        events = runs.wait(2)
        assert sorted(a for a, _ in events) == sorted([payer.account, payee.account])
        assert events[0][1].result == {"code": "ok", "credit": 0, "nantie": 1000}
        assert node.summary.height == height + 1
        assert node.summary.next_order_due_ms == due + WEEK_MS
    finally:
        node.stop()
        node.store.dispose()
    store = Store(url)
    [stored] = store.orders_of(payer.account)
    assert (stored.id, stored.runs, stored.last_result, stored.next_due_ms) == (
        order_id, 1, "ok", due + WEEK_MS)
    assert store.orders_of(payee.account) == [stored]
    node = Node(store, validator_key=genesis.validator, clock=clock)  # a restart
    assert node.state.orders[order_id].next_due_ms == due + WEEK_MS
    node.add_listener(runs)
    node.start()
    try:
        clock.now_ms = due + WEEK_MS
        events = runs.wait(4)
        # 500 of nantie and a floor of -20 000 of credit: the second run pays with credit
        assert events[2][1].result == {"code": "ok", "credit": 500, "nantie": 500}
        assert len({e.id for _, e in events}) == 2  # each run once, in two histories
        history = node.store.history(payer.account)
        assert [s.tx.type for s in history[:2]] == ["order_run", "order_run"]
    finally:
        node.stop()
    report = verify_store(node.store)
    assert report.ok, report.problem
    node.store.dispose()


def test_verify_refuses_a_block_whose_runs_are_not_the_orders_due() -> None:
    from lien.ledger.transactions import system_tx

    run = system_tx({"chain": "c", "type": "order_run", "expires": 1, "nonce": "1",
                     "order": "00" * 32, "run": 1, "from": "A", "to": "B", "currency": "LIEN",
                     "amount": 1})
    check_runs(3, [run], [run])
    for stored, due in (([], [run]), ([run], [])):
        try:
            check_runs(3, stored, due)
        except Problem as problem:
            assert "order runs are not the standing orders due" in str(problem)
        else:
            raise AssertionError("a block with other runs than the due ones passed")
