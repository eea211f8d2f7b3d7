"""The transaction types of protocol version 1, one module each, and their registry.

``TX_TYPES`` maps each type's name to its unit (``base.TxType``): parsing (``check_body``),
execution (``apply_block``), history (``TxType.accounts``) and labels for people all read it.
Adding a type means adding its module here, its section in docs/protocol.md and its tests.
"""

from __future__ import annotations

from .base import LANGUAGES, Registry, TxType
from .create_currency import CreateCurrency
from .delegate import Delegate
from .issue import Issue
from .join_currency import JoinCurrency
from .open_account import OpenAccount
from .reconvert import Reconvert
from .recover_key import RecoverKey
from .revoke_delegation import RevokeDelegation
from .rotate_key import RotateKey
from .set_limits import SetLimits
from .set_policy import SetPolicy
from .set_roles import SetRoles
from .set_status import SetStatus
from .transfer import Transfer, default_split
from .veto_recovery import VetoRecovery

#: The protocol's transaction types (fixed for protocol version 1).
TX_TYPES = Registry([
    OpenAccount(),
    JoinCurrency(),
    SetStatus(),
    SetRoles(),
    SetLimits(),
    Issue(),
    Reconvert(),
    Transfer(),
    RotateKey(),
    RecoverKey(),
    VetoRecovery(),
    Delegate(),
    RevokeDelegation(),
    CreateCurrency(),
    SetPolicy(),
])

__all__ = ["LANGUAGES", "TX_TYPES", "Registry", "TxType", "default_split"]
