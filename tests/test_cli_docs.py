"""Every ``lien`` command documents itself with an example that anyone can run.

Walks the Typer app (its commands and, recursively, its groups): a command without help text
or without an ``Example: lien <its own name> ...`` line fails here, and so does a group
without help.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from cli_support import run
from typer import Typer
from typer.models import CommandInfo, TyperInfo

from lien.cli.main import app


def _help(info: CommandInfo | TyperInfo) -> str:
    explicit = info.help if isinstance(info.help, str) else None
    return explicit or inspect.getdoc(info.callback) or ""


def commands(group: Typer, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """(``lien keys new``, its help text) for every command, groups included, depth first."""
    for info in group.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.replace("_", "-")
        yield " ".join(("lien", *path, name)), _help(info)
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name
        yield from commands(sub.typer_instance, (*path, sub.name))


def groups(group: Typer) -> Iterator[tuple[str, str]]:
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name
        yield sub.name, sub.help if isinstance(sub.help, str) else (sub.typer_instance.info.help
                                                                    or "")


ALL = list(commands(app))


def test_the_walk_finds_the_wallet_and_the_node_commands() -> None:
    names = {name for name, _ in ALL}
    assert {"lien init", "lien serve", "lien verify", "lien export", "lien pay", "lien balance",
            "lien history", "lien keys new", "lien account open", "lien receipt get",
            "lien receipt verify"} <= names


@pytest.mark.parametrize("name, text", ALL, ids=[name for name, _ in ALL])
def test_every_command_has_help_with_an_example(name: str, text: str) -> None:
    assert text.strip(), f"{name} has no help text"
    assert "Example:" in text, f"{name}: its help has no 'Example:' line"
    examples = [line.split("Example:", 1)[1].strip() for line in text.splitlines()
                if "Example:" in line]
    assert any(e == name or e.startswith(f"{name} ") for e in examples), (
        f"{name}: the example does not run this command: {examples}")


@pytest.mark.parametrize("name, text", list(groups(app)), ids=[n for n, _ in groups(app)])
def test_every_group_has_help(name: str, text: str) -> None:
    assert text.strip(), f"group {name} has no help text"


@pytest.mark.parametrize("name", [name for name, _ in ALL])
def test_help_shows_the_example(name: str) -> None:
    result = run(*name.split()[1:], "--help")
    assert result.exit_code == 0, result.text
    assert "Example:" in result.stdout
