"""``lien`` — the command line: a thin shell over the node, store and ledger APIs.

Exit codes (one translation point, ``fail``, in ``common``): 0 done; 1 refused by the ledger
(a reason code); 2 bad usage or bad input; 3 verification failed; 4 node unreachable or halted.
"""

from __future__ import annotations

import json
import sys
from typing import Any
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.markup import escape
from rich.table import Table

from . import admin, federation, till, validators, wallet
from . import join as join_cli
from .common import EXIT_REFUSED as EXIT_REFUSED
from .common import EXIT_UNREACHABLE, EXIT_USAGE, EXIT_VERIFY, _password, console, err, fail

app = typer.Typer(
    help="LIEN: the ledger node and wallet of a local complementary currency.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DirOption = typer.Option(Path("var/node"), "--dir", help="The node directory.")


@app.command()
def init(
    dir: Path = DirOption,
    demo: bool = typer.Option(False, "--demo", help="Add demo members, businesses and history."),
    name: str | None = typer.Option(
        None, help="The chain's name, the start of its chain id (1-31 of a-z 0-9 . -; default "
                   "lien-local, or lien-demo with --demo). The rest of the id is derived from "
                   "the new genesis, so every chain's id is its own."),
    database: str = typer.Option("sqlite:///node.db", help="SQLAlchemy URL of the database."),
    password: str | None = typer.Option(None, help="Password of the founding keystores."),
) -> None:
    """Create a node directory with a new chain and its currency LIEN.

    Example: lien init --dir var/demo --demo
    """
    from ..node.setup import SetupError, check_chain_name, init_node

    chain_name = name or ("lien-demo" if demo else "lien-local")
    try:
        check_chain_name(chain_name)  # before asking for a password
        pw = "demo" if demo else _password(password, confirm=True)
        with console.status("Creating the chain…"):
            created = init_node(dir, name=chain_name, password=pw, database=database,
                                demo=demo, progress=lambda m: console.log(m))
    except SetupError as exc:
        fail(EXIT_USAGE, str(exc))
    console.print(f"[green]Chain {created['chain_id']} created in {dir}[/green]")
    table = Table("role", "account")
    for role, account in created["founders"].items():
        table.add_row(role, account)
    console.print(table)
    if demo:
        _print_logins(dir)


def _print_logins(dir: Path) -> None:
    from ..ledger import format_account_id

    demo_file = dir / "demo.json"
    if not demo_file.exists():
        return
    demo = json.loads(demo_file.read_text())
    kinds = {"personal": "particulier", "business": "prestataire"}
    table = Table("nom", "type", "compte", title="Comptes de démo — mot de passe : "
                  f"{demo['password']}")
    # The e-mail is what a member types to log in: never cut, whatever the terminal's width.
    table.add_column("e-mail (portefeuille web)", no_wrap=True, overflow="ignore")
    for m in demo["members"]:
        table.add_row(m["name"], kinds.get(m["kind"], m["kind"]),
                      format_account_id(m["account"]), m.get("email", ""))
    console.print(table)
    console.print(f"Trousseaux (lien pay, lien balance) : {dir / 'keys'}/<compte>.json ; "
                  f"par exemple : lien balance {demo['members'][0]['account']}")


@app.command()
def serve(
    dir: Path = DirOption,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    check_blocks: int = typer.Option(
        64, "--check-blocks", min=1,
        help="Blocks whose headers, transactions and history the start-up check reads (at "
        "most a full block's worth of transactions, 5,000; every block's link is checked)."),
    verify_in_background: bool = typer.Option(
        True, "--verify-in-background/--no-verify-in-background",
        help="Also re-verify the whole chain in a low-priority child process once started; "
        "the node halts if that fails."),
) -> None:
    """Run the node: its HTTP API (/api/v1), the members' web wallet and block production.
    Ctrl-C (SIGINT) or SIGTERM stops it cleanly: exit 0, or 4 if the node had halted.
    Connection limits (timeouts, most connections and event streams, request sizes) are the
    [http] table of DIR/node.toml; e-mail to members its [mail] table (files in DIR/mail/ by
    default); GET /metrics (Prometheus; by default to loopback clients only) its [metrics]
    table; DIR/web.secret is created when missing.

    It first runs a quick check of its database (every block's link, the latest blocks'
    headers, rows and history, the money totals) and refuses to start, with exit 3 naming what
    failed, if it fails; `lien verify` then checks everything.

    Example: lien serve --dir var/demo --port 8000
    """
    import signal

    from ..node.integrity import BackgroundVerification, ChainDamaged, StartupCheck
    from ..node.setup import NodeDir, SetupError, open_node
    from ..node.verify import VerifyReport
    from ..store import StoreError
    from ..members import MailConfigError, Members, node_secret, sender_from_config
    from ..node.node import NodeSettings, wall_clock_ms
    from ..store import Store
    from ..web.api import ApiSettings, FederationInfo, create_app
    from ..web.connections import HttpLimits
    from ..web.metrics import MetricsSettings
    from ..web.ratelimit import Limits
    from ..web.server import make_server

    try:
        limits = Limits.from_table(NodeDir(dir).limits())
        http = HttpLimits.from_table(NodeDir(dir).settings().get("http", {}))
        metrics = MetricsSettings.from_table(NodeDir(dir).settings().get("metrics", {}))
    except SetupError as exc:
        fail(EXIT_USAGE, str(exc))
    except ValueError as exc:
        fail(EXIT_USAGE, f"{NodeDir(dir).settings_file}: {exc}")
    federation = _open_federation(dir)
    try:
        try:
            # The state loads in the node's block loop: the API answers queries at once from
            # the store; submissions wait for the state (their signers are checked against it).
            node = open_node(dir, load_in_background=True,
                             startup_check=StartupCheck(latest_blocks=check_blocks,
                                                        shared_log=federation is not None),
                             ordering=federation.log if federation is not None else None,
                             settings=NodeSettings(
                                 block_gap_ms_min=federation.config.block_gap_ms_min)
                             if federation is not None else None)
            if federation is not None:
                federation.attach(node)
        except BaseException:
            if federation is not None:
                federation.close()
            raise
    except ChainDamaged as exc:
        fail(EXIT_VERIFY, f"refusing to start: {exc}. Run `lien verify --dir {dir}` to verify "
                          "the whole chain (docs/operations.md)")
    except (SetupError, StoreError) as exc:
        fail(EXIT_USAGE, str(exc))
    members = None
    if isinstance(node.store, Store):
        try:
            sender = sender_from_config(NodeDir(dir).settings().get("mail", {}), dir / "mail",
                                        wall_clock_ms)
            members = Members(node.store.personal, node_secret(dir), sender)
        except (MailConfigError, ValueError, OSError) as exc:
            node.store.dispose()
            fail(EXIT_USAGE, f"{NodeDir(dir).settings_file}: {exc}")
    app = create_app(node, ApiSettings(limits=limits, sse_streams_max=http.streams_max,
                                       metrics=metrics),
                     members, FederationInfo.of(federation) if federation is not None else None)
    server = make_server(app, host, port, limits=http, loop="uvloop")

    def verified(report: VerifyReport) -> None:
        if report.ok:
            console.print(f"Vérification complète en arrière-plan : ok ({report.blocks} blocs, "
                          f"{report.transactions} transactions)")
        else:
            err.print(f"[red]error:[/red] la vérification complète a échoué, nœud arrêté : "
                      f"{escape(report.problem)} — lancez `lien verify --dir {dir}`")

    background = (BackgroundVerification(NodeDir(dir).database_url, node.halt, verified)
                  if verify_in_background else None)

    # uvicorn shuts down gracefully on these signals, then re-raises them to the handlers it
    # found: Python's would turn that into exit 130 (SIGINT) or kill the process before the
    # node stops (SIGTERM). This handler only asks the server to stop, also before uvicorn
    # takes the signals over, so the node always stops here and the exit code says how it went.
    def stop_serving(signum: int, frame: object) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop_serving) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        node.start()
        if background is not None:
            background.start()
        _print_logins(dir)
        console.print(f"Nœud de la chaîne [bold]{node.chain_id}[/bold] "
                      f"(hauteur {node.summary.height}) : "
                      f"http://{host}:{port}/ — API http://{host}:{port}/api/v1/docs")
        console.print(f"Portefeuille web : http://{host}:{port}/connexion "
                      f"(ouvrir un compte : http://{host}:{port}/ouvrir-un-compte)")
        server.run()
    finally:
        if background is not None:
            background.stop()
        node.stop()
        if federation is not None:
            federation.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if node.failure is not None:
        fail(EXIT_UNREACHABLE, f"node halted: {node.failure}")
    console.print(f"Nœud arrêté proprement (hauteur {node.summary.height})")


