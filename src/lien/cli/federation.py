"""``lien federation``: the demo federation (3 NATS servers + 3 nodes on loopback)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from .common import EXIT_USAGE, console, fail

federation_app = typer.Typer(help="Several associations' nodes on one ledger.",
                             no_args_is_help=True)


@federation_app.command("demo")
def demo(
    dir: Path = typer.Option(..., "--dir", help="Directory of the demo federation (created "
                             "on first use, started again from it afterwards)."),
    payments: int = typer.Option(120, min=0, max=5_000,
                                 help="Demo payments made when the federation is created."),
    start: bool = typer.Option(True, "--start/--create-only",
                               help="Run the federation (until Ctrl-C) or only create it."),
) -> None:
    """Start 3 NATS servers (one JetStream cluster) and 3 nodes on loopback, each node a
    validator of a different association, sharing the demo chain; print their addresses.
    Ctrl-C stops everything cleanly.

    Example: lien federation demo --dir var/federation
    """
    from ..federation.demo import DemoFederation

    if (dir / "federation.json").exists():
        fed = DemoFederation.open(dir)
    elif dir.exists() and any(dir.iterdir()):
        fail(EXIT_USAGE, f"{dir} exists and holds no demo federation: choose another --dir")
    else:
        fed = DemoFederation.create(
            dir, payments=payments, progress=lambda m: console.print(f"… {m}"))
        fed.cluster.stop()
    if not start:
        console.print(f"Fédération de démonstration créée dans {dir}")
        return
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        fed.start()
        console.print("Fédération de démonstration : 3 serveurs NATS, 3 nœuds validateurs")
        for server in fed.cluster.servers:
            console.print(f"  NATS {server.spec.name} : {server.spec.url}")
        for node in fed.nodes:
            console.print(f"  nœud {node.name} : {node.url}/ (API {node.url}/api/v1, "
                          f"dossier {node.directory})")
        console.print(f"Connexion au portefeuille (membres du nœud a) : {fed.nodes[0].url}"
                      "/connexion — mots de passe : demo")
        console.print("Ctrl-C arrête la fédération.")
        stopping.wait()
    finally:
        fed.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("Fédération arrêtée.")


@federation_app.command("resume")
def resume(
    dir: Path = typer.Option(..., "--dir", help="The node directory (its node stopped)."),
) -> None:
    """After the federation's stream was lost (every node halted saying the stream was
    recreated or is gone): continue on the new stream from the last certified block, with
    the node stopped. Fetches the certified blocks it lacks from its peers first; refuses,
    exit 3, when its own last block is not certified. Run it on every node, then start them.
    No block is removed or replaced.

    Example: lien federation resume --dir /var/lib/lien
    """
    from ..federation.catchup import CatchUpAlarm
    from ..federation.federation import FederationConfigError
    from ..federation.resume import ResumeRefused
    from ..federation.resume import resume as resume_node
    from ..node.setup import SetupError
    from ..ordering import LogUnavailable
    from ..store import StoreError
    from .common import EXIT_UNREACHABLE, EXIT_VERIFY

    try:
        report = resume_node(dir)
    except (ResumeRefused, CatchUpAlarm) as exc:
        fail(EXIT_VERIFY, str(exc))
    except (SetupError, StoreError, FederationConfigError) as exc:
        fail(EXIT_USAGE, str(exc))
    except LogUnavailable as exc:
        fail(EXIT_UNREACHABLE, str(exc))
    for line in report.lines():
        console.print(line)
