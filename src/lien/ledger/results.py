"""Results: what executing one admitted transaction gave — immutable records, encoded once.

A result is ``ok`` or the execution reason that refused the transaction, with the structured
values docs/protocol.md §7 names for that reason (an account, a status, amounts). Its wire form
is the object ``{"code": <reason>, <name>: <value>, ...}``; its canonical JSON (``encoded``) is
hashed into the block's Merkle tree, so it is computed once, when the record is made, and every
consumer (header, store, receipts, events) uses those same bytes.

Inside execution a failed check *raises* ``Refused``: the dispatcher (``apply_block``) catches it
and records its result. Checks run before the first mutation, so a refused transaction has
changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .encoding import canonical_trusted
from .reasons import Reason

#: A structured value of a result: an amount, a count, an account id, a status...
Value = int | str

#: Each reason's code as a plain string (``Reason.value`` is a slow descriptor, and results
#: are made for every transaction).
_CODES = {reason: reason.value for reason in Reason}


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one executed transaction.

    ``reason`` — ``Reason.OK`` or the execution reason that refused it;
    ``values`` — its other members as ``(name, value)`` pairs, in the order the wire form lists
    them (never a ``"code"``);
    ``encoded`` — the canonical JSON of ``to_json()``, computed at construction.
    """

    reason: Reason
    values: tuple[tuple[str, Value], ...] = ()
    encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoded", canonical_trusted(self.to_json()))

    @classmethod
    def of(cls, reason: Reason, **values: Value) -> Result:
        """``Result.of(Reason.OK, fee=5, paid_out=95)``."""
        return cls(reason, tuple(values.items()))

    def to_json(self) -> dict[str, Value]:
        """The wire form: a new dict on every call (callers may keep or change it), its keys in
        canonical (sorted) order — the order of ``encoded``, hence of every stored result, so
        a result reads the same whether it comes from a waiter, an event or the store."""
        if not self.values:
            return {"code": _CODES[self.reason]}
        return dict(sorted([("code", _CODES[self.reason]), *self.values]))

    def value(self, name: str) -> Value:
        """One structured value by name; KeyError when the result has no such member."""
        for key, value in self.values:
            if key == name:
                return value
        raise KeyError(name)


#: The plain success, shared: a frozen record, so sharing it is safe.
OK = Result(Reason.OK)


class Refused(Exception):
    """Raised by an execution check: the transaction is recorded with ``result`` and changes
    nothing. Internal to execution: ``apply_block`` turns it into the transaction's result."""

    def __init__(self, reason: Reason, **values: Value) -> None:
        super().__init__(reason.value)
        self.result = Result.of(reason, **values)