def _open_federation(dir: Path) -> Any:
    """The node's federation when node.toml's [ordering] says jetstream (its NATS server
    started first when [nats] asks), else None; a clear exit on a bad configuration or an
    unreachable cluster."""
    from ..federation.federation import Federation, FederationConfigError, federation_config
    from ..federation.natsd import NatsError
    from ..node.setup import NodeDir, SetupError
    from ..ordering import LogUnavailable

    node_dir = NodeDir(dir)
    try:
        settings = node_dir.settings()
        config = federation_config(dir, settings, default_consumer=dir.resolve().name)
        if config is None:
            return None
        return Federation.open(config, dir, str(settings["chain_id"]),
                               settings.get("nats", {}).get("binary"))
    except SetupError as exc:
        fail(EXIT_USAGE, str(exc))
    except (FederationConfigError, OSError) as exc:
        fail(EXIT_USAGE, f"{node_dir.settings_file}: {exc}")
    except (NatsError, LogUnavailable) as exc:
        fail(EXIT_UNREACHABLE, f"the federation's NATS cluster: {exc}")


@app.command()
def verify(
    dir: Path = DirOption,
    quick: bool = typer.Option(
        False, "--quick", help="Only the start-up check of `lien serve`: every block's link, "
        "the latest blocks' transactions and history, the money totals (docs/operations.md)."),
    rebuild_signing_record: bool = typer.Option(
        False, "--rebuild-signing-record", help="If DIR/signing.json is missing, write it at "
        "the last block once the whole chain verifies: only for a node made before lien kept "
        "one, or when you are sure the database is complete (docs/operations.md)."),
) -> None:
    """Re-execute the chain from genesis: every signature, hash, result and state commitment,
    and compare the stored state. Exits 3 naming the first bad block or altered record.

    Example: lien verify --dir var/demo
    """
    from ..node.setup import SetupError, check_node, check_signing_record, open_store
    from ..node.verify import verify_store
    from ..store import StoreError

    try:
        store = open_store(dir)
        last = store.last_block()
    except (SetupError, StoreError) as exc:
        fail(EXIT_USAGE, str(exc))
    if quick:
        checked = check_node(dir, store)
        if not checked.ok:
            fail(EXIT_VERIFY, f"start-up check failed ({checked.check}): {checked.problem}")
        try:  # what `lien serve` checks too, before it starts
            check_signing_record(dir, last.header.height if last else 0,
                                 last.header.hash if last else "")
        except SetupError as exc:
            fail(EXIT_VERIFY, f"start-up check failed (signing record): {exc}")
        console.print(f"[green]ok[/green]: {checked.blocks} blocks linked; latest blocks "
                      f"read: {checked.latest_blocks} ({checked.latest_transactions} "
                      f"transactions), with their history; money totals; in "
                      f"{checked.elapsed_s:.2f} s (nothing re-executed: `lien verify` without "
                      "--quick does)")
        return
    total = last.first_seq + last.header.tx_count if last else 0
    with Progress(TextColumn("verifying"), BarColumn(), TextColumn("{task.completed}/{task.total} tx"),
                  TimeRemainingColumn(), console=err, transient=True) as progress:
        task = progress.add_task("verify", total=total)
        report = verify_store(store, lambda n: progress.advance(task, n))
    if not report.ok:
        fail(EXIT_VERIFY, f"verification failed: {report.problem}")
    last = store.last_block()
    try:
        rebuilt = check_signing_record(dir, last.header.height if last else 0,
                                       last.header.hash if last else "", rebuild_signing_record)
    except SetupError as exc:
        fail(EXIT_VERIFY, f"verification failed: {exc}")
    if rebuilt:
        console.print(f"signing record rebuilt at block {last.header.height if last else 0}")
    console.print(f"[green]ok[/green]: {report.blocks} blocks, {report.transactions} "
                  "transactions verified from genesis; state matches")


