"""docs/protocol.md documents every reason code, transaction type, field and limit of the code.

A new reason, type, field or limit without its documentation fails here; so does a description,
a limit value or an execution check that the document states differently from the code.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lien.ledger import DESCRIPTIONS, TX_TYPES, Reason, limits
from lien.ledger.crypto import BLOCK_DOMAIN, TX_DOMAIN
from lien.ledger.fields import COMMON, KINDS, POLICY, ROLES, STATUSES
from lien.ledger.ids import ACCOUNT_DOMAIN, ALPHABET
from lien.ledger.reasons import ADMISSION
from lien.ledger.types import LANGUAGES, common, set_status

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


@functools.cache
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def section(heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    text = doc()
    match = re.search(rf"^{re.escape(heading)}[ \t]*$", text, re.M)
    assert match, f"docs/protocol.md has no heading {heading!r}"
    level = len(heading) - len(heading.lstrip("#"))
    rest = text[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def limit_names() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(limits).items()
        if not name.startswith("_") and type(value) is int
    }


# -- reason codes ------------------------------------------------------------------------------------
def test_every_reason_has_a_description() -> None:
    assert set(DESCRIPTIONS) == set(Reason)
    assert all(text.strip() for text in DESCRIPTIONS.values())


@pytest.mark.parametrize("reason", list(Reason), ids=lambda r: r.value)
def test_every_reason_is_documented(reason: Reason) -> None:
    assert f"`{reason.value}`" in doc()


def test_the_reason_table_matches_the_code() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \| (.+) \|$", section("## 8. Reason codes"), re.M)
    table = {code: (family.strip(), text.strip()) for code, family, text in rows}
    assert len(table) == len(rows), "a reason appears twice in the table"
    assert set(table) == {r.value for r in Reason}
    for reason in Reason:
        family = "—" if reason is Reason.OK else "admission" if reason in ADMISSION else "execution"
        assert table[reason.value] == (family, DESCRIPTIONS[reason]), reason.value


# -- transaction types -------------------------------------------------------------------------------
def test_every_type_is_one_unit_named_and_labelled() -> None:
    for name, unit in TX_TYPES.items():
        assert unit.name == name
        assert set(unit.labels) == set(LANGUAGES) and all(unit.labels.values()), name


@pytest.mark.parametrize("tx_type", list(TX_TYPES))
def test_every_type_has_a_heading_and_its_fields(tx_type: str) -> None:
    text = section(f"### `{tx_type}`")
    required, optional = TX_TYPES[tx_type].required, TX_TYPES[tx_type].optional
    for name in required:
        assert re.search(rf"^\| `{name}` \| required \|", text, re.M), f"{tx_type}.{name}"
    for name in optional:
        assert re.search(rf"^\| `{name}` \| optional \|", text, re.M), f"{tx_type}.{name}"
    documented = re.findall(r"^\| `([a-z_]+)` \| (?:required|optional) \|", text, re.M)
    assert set(documented) == set(required) | set(optional), f"{tx_type}: extra fields documented"
    # the document says the parser checks required fields in the order of the table
    assert [name for name in documented if name in required] == list(required)
    assert "**Signed by**" in text
    assert "**Execution**" in text


def test_common_and_policy_fields_are_documented() -> None:
    common = section("### Common fields")
    for name in COMMON:
        assert f"| `{name}` |" in common
    policy = section("### `create_currency`")
    rows = set(re.findall(r"^\| `([a-z_]+)` \| (?!required|optional)", policy, re.M))
    assert rows == set(POLICY)
    for word in (*KINDS, *STATUSES, *ROLES):
        assert f"`{word}`" in doc()


def mentions(text: str, code: str) -> bool:
    """The document names a result code as `code` or inside a result object."""
    return f"`{code}`" in text or f'"code": "{code}"' in text


#: helpers whose checks the document names once, as a sequence, instead of in every type
SEQUENCES = {"check_role": "*R(", "check_quorum": "*Q*", "target": "*T("}


def _callee(func: Callable[..., Any], prefix: str, name: str) -> Callable[..., Any] | None:
    """The function of a transaction type's module (or of ``common``) that ``func`` calls."""
    home = common if prefix == "common." else sys.modules[func.__module__]
    target = vars(home).get(name)
    if inspect.isfunction(target) and target.__module__.startswith("lien.ledger.types"):
        return target
    return None


