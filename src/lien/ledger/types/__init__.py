"""The transaction types of protocol version 1, one module each, and their registry.

``TX_TYPES`` maps each type's name to its unit (``base.TxType``): parsing (``check_body``),
execution (``apply_block``), history (``TxType.accounts``) and labels for people all read it.
Adding a type means adding its module here (found by ``_units``), its section in
docs/protocol.md and its tests.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import LANGUAGES, Registry, TxType
from .transfer import default_split


def _units() -> list[TxType]:
    """One instance of each ``TxType`` subclass defined in this package's modules: a new type
    is a new module here, and nothing else in the code changes."""
    units = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        units += [
            unit() for unit in vars(module).values()
            if isinstance(unit, type) and issubclass(unit, TxType) and unit is not TxType
            and unit.__module__ == module.__name__
        ]
    return units


#: The protocol's transaction types (fixed for protocol version 1).
TX_TYPES = Registry(_units())

__all__ = ["LANGUAGES", "TX_TYPES", "Registry", "TxType", "default_split"]
