"""A real ``lien serve`` per test module (``node``: a node made by ``lien init``, served on a port
of its own) and the keys of its founders (``founders``: admins, comptoir), for the modules that
drive it from a browser or the CLI. Registered for every module by tests/conftest.py; a module
that needs another kind of node defines its own ``node`` fixture, which takes precedence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_support import Founders, ServedNode


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory,
         request: pytest.FixtureRequest) -> Iterator[ServedNode]:
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with ServedNode(tmp_path_factory.mktemp(name) / "node") as served:
        yield served


@pytest.fixture(scope="module")
def founders(node: ServedNode) -> Founders:
    return Founders(node)