def _reasons_of(func: Callable[..., Any], seen: set[str]) -> tuple[set[str], set[str]]:
    """(reason codes a type's execution refuses with, directly or through the helpers it calls,
    and the named check sequences it runs)."""
    source = inspect.getsource(func)
    codes = {Reason[name].value for name in re.findall(r"Reason\.([A-Z_]+)", source)}
    sequences: set[str] = set()
    for prefix, name in re.findall(r"(?<![\w.])(common\.)?([a-z_][a-z0-9_]*)\(", source):
        callee = _callee(func, prefix, name)
        if callee is None or callee.__qualname__ in seen:
            continue
        seen.add(callee.__qualname__)
        if name in SEQUENCES and callee.__module__ == common.__name__:
            sequences.add(name)
            continue
        more_codes, more_sequences = _reasons_of(callee, seen)
        codes |= more_codes
        sequences |= more_sequences
    return codes, sequences


@pytest.mark.parametrize("tx_type", list(TX_TYPES))
def test_every_execution_code_of_a_type_is_documented_in_its_section(tx_type: str) -> None:
    text = section(f"### `{tx_type}`")
    execute = TX_TYPES[tx_type].execute
    codes, sequences = _reasons_of(execute, {execute.__qualname__})
    for code in codes:
        assert mentions(text, code), f"{tx_type} can return {code}"
    for helper in sequences:
        assert SEQUENCES[helper] in text, f"{tx_type} runs {helper}"
    assert not {Reason(c) for c in codes} & ADMISSION, "execution returns admission codes"


def test_the_check_sequences_list_their_codes() -> None:
    text = section("### How execution checks and what it returns")
    for helper in SEQUENCES:
        codes, _ = _reasons_of(getattr(common, helper), {helper})
        for code in codes:
            assert mentions(text, code), f"{helper} can return {code}"


def test_status_transitions_are_documented() -> None:
    text = " ".join(section("### `set_status`").split())
    for old, targets in set_status.TRANSITIONS.items():
        if targets:
            expected = f"`{old}` → " + " or ".join(f"`{t}`" for t in targets)
            assert expected in text, expected


# -- limits and constants ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(limit_names()))
def test_every_limit_is_documented(name: str) -> None:
    assert name in doc()


def test_the_limit_table_gives_the_code_values() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| `(-?\d+)` \|", section("## 5. Amounts and limits"), re.M)
    table = {name: int(value) for name, value in rows}
    expected = {k: v for k, v in limit_names().items() if k != "PROTOCOL_VERSION"}
    assert table == expected
    assert f"`PROTOCOL_VERSION` is `{limits.PROTOCOL_VERSION}`" in doc()


def test_domain_tags_and_alphabet_are_documented() -> None:
    for tag in (TX_DOMAIN, BLOCK_DOMAIN, ACCOUNT_DOMAIN):
        assert tag.decode().replace("\x00", "\\0") in doc()
    for tag in (TX_DOMAIN, BLOCK_DOMAIN):
        assert tag.hex() in doc()
    assert f"`{ALPHABET}`" in doc()


def test_placeholder_sections_exist() -> None:
    assert "/api/v1/openapi.json" in section("## 12. HTTP API (/api/v1)")
    assert "block_transactions_max" in section("## 11. Block cutting from the ordered log")


def test_who_may_submit_each_type_is_the_document_s() -> None:
    """§7's admission table names, for every type, the signers its unit declares."""
    wording = {
        "member": "a key of an account that is an `active` member of the body's `currency`",
        "account": "a key of any existing account, whatever its status",
        "opening": "the key it opens (`key`)",
        "governors": "a governor's key",
        "validators": "a key of the current validator set",
    }
    rows = re.findall(r"^\| ((?:`[a-z_]+`(?:, )?)+) \| (.+) \|$",
                      section("### Who may submit a transaction (admission)"), re.M)
    documented: dict[str, str] = {}
    for types, signers in rows:
        for name in re.findall(r"`([a-z_]+)`", types):
            assert name not in documented, f"{name} is in two rows"
            (kind,) = [k for k, text in wording.items() if signers.startswith(text)]
            documented[name] = kind
    assert documented == {name: unit.signers for name, unit in TX_TYPES.items()}


def test_every_image_the_readme_shows_is_in_the_repository() -> None:
    root = Path(__file__).resolve().parents[1]
    images = re.findall(r'<img src="([^"]+)"', (root / "README.md").read_text(encoding="utf-8"))
    assert images, "the README shows the wallet's screens"
    assert [i for i in images if not (root / i).is_file()] == []
