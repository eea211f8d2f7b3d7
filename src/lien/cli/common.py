"""What every ``lien`` command shares: exit codes, the two consoles, ``fail`` and the password.

Kept apart from ``main`` so that command modules (``wallet``) can import it while ``main``
imports them to register their commands — also under ``python -m lien.cli.main``, where
``main`` runs as ``__main__`` and importing it back would load a second copy.

Exit codes (one translation point, ``fail``): 0 done; 1 refused by the ledger (a reason code);
2 bad usage or bad input; 3 verification failed; 4 node unreachable or halted.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_VERIFY = 3
EXIT_UNREACHABLE = 4

console = Console()
err = Console(stderr=True)


def fail(code: int, message: str) -> NoReturn:
    """Print ``message`` (escaped: texts from files and nodes are not Rich markup) and exit."""
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def _password(password: str | None, confirm: bool = False) -> str:
    if password is not None:
        return password
    if env := os.environ.get("LIEN_PASSWORD"):
        return env
    if not sys.stdin.isatty():
        fail(EXIT_USAGE, "no password: pass --password or set LIEN_PASSWORD")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))