@app.command()
def export(
    dir: Path = DirOption,
    out: Path | None = typer.Option(None, help="File to write (default: standard output)."),
) -> None:
    """Export the whole chain as JSON lines: genesis, then one line per block with its
    certificate, log position, transactions and results (what an auditor re-verifies, and
    what `lien join --from-export` starts a node from).

    Example: lien export --dir var/demo --out chain.jsonl
    """
    from ..ledger import parse_json
    from ..node.setup import SetupError, open_store
    from ..store import StoreError

    try:
        store = open_store(dir)
        config = store.config()
    except (SetupError, StoreError) as exc:
        fail(EXIT_USAGE, str(exc))
    stream = out.open("w") if out else sys.stdout
    try:
        stream.write(json.dumps({"genesis": config.to_json()}) + "\n")
        for block, txs in store.iter_blocks():
            line = {
                "header": block.header.to_json(),
                "hash": block.header.hash,
                "signatures": [{"key": k, "sig": s.hex()} for k, s in block.signatures.items()],
                "log_position": block.log_position,
                "transactions": [
                    {"seq": raw.seq, "id": raw.id, "body": parse_json(raw.body),
                     "signatures": [{"key": raw.signatures[i:i + 32].hex(),
                                     "sig": raw.signatures[i + 32:i + 96].hex()}
                                    for i in range(0, len(raw.signatures), 96)],
                     "result": json.loads(raw.result)}
                    for raw in txs
                ],
            }
            stream.write(json.dumps(line, ensure_ascii=False) + "\n")
    finally:
        if out:
            stream.close()


