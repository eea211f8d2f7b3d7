"""The shape of a transaction type, and the registry that maps a type's name to it.

A type is one class (in the manner of Hyperledger Indy Plenum's request handlers), holding
everything the ledger knows about it:

* ``name`` — the body's ``type``;
* ``labels`` — what people read: ``{"fr": "paiement", "en": "payment"}`` (the CLI, the web);
* ``required`` / ``optional`` — its fields and their checks (``lien.ledger.fields``), after the
  common ones; the parser checks required fields in this order;
* ``system`` — True for a type the ledger makes itself (``order_run``), never submitted;
* ``signers`` — whose signature admission requires, against the state (``lien.ledger.signers``):
  ``"member"``, ``"account"``, ``"opening"``, ``"governors"`` or ``"validators"``;
* ``check(body)`` — *static* validation across fields, on the body alone (raise ``TxError``);
* ``execute(state, tx)`` — *dynamic* validation against the state (raise ``Refused``), then the
  state update, returning the ``Result``;
* ``accounts(state, tx)`` — whose history the transaction goes into: every field checked by
  ``fields.account``, plus what ``more_accounts`` adds. It runs on the state as it is just before
  the transaction executes, before any check: whether it is then refused or not, the accounts
  it names see it, and ``more_accounts`` must not assume that what it reads exists.

``Registry`` maps names to types. The protocol's registry (``TX_TYPES``) is fixed; ``extended``
builds another one, which parsing and ``apply_block`` accept as a parameter (tests define toy
types that way, and a later protocol version would too).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..fields import COMMON, Check, account
from ..results import Result

if TYPE_CHECKING:
    from ..state import State
    from ..transactions import Tx

#: The languages every type is labelled in.
LANGUAGES = ("fr", "en")

#: Who must have signed a transaction for a node to admit it (``lien.ledger.signers``).
Signers = Literal["member", "account", "opening", "governors", "validators"]


class TxType(ABC):
    """One transaction type, whole. Subclass it, set the class attributes, write ``execute``."""

    name: ClassVar[str]
    labels: ClassVar[Mapping[str, str]]
    required: ClassVar[Mapping[str, Check]]
    optional: ClassVar[Mapping[str, Check]] = {}
    #: Whose signature admission requires (``lien.ledger.signers``): a key (owner or till) of
    #: an active member of the body's ``currency`` ("member"), of any account ("account"),
    #: the key the body opens ("opening"), a governor's ("governors"), a key of the current
    #: validator set ("validators").
    signers: ClassVar[Signers] = "account"
    #: Made by the ledger itself at block start from its state (``order_run``): never signed,
    #: never submitted — admission refuses it (``system_transaction``).
    system: ClassVar[bool] = False
    #: The common fields then the required ones: what the parser walks (derived).
    all_required: ClassVar[Mapping[str, Check]]
    #: Fields that name an account, hence a history the transaction goes into (derived).
    account_fields: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "required"):
            cls.all_required = {**COMMON, **cls.required}
            cls.account_fields = tuple(
                name for name, check in {**cls.required, **cls.optional}.items()
                if check is account
            )

    def check(self, body: dict[str, Any]) -> None:
        """Static checks that involve several fields (each field is already checked)."""

    @abstractmethod
    def execute(self, state: State, tx: Tx) -> Result:
        """Check against ``state`` (raise ``Refused``), then mutate it and return the result."""

    def accounts(self, state: State, tx: Tx) -> list[str]:
        """The accounts ``tx`` concerns, sorted, without repeats: the keys of their histories."""
        body = tx.body
        found = {body[name] for name in self.account_fields if name in body}
        found.update(self.more_accounts(state, tx))
        return sorted(found)

    def more_accounts(self, state: State, tx: Tx) -> Iterable[str]:
        """Accounts concerned that no account field names (e.g. who receives a fee)."""
        return ()


class Registry(Mapping[str, TxType]):
    """Transaction types by name. Immutable: ``extended`` returns a new registry."""

    def __init__(self, units: Iterable[TxType]) -> None:
        by_name: dict[str, TxType] = {}
        for unit in units:
            if unit.name in by_name:
                raise ValueError(f"two transaction types named {unit.name!r}")
            if set(unit.labels) != set(LANGUAGES) or not all(unit.labels.values()):
                raise ValueError(f"{unit.name}: labels must give {', '.join(LANGUAGES)}")
            by_name[unit.name] = unit
        self._units = by_name

    def __getitem__(self, name: str) -> TxType:
        return self._units[name]

    def __contains__(self, name: object) -> bool:
        return name in self._units

    def __iter__(self) -> Iterator[str]:
        return iter(self._units)

    def __len__(self) -> int:
        return len(self._units)

    def extended(self, *units: TxType) -> Registry:
        """This registry plus ``units`` (a name already here is an error)."""
        return Registry([*self._units.values(), *units])

    def label(self, name: str, language: str = "fr") -> str:
        """What people call the type ``name``; the name itself for a type not in the registry
        (history written by a newer protocol still shows)."""
        unit = self._units.get(name)
        return unit.labels[language] if unit is not None else name
