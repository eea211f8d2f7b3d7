"""The chain: headers, Merkle roots, validator signatures, finality and receipts.

Imports only the ledger core.
"""

from .block import Header, ValidatorSchedule, ValidatorSet, header_for, sign_header
from .merkle import leaf_hash
from .receipt import ReceiptInvalid, build_receipt, verify_receipt

__all__ = [
    "Header",
    "ReceiptInvalid",
    "ValidatorSchedule",
    "ValidatorSet",
    "build_receipt",
    "header_for",
    "leaf_hash",
    "sign_header",
    "verify_receipt",
]