# The wallet commands (keys, account, pay, balance, history, receipt): lien.cli.wallet.
wallet.register(app)
app.add_typer(till.till_app, name="till")
app.add_typer(federation.federation_app, name="federation")
# The admin verbs until the back office exists (approve, issue, limits, pending): lien.cli.admin.
admin.register(app)
# Joining a federation and catching up from peers (join, catch-up): lien.cli.join.
join_cli.register(app)
# The validator set: show it, change it (a key rotation): lien.cli.validators.
validators.register(app)


@app.command()
def bench(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
    out: Path | None = typer.Option(None, help="Also write the JSON figures to this file."),
    batch_payments: int = typer.Option(40_000, min=1000, help="Payments in the batch run."),
    http_payments: int = typer.Option(12_000, min=1000, help="Payments in the HTTP run."),
    scale: bool = typer.Option(
        False, "--scale", help="Also measure a node with 100,000 accounts and 1,000,000 "
        "transactions of history: restart time, memory, throughput (a few minutes more)."),
    federation: bool = typer.Option(
        False, "--federation", help="Measure a federation instead: 3 NATS servers and 3 "
        "`lien serve` validators on loopback — payments/s, submit → final p50/p99, and the "
        "pause of finality when the stream's leading NATS server is killed (about 2 min)."),
    federation_seconds: float = typer.Option(
        30.0, min=1.0, max=3600.0, help="--federation: the steady window, in seconds."),
    federation_clients: int = typer.Option(
        96, min=1, max=256, help="--federation: clients on each node, each waiting until "
        "its payment is final before sending the next."),
    federation_accounts: int = typer.Option(
        600, min=2, max=100_000, help="--federation: funded members paying each other."),
    federation_failover: bool = typer.Option(
        True, "--federation-failover/--no-federation-failover",
        help="--federation: also kill the stream's leading NATS server under load."),
) -> None:
    """Measure throughput and latency against this machine's Ed25519 baseline (about a minute).

    Example: lien bench --json --out var/bench.json
    """
    if federation:
        _bench_federation(as_json, out, federation_seconds, federation_clients,
                          federation_accounts, federation_failover)
        return
    from .. import bench as harness

    size = (harness.SCALE_ACCOUNTS, harness.SCALE_TRANSACTIONS) if scale else None
    figures = harness.run(batch_payments, http_payments, log=lambda m: err.log(m), scale=size)
    table = Table("figure", "value", "ratio to ed25519 baseline", "target",
                  title="LIEN bench")
    baseline = figures["ed25519_verify_per_s"]
    table.add_row("ed25519_verify_per_s (baseline)", f"{baseline:,.0f}", "1.00", "")
    for name, ratio in harness.TARGETS.items():
        table.add_row(name, f"{figures[name]:,.0f}", f"{figures[name] / baseline:.2f}",
                      f"≥ {ratio}")
    table.add_row("http_latency_p99_ms", f"{figures['http_latency_p99_ms']:.0f}", "",
                  f"≤ {harness.HTTP_LATENCY_P99_MS_MAX}")
    table.add_row("disk_bytes_per_tx", f"{figures['disk_bytes_per_tx']:.0f}", "",
                  f"≤ {harness.DISK_BYTES_PER_TX_MAX}")
    if scale:
        for name in ("scale_batch_payments_per_s", "scale_verify_tx_per_s"):
            table.add_row(name, f"{figures[name]:,.0f}", f"{figures[name] / baseline:.2f}", "")
        table.add_row("scale_restart_s", f"{figures['scale_restart_s']:.2f}", "",
                      f"≤ {harness.SCALE_RESTART_S_MAX}")
        table.add_row("scale_rss_mib", f"{figures['scale_rss_mib']:.0f}", "", "")
        table.add_row("scale_ready_s (state loaded)", f"{figures['scale_ready_s']:.2f}", "", "")
        table.add_row("scale_ready_rss_mib", f"{figures['scale_ready_rss_mib']:.0f}", "", "")
    _emit(table, figures, out, as_json)


