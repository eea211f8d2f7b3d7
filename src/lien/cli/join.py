"""``lien join`` and ``lien catch-up``: a node of a federation that fetches the certified blocks
it lacks from its peers over HTTP (``lien.federation.catchup``, ``lien.federation.join``).

Exit codes as every command's (``common``): 0 done; 2 bad usage (a bad peer URL, a directory
that exists, a node whose own log holds unexecuted transactions); 3 verification failed or an
alarm (a certified block conflicts with this node's own, or does not re-execute here); 4 no
peer served anything that verifies.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NoReturn

import typer
from rich.markup import escape

from .common import EXIT_UNREACHABLE, EXIT_USAGE, EXIT_VERIFY, console, err, fail

DirOption = typer.Option(Path("var/node"), "--dir", help="The node directory.")
PeerOption = typer.Option(
    None, "--peer", help="Base URL of a node of the chain (http://host:port); repeat for "
    "several, tried in order.")


def _quiet() -> None:
    """The command prints the report itself: the warnings that ``lien.federation`` logs for
    a running node (a peer skipped) would say it twice."""
    logging.getLogger("lien.federation").addHandler(logging.NullHandler())


def _peers(urls: list[str]) -> list[str]:
    from ..node.setup import SetupError, check_peer_url, peers_max

    if len(urls) > peers_max:
        fail(EXIT_USAGE, f"more than peers_max ({peers_max}) peers")
    try:
        for url in urls:
            check_peer_url(url)
    except SetupError as exc:
        fail(EXIT_USAGE, str(exc))
    return urls


def join(
    dir: Path = DirOption,
    peer: list[str] = PeerOption,
    from_export: Path | None = typer.Option(
        None, "--from-export", help="Start from this `lien export` file instead of fetching "
        "the blocks (the same checks; --peer URLs are then only written to node.toml)."),
    chain_id: str | None = typer.Option(
        None, "--chain-id", help="Join only this chain: the id the federation publishes "
        "(everything else is checked against its genesis document)."),
    database: str = typer.Option("sqlite:///node.db", help="SQLAlchemy URL of the database."),
) -> None:
    """Create a node directory for a chain that other nodes run: fetch its genesis and its
    certified blocks from the peers, verify and re-execute every block, then verify the whole
    chain from genesis as `lien verify` does. The node signs no block (no validator key);
    node.toml lists the peers ([federation] peers) for `lien catch-up`. Nothing is left
    behind if any step fails. Then: lien serve --dir DIR.

    Example: lien join --dir var/node-b --peer http://127.0.0.1:8000
    """
    from ..federation.catchup import CatchUpAlarm
    from ..federation.join import JoinError, JoinVerifyFailed
    from ..federation.join import join as join_chain
    from ..node.setup import SetupError
    from ..store import StoreFull

    _quiet()
    peers = _peers(peer or [])
    if not peers and from_export is None:
        fail(EXIT_USAGE, "give at least one --peer URL (or --from-export FILE)")
    if from_export is not None and not from_export.is_file():
        fail(EXIT_USAGE, f"no file {from_export}")
    # A failed join leaves no directory; a database outside it keeps what was written.
    left = ("" if database.startswith("sqlite") else
            " (the --database given keeps what was written: drop and recreate it before "
            "trying again)")
    try:
        with console.status("Joining…") as status:
            report = join_chain(dir, peers=peers, export=from_export, database=database,
                                chain_id=chain_id, progress=lambda m: status.update(m))
    except SetupError as exc:  # before anything was written
        fail(EXIT_USAGE, str(exc))
    except StoreFull as exc:
        fail(EXIT_USAGE, f"{exc}{left}")
    except JoinVerifyFailed as exc:
        fail(EXIT_VERIFY, f"{exc}{left}")
    except JoinError as exc:
        fail(EXIT_UNREACHABLE, f"{exc}{left}")
    except CatchUpAlarm as exc:
        _alarm(exc, left)
    for line in report.catch_up.lines():
        console.print(escape(line))
    console.print(f"[green]Joined chain {report.chain_id} in {dir}[/green]: "
                  f"{report.verify.blocks} blocks, {report.verify.transactions} transactions "
                  f"verified from genesis; state matches. Serve it: lien serve --dir {dir}")


def catch_up(
    dir: Path = DirOption,
    peer: list[str] = PeerOption,
) -> None:
    """Fetch the certified blocks this node lacks from its peers (node.toml's [federation]
    peers, or --peer), verify and re-execute each, and commit them after the node's last
    block; run it while the node is stopped. Its own blocks are never rewritten: a certified
    block that conflicts with one of them, or that does not re-execute here, stops it with
    exit 3 and both headers. A peer that serves something that does not verify is skipped and
    named; the next is asked.

    Example: lien catch-up --dir var/node-b
    """
    from ..federation.catchup import CatchUpAlarm, UnconsumedLog
    from ..federation.catchup import catch_up as catch_up_store
    from ..node.setup import NodeDir, SetupError, open_store
    from ..node.signing import SigningRecord, SigningRefused
    from ..store import StoreError, StoreFull

    _quiet()
    try:
        node_dir = NodeDir(dir)
        peers = _peers(peer) if peer else node_dir.peers()
        record = SigningRecord(node_dir.signing_record, str(node_dir.settings()["chain_id"]))
        record.hold()  # no `lien serve` of a validator, no other catch-up, on this directory
    except (SetupError, SigningRefused) as exc:
        fail(EXIT_USAGE, str(exc))
    try:
        if not peers:
            fail(EXIT_USAGE, f"no peers: {node_dir.settings_file} has no [federation] peers; "
                             "pass --peer URL")
        try:
            store = open_store(dir)
            store.claim()
        except (SetupError, StoreError) as exc:
            fail(EXIT_USAGE, str(exc))
        try:
            with console.status("Catching up…") as status:
                report = catch_up_store(
                    store, peers, progress=lambda h: status.update(f"block {h}"))
        except UnconsumedLog as exc:
            fail(EXIT_USAGE, str(exc))
        except StoreFull as exc:
            fail(EXIT_USAGE, f"{exc}: free some space and run it again (the blocks committed "
                             "stay)")
        except CatchUpAlarm as exc:
            _alarm(exc)
        finally:
            store.dispose()
    finally:
        record.release()
    for line in report.lines():
        console.print(escape(line))
    if not report.answered:
        fail(EXIT_UNREACHABLE, "no peer served blocks that verify")


def _alarm(exc: BaseException, more: str = "") -> NoReturn:
    report = getattr(exc, "report", None)
    if report is not None:
        for line in report.lines():
            err.print(escape(line))
    fail(EXIT_VERIFY, f"ALARM: {exc}{more}")


def register(app: typer.Typer) -> None:
    app.command("join")(join)
    app.command("catch-up")(catch_up)


__all__ = ["register"]
