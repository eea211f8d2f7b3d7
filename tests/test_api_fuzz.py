"""Property-based fuzzing of the whole HTTP API, from its own OpenAPI document (schemathesis).

Every documented operation gets schema-conforming *and* schema-violating requests (path, query
and body; boundary values first, then random ones), sent in-process to the ASGI app of a real
node on SQLite that has accounts, payments and blocks. The random phase sometimes puts a real
account id (spelled as people type it) or a real transaction id in the path, so that the 200
paths are fuzzed too, and sometimes submits a real transaction's body with a fresh nonce and a
field changed, dropped or added, so that admission is reached past the parser. Every check of
schemathesis runs (``st run --checks all``); each response:

* is never a 5xx (``not_a_server_error``);
* has a documented status code, content type and headers, and conforms to the documented
  schema;
* is a 4xx for a request that breaks the schema (``negative_data_rejection``): the document is
  no looser than the server;
* is accepted for a request that conforms to it (``positive_data_acceptance``: 2xx, or 404 for
  an id that names nothing): the document is no stricter than the server, except for what JSON
  Schema cannot state and the document says in words — an account id's check digits, the
  documented body sizes (``x-body-bytes-max``), and, for POST /transactions, signatures that
  verify and the fields of each type (``positive_refusal_is_documented``);
* is a 405 with ``Allow`` for an undocumented method (``unsupported_method``);
* when it is a 4xx, has the body ``{"error": {"code", "detail"}}``, its code one of those
  that GET /reasons lists (a precise reason, never a generic ``http_4xx``).

Nothing generated can be validly signed, so the POST operations must refuse every transaction
and the chain must not move: the block height is checked after each POST, the height and the
stored state lines once every operation has been fuzzed, and ``Env.unchanged``'s probe (the next
block holds only the probe, so nothing was left queued) when the node is torn down.

The Hypothesis settings are this module's own (``FUZZ``, not a registered profile): no example
database (CI starts from a fresh clone), random rather than derandomized, no deadline.
"""

from __future__ import annotations

import json
import re
import string
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from anyio.from_thread import start_blocking_portal
from api_support import API, Env, api_env
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.checks import CHECKS as CHECKS_REGISTRY
from schemathesis.config import SchemathesisConfig

from lien.ledger import format_account_id, is_account_id, limits
from lien.web import ApiSettings
from lien.web.ratelimit import Limits
from lien.web.params import ACCOUNT_PATTERN, TX_ID_PATTERN

#: This module's Hypothesis settings (never registered as a global profile).
FUZZ = settings(
    max_examples=25,  # random examples per operation, after the boundary ones
    database=None,
    derandomize=False,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)

checks.load_all_checks()
#: ``--checks all``: every check schemathesis has, positive_data_acceptance run through
#: ``positive_refusal_is_documented`` (the refusals that the document states in words).
CHECKS = [c for c in CHECKS_REGISTRY.get_all() if c is not checks.positive_data_acceptance]
assert len(CHECKS) >= 13, [c.__name__ for c in CHECKS]
#: Every refusal the API documents is a right answer to a request that breaks the schema.
CONFIG = {"checks": {"negative_data_rejection": {"expected-statuses": ["400", "404", "413"]}}}

#: Read timeout of a call. The event stream of a real account never ends by itself: it is cut
#: after STREAM_S and what it sent is checked.
CALL_S = 10.0
STREAM_S = 0.2

SUBMIT, BATCH = f"{API}/transactions", f"{API}/transactions/batch"
#: Crockford's look-alikes, as protocol §4 maps them.
LOOKALIKES = str.maketrans("ILO", "110")


@dataclass
class Fuzzed:
    """The node under fuzzing, what it holds, and its state before any fuzzing."""

    env: Env
    accounts: list[str]  #: real account ids, spelled the ways people type them
    tx_ids: list[str]  #: ids of executed transactions
    bodies: list[dict[str, Any]]  #: bodies of executed transactions, of many types
    codes: set[str]  #: every error code GET /reasons lists
    body_bytes_max: dict[str, int]  #: path -> the documented x-body-bytes-max of its body
    bodies_schema: dict[str, Any]  #: path -> a validator of its documented request body
    height: int
    lines: list[str]