def _emit(table: Table, figures: dict[str, Any], out: Path | None, as_json: bool) -> None:
    """Print the bench's table; its figures as one JSON line to ``out`` and, with ``--json``,
    as the last line of the output."""
    console.print(table)
    line = json.dumps(figures, sort_keys=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(line + "\n")
    if as_json:
        print(line)


def _bench_federation(as_json: bool, out: Path | None, seconds: float, clients: int,
                      accounts: int, failover: bool) -> None:
    from .. import bench_federation as harness

    shape = harness.LoadShape(seconds=seconds, clients_per_node=clients, accounts=accounts,
                              failover=failover)
    try:
        figures = harness.run(shape, log=lambda m: err.log(m))
    except harness.NodesDiverged as exc:
        fail(EXIT_VERIFY, f"the federation's nodes diverged: {exc}")
    except harness.FederationBenchFailed as exc:
        fail(EXIT_UNREACHABLE, f"the federation bench failed: {exc}")
    baseline = figures["ed25519_verify_per_s"]
    rate = figures["federation_payments_per_s"]
    table = Table("figure", "value", "ratio to ed25519 baseline", "target",
                  title="LIEN bench --federation (3 NATS servers, 3 validators)")
    table.add_row("ed25519_verify_per_s (baseline)", f"{baseline:,}", "1.00", "")
    table.add_row("federation_payments_per_s", f"{rate:,}", f"{rate / baseline:.3f}",
                  f"≥ {harness.FEDERATION_TARGET_RATIO}")
    table.add_row("federation_final_p50_ms", f"{figures['federation_final_p50_ms']}", "", "")
    table.add_row("federation_final_p99_ms", f"{figures['federation_final_p99_ms']}", "",
                  f"≤ {harness.FEDERATION_FINAL_P99_MS_MAX}")
    if failover:
        table.add_row("federation_failover_pause_ms",
                      f"{figures['federation_failover_pause_ms']}", "", "")
    if "federation_cpu_machine_pct" in figures:
        table.add_row("CPU % of one core: nodes / NATS / load / machine",
                      " / ".join(str(figures[f"federation_cpu_{g}_pct"])
                                 for g in ("nodes", "nats", "load", "machine")), "", "")
    _emit(table, figures, out, as_json)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
