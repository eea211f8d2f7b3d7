"""The layout is the architecture: who may import whom, and the pinned public APIs."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import lien.chain
import lien.ledger
import lien.ordering
import lien.store
import lien.wallet
import lien.web

SRC = Path(__file__).resolve().parents[1] / "src" / "lien"

#: layer -> the layers of ours it may import (besides itself)
ALLOWED = {
    "ledger": set(),
    "chain": {"ledger"},
    "store": {"ledger", "chain"},
    "ordering": {"ledger", "chain", "store"},
    "wallet": {"ledger", "chain"},  # what the CLI and the web wallet share: client side only
    # the service layer of personal data (people, logins, sessions); wallet: the KDF parameters
    "members": {"ledger", "chain", "store", "wallet"},
    "node": {"ledger", "chain", "store", "ordering", "wallet"},  # wallet: keystores, for init
    # joins nodes: NATS servers, validators' signatures, catching up from peers, the demo
    "federation": {"ledger", "chain", "store", "ordering", "node", "wallet"},
    "web": {"ledger", "chain", "store", "node", "members", "wallet", "federation"},  # store: record types, never SQL
    "cli": {"ledger", "chain", "store", "ordering", "node", "web", "members", "wallet",
            "bench", "federation"},
}
#: third-party packages each layer may import (the standard library is always allowed)
THIRD_PARTY = {
    "ledger": {"nacl"},
    "chain": {"nacl"},
    "wallet": {"nacl", "argon2"},
    "members": {"argon2"},
    "ordering": {"nats"},
    "federation": {"nats", "httpx", "nacl"},
    "web": {"fastapi", "starlette", "uvicorn", "httptools", "pydantic", "jinja2", "babel",
            "segno", "prometheus_client"},
}


def _imports(path: Path) -> set[tuple[str, int]]:
    """(module, level) of every import in a file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {(alias.name, 0) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add((node.module or "", node.level))
    return found


def _layer_of(path: Path, module: str, level: int) -> str | None:
    """Which of our layers an import names (None for anything else)."""
    if level == 0:
        parts = module.split(".")
        return parts[1] if parts[0] == "lien" and len(parts) > 1 else None
    package = path.relative_to(SRC).parts[:-1]
    target = package[: len(package) - (level - 1)] + tuple(p for p in module.split(".") if p)
    return target[0] if target else None


def test_each_layer_imports_only_the_layers_below_it() -> None:
    problems = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((SRC / layer).rglob("*.py")):
            for module, level in _imports(path):
                target = _layer_of(path, module, level)
                if target is not None and target != layer and target not in allowed:
                    problems.append(f"{path.relative_to(SRC)} imports {target}")
    assert problems == []


def test_the_readme_table_names_every_layer() -> None:
    """A newcomer finds each folder of ``src/lien`` in the README's table, and each is a layer
    whose imports this module checks."""
    readme = (SRC.parents[1] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `src/lien/([a-z_]+)` \|", readme, re.M)
    folders = {p.name for p in SRC.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    assert sorted(rows) == sorted(folders) == sorted(ALLOWED)


def test_the_core_and_the_web_layer_use_only_their_libraries() -> None:
    problems = []
    for layer, packages in THIRD_PARTY.items():
        for path in sorted((SRC / layer).rglob("*.py")):
            for module, level in _imports(path):
                top = module.split(".")[0]
                if level or top == "lien" or top in sys.stdlib_module_names or top == "__future__":
                    continue
                if top not in packages:
                    problems.append(f"{path.relative_to(SRC)} imports {top}")
    assert problems == []  # e.g. the web layer never touches SQL (no sqlalchemy)


def test_the_public_apis_are_pinned() -> None:
    assert sorted(lien.ledger.__all__) == [
        "Account", "BlockOutcome", "ChainConfig", "Currency", "DESCRIPTIONS", "Delegation",
        "GenesisInvalid", "InvariantBroken", "Membership", "OK", "Reason", "Registry", "Result",
        "Signature",
        "State", "TX_TYPES", "Tx", "TxError", "TxType", "account_id_for_key", "apply_block",
        "canonical",
        "check_all_invariants", "check_body", "check_freshness", "check_signatures",
        "decode_tx", "default_split", "format_account_id", "format_amount", "is_account_id",
        "limits", "parse_account_id", "parse_amount", "parse_json", "parse_tx", "sign_body",
        "signatures_valid",
    ]
    assert sorted(lien.chain.__all__) == [
        "Header", "ReceiptInvalid", "ValidatorSchedule", "ValidatorSet", "build_receipt", "header_for", "leaf_hash",
        "sign_header", "verify_receipt",
    ]
    assert sorted(lien.ordering.__all__) == [
        "CutBlock", "EmbeddedLog", "LogEntry", "LogReset", "LogUnavailable", "OrderingLog", "cut_blocks",
    ]
    assert sorted(lien.wallet.__all__) == [
        "AnswerInvalid", "Balance", "LANGS", "Lang", "Member", "StatementEntry", "TxMaker",
        "amount_text", "balance_for", "entry_for", "keystore", "label", "outcome_text",
        "reason_text", "status_label",
    ]
    assert "ChainStore" in lien.store.__all__
    assert sorted(lien.web.__all__) == ["ApiSettings", "Server", "create_app", "make_server"]
    for module in (lien.ledger, lien.chain, lien.ordering, lien.store, lien.wallet, lien.web):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_the_web_layer_reads_the_node_s_read_model_not_its_hot_state() -> None:
    """``node.state`` changes under the node thread; pages and routes read ``node.summary``
    (an immutable snapshot) and the store instead."""
    problems = []
    for path in sorted((SRC / "web").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "state":
                owner = node.value
                name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                if name == "node":
                    problems.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert problems == []
