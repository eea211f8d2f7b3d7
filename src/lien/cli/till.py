"""``lien till qr``: the printed QR code of a counter or a market stall (the payer types the
amount), drawn from the same payment link as the wallet's till (docs/protocol.md §16)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..ledger import TxError, parse_account_id
from ..wallet.payload import PayloadError, PaymentRequest, payment_url
from ..web.pages.qr import save_link_qr
from .common import EXIT_USAGE, console, fail

till_app = typer.Typer(help="Tills: the printed QR code of a counter.", no_args_is_help=True)


@till_app.command("qr")
def till_qr(
    account: str = typer.Argument(..., help="The business's account id (as typed: 9QB6-GY5H-3796)."),
    base: str = typer.Option(..., "--base", help="The node's origin, e.g. https://lien.example.org."),
    out: Path = typer.Option(..., "--out", help="The file to write: .svg or .png."),
    name: str | None = typer.Option(None, "--name", help="The name shown (unverified) to payers."),
    reference: str | None = typer.Option(None, "--ref", help="A reference, e.g. a stall number."),
    currency: str = typer.Option("LIEN", "--currency", help="The currency code."),
) -> None:
    """Write the static payment QR code of a counter: payers scan it and type the amount.

    Example: lien till qr 9QB6-GY5H-3796 --base https://lien.example.org --name "Café" --out counter.svg
    """
    if out.suffix not in (".svg", ".png"):
        fail(EXIT_USAGE, f"{out}: the file must end in .svg or .png")
    try:
        request = PaymentRequest(base=base, to=parse_account_id(account), currency=currency,
                                 reference=reference, name=name)
        link = payment_url(request)
        code = save_link_qr(link, str(out))
    except TxError as exc:
        fail(EXIT_USAGE, exc.detail)
    except PayloadError as exc:
        fail(EXIT_USAGE, f"{exc.code}: {exc.detail}")
    except OSError as exc:
        fail(EXIT_USAGE, f"cannot write {out}: {exc.strerror}")
    console.print(f"lien      {escape(link)}")
    console.print(f"QR code   version {code.version} ({code.symbol_size(border=0)[0]} modules), "
                  f"level {code.error} → {escape(str(out))}")