async def populate(env: Env) -> list[dict[str, Any]]:
    """Two more members and payments both ways: history, receipts, several blocks.
    Returns the executed transactions (genesis bootstrap included) as JSON."""
    alice = await env.join("fuzz alice", nantie=50_000)
    bob = await env.join("fuzz bob", nantie=1_000)
    txs = [tx.to_json() | {"id": tx.id} for tx in env.genesis.bootstrap]
    for amount in (100, 250, 7):
        for payer, payee, paid in ((alice, bob, amount), (bob, alice, amount // 2 + 1)):
            tx = env.mk.pay(payer, payee, paid, memo="fuzz")
            await env.ok(tx)
            txs.append(tx.to_json() | {"id": tx.id})
    return txs


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    # Rate limits off: thousands of requests from one address would soon all be 429s, and
    # hide what the fuzz looks for (test_admission_limits tests the limits).
    api_settings = ApiSettings(batch_bytes_max=64 * 1024, limits=Limits(enabled=False))
    with start_blocking_portal("asyncio") as portal, portal.wrap_async_context_manager(
        api_env(tmp_path_factory.mktemp("fuzz"), api_settings)
    ) as env:
        txs = portal.call(populate, env)
        accounts = sorted({a for tx in txs for f in ("account", "from", "to")
                           if isinstance(a := tx["body"].get(f), str)})
        spelled = [*accounts, *(format_account_id(a).lower() for a in accounts[:2]),
                   " ".join(format_account_id(accounts[-1]).split("-"))]
        tx_ids = [tx["id"] for tx in txs] + [txs[-1]["id"].upper()]
        reasons = portal.call(env.client.get, f"{API}/reasons").json()
        codes = {r["code"] for r in reasons["reasons"] + reasons["api_errors"]}
        paths = portal.call(env.client.get, f"{API}/openapi.json").json()["paths"]
        bytes_max = {path: paths[path]["post"]["requestBody"]["x-body-bytes-max"]
                     for path in (SUBMIT, BATCH)}
        assert bytes_max[BATCH] == api_settings.batch_bytes_max
        components = portal.call(env.client.get, f"{API}/openapi.json").json()["components"]
        bodies_schema = {path: jsonschema_rs.validator_for({
            **paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"],
            "components": components}) for path in (SUBMIT, BATCH)}
        with portal.wrap_async_context_manager(env.unchanged()):
            yield Fuzzed(env, spelled, tx_ids, [tx["body"] for tx in txs], codes, bytes_max,
                         bodies_schema, env.height(), list(env.store.stored_state_lines()))


def requests_only(app: Any) -> Any:
    """``app`` as ``api_env`` serves it to httpx: requests only. ``api_env`` owns the app's
    life; schemathesis would otherwise run its lifespan and end it (closing the API) at the
    end of each test, before ``Env.unchanged``'s probe."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        while True:
            message = await receive()
            await send({"type": f"{message['type']}.complete"})
            if message["type"] == "lifespan.shutdown":
                return

    return asgi


# -- steering the random phase towards real data ---------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=6,
)


def near_real_envelopes(fuzzed: Fuzzed) -> st.SearchStrategy[dict[str, Any]]:
    """A real body with a fresh nonce and expiry, and maybe a field changed, dropped or added,
    signed by nobody: hex signatures, of real keys or not. Its id is new (a known id would be
    answered with its first outcome), so admission goes as far as the signature check."""
    now = fuzzed.env.node.clock()
    keys = sorted({b["key"] for b in fuzzed.bodies if isinstance(b.get("key"), str)})
    hex_text = st.text("0123456789abcdef", min_size=128, max_size=128)
    signature = st.fixed_dictionaries({
        "key": st.sampled_from(keys) | hex_text.map(lambda h: h[:64]), "sig": hex_text})

    @st.composite
    def envelopes(draw: st.DrawFn) -> dict[str, Any]:
        body = dict(draw(st.sampled_from(fuzzed.bodies)))
        body["nonce"] = "fuzz-" + draw(st.text(string.hexdigits, min_size=8, max_size=16))
        body["expires"] = now + draw(st.sampled_from(  # mostly fresh
            [600_000, 600_000, 600_000, -600_000, 2 * limits.expiry_window_ms_max]))
        field = draw(st.sampled_from(sorted(body)))
        change = draw(st.sampled_from(["none", "none", "none", "change", "drop", "add"]))
        if change == "change":
            body[field] = draw(JSON)
        elif change == "drop":
            del body[field]
        elif change == "add":
            body[draw(st.text(max_size=12))] = draw(JSON)
        return {"body": body, "signatures": draw(st.lists(signature, min_size=1, max_size=3))}

    return envelopes()


def steer(schema: Any, fuzzed: Fuzzed) -> None:
    """Hooks of this schema only (never registered globally)."""
    envelopes = near_real_envelopes(fuzzed)

    @schema.hook
    def flatmap_path_parameters(context: Any, params: Any) -> Any:
        real = {"account_id": (fuzzed.accounts, ACCOUNT_PATTERN),
                "id": (fuzzed.tx_ids, TX_ID_PATTERN)}
        # Only in place of a value that the schema accepts: a negative value stays negative.
        names = [n for n, (_, pattern) in real.items() if isinstance(params, dict)
                 and isinstance(params.get(n), str) and re.fullmatch(pattern, params[n])]
        if not names:
            return st.just(params)
        return st.one_of(st.just(params), st.fixed_dictionaries(
            {n: st.sampled_from(real[n][0]) for n in names}).map(lambda r: {**params, **r}))

    @schema.hook
    def flatmap_body(context: Any, body: Any) -> Any:
        # Two times in three; whatever is sent, the test expects every transaction refused.
        if context.operation.path == SUBMIT:
            return st.one_of(st.just(body), envelopes, envelopes)
        if context.operation.path == BATCH and is_batch(body):  # a negative one stays so
            batches = st.lists(envelopes, min_size=1, max_size=4).map(
                lambda items: {"transactions": items})
            return st.one_of(st.just(body), batches, batches)
        return st.just(body)


def is_batch(body: Any) -> bool:
    """What the batch schema accepts: items of strict JSON, but only so many."""
    return (isinstance(body, dict) and set(body) == {"transactions"}
            and isinstance(body["transactions"], list)
            and len(body["transactions"]) <= limits.batch_transactions_max
            and is_strict_json(body["transactions"]))


def is_strict_json(value: Any) -> bool:
    """The JsonValue schema: integers within ±(2**53 - 1), no other number."""
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return abs(value) <= 2**53 - 1
    if isinstance(value, list):
        return all(is_strict_json(item) for item in value)
    if isinstance(value, dict):
        return all(is_strict_json(item) for item in value.values())
    return False


@pytest.fixture(scope="module")
def api_schema(fuzzed: Fuzzed) -> Any:
    loaded = schemathesis.openapi.from_asgi(f"{API}/openapi.json", requests_only(fuzzed.env.app),
                                            config=SchemathesisConfig.from_dict(CONFIG))
    steer(loaded, fuzzed)
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


def assert_error_shape(body: Any, fuzzed: Fuzzed) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert error.get("code") in fuzzed.codes, body
    assert isinstance(error.get("detail"), str), body


#: Why POST /transactions refuses an envelope that its schema accepts: what JSON Schema cannot
#: state, and the document says in words (the fields of each type, their ranges and check
#: digits, signatures that verify, expiry against the node's clock, the canonical body's size,
#: a signer that holds an account).
SUBMIT_REFUSALS = {"malformed", "bad_field", "amount_invalid", "bad_signature", "expired",
                   "expiry_too_far", "too_large", "unknown_signer", "signer_not_active"}


def spells_a_fraction(sent: bytes) -> bool:
    """Whether a JSON body writes a number with a fraction or an exponent (``2.0``, ``2e0``)."""
    found = []
    try:
        json.loads(sent, parse_float=found.append)
    except ValueError:
        return False
    return bool(found)


def positive_refusal_is_documented(case: Any, response: Any, fuzzed: Fuzzed) -> None:
    """positive_data_acceptance, with the refusals the document states in words."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    status = response.status_code
    if status < 400 or status == 404:
        return
    code = response.json()["error"]["code"]
    sent = response.request.body or b""
    bytes_max = fuzzed.body_bytes_max.get(case.path)
    if status == 413 and bytes_max is not None and len(sent) > bytes_max:
        return  # x-body-bytes-max
    if (status, code) == (400, "malformed") and spells_a_fraction(sent):
        return  # in JSON Schema 2.0 is an integer; §2 says numbers are written as integers
    if (status, code) == (400, "malformed") and any(
        isinstance(value, float) for value in (case.query or {}).values()
    ):
        return  # likewise `?limit=10.0`: §12 says integer parameters are written in digits
    account = (case.path_parameters or {}).get("account_id")
    if (status, code) == (400, "bad_field") and isinstance(account, str):
        account = urllib.parse.unquote(account)  # as sent
        # Only the check digits can fail: the pattern holds the rest.
        assert re.fullmatch(ACCOUNT_PATTERN, account), account
        cleaned = account.upper().replace("-", "").replace(" ", "").translate(LOOKALIKES)
        assert not is_account_id(cleaned), account
        return
    if case.path in fuzzed.bodies_schema and not fuzzed.bodies_schema[case.path].is_valid(
            json.loads(sent)):
        return  # a near-real envelope that the steering changed out of the schema
    if case.path == SUBMIT and 400 <= status < 500:
        assert code in SUBMIT_REFUSALS, response.text
        assert code != "too_large" or len(sent) > limits.body_bytes_max, response.text
        return
    raise AssertionError(f"a request that the document accepts was refused: {status} "
                         f"{response.text} ({case.method} {case.formatted_path})")


def call_and_check(case: Any, fuzzed: Fuzzed) -> None:
    response = case.call(timeout=STREAM_S if case.path.endswith("/events") else CALL_S)
    status = response.status_code
    case.validate_response(response, checks=CHECKS)
    if 400 <= status < 500:
        assert_error_shape(response.json(), fuzzed)
    positive_refusal_is_documented(case, response, fuzzed)
    if case.method.upper() == "POST":
        if case.path == BATCH and status == 200:
            items = response.json()["items"]
            assert [item["index"] for item in items] == list(range(len(items))), items
            for item in items:  # nothing generated is validly signed
                assert set(item) <= {"index", "id", "error"}, item
                assert_error_shape({"error": item["error"]}, fuzzed)
        else:
            assert 400 <= status < 500, response.text
        assert fuzzed.env.height() == fuzzed.height


@schema.exclude(method="POST").parametrize()
@FUZZ
def test_api_fuzz(case: Any, fuzzed: Fuzzed) -> None:
    call_and_check(case, fuzzed)


#: A schema-conforming envelope costs up to a second to generate (Hypothesis draws its hex
#: signatures character by character): fewer random examples for the two POST operations.
@schema.include(method="POST").parametrize()
@settings(FUZZ, max_examples=12)
def test_api_fuzz_submissions(case: Any, fuzzed: Fuzzed) -> None:
    call_and_check(case, fuzzed)


def test_fuzzing_changed_nothing(fuzzed: Fuzzed) -> None:
    """Once every operation was fuzzed (the module's order): not a block, not a stored line
    more. The fixture's teardown then proves that nothing was left queued either."""
    assert fuzzed.env.height() == fuzzed.height
    assert fuzzed.env.store.stored_state_lines() == fuzzed.lines
