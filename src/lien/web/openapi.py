"""The OpenAPI document's shared pieces: the real constraints of what the server accepts.

A client generated from ``/api/v1/openapi.json`` should send only what the server accepts, so the
document states every constraint that JSON Schema can express — the patterns of ids, the
bounds of integers and pages, item counts, ``additionalProperties: false`` — and names the rest
(``x-body-bytes-max``; an account id's check digits; signatures that must verify), which the
server alone can check. Bounds that are settings of one app (page sizes, body sizes) are written
into the document by ``bind_settings`` when the app serves it, so the document of an app always
gives that app's numbers.
"""

from __future__ import annotations

from typing import Any

from ..ledger import TX_TYPES, limits
from .context import PREFIX, ApiSettings
from .params import INT_MAX

# -- responses ------------------------------------------------------------------------------------
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "detail"], "properties": {
        "code": {"type": "string"}, "detail": {"type": "string"}}}},
}
ERROR = {
    "description": "An error: `{\"error\": {\"code\": <reason>, \"detail\": <text>}}`.",
    "content": {"application/json": {"schema": ERROR_SCHEMA}},
}
ERRORS: dict[int | str, dict[str, Any]] = {400: ERROR, 404: ERROR, 503: ERROR}
QUERY_ERRORS: dict[int | str, dict[str, Any]] = {400: ERROR, 503: ERROR}
STATUS = {"description": "`{id, status, result?, height?, seq?, reason?, detail?}`"}


def json_200(description: str, schema: dict[str, Any] | None = None) -> dict[int | str, Any]:
    content: dict[str, Any] = {"schema": schema} if schema else {}
    return {200: {"description": description, "content": {"application/json": content}}}


# -- request bodies -------------------------------------------------------------------------------
#: Strict JSON (protocol §2) as a schema: numbers are integers within ±(2^53 − 1), no fraction,
#: no exponent. A component of the document (``add_components``), recursive through its ref.
JSON_VALUE_REF = {"$ref": "#/components/schemas/JsonValue"}
JSON_VALUE: dict[str, Any] = {
    "description": "Strict JSON (docs/protocol.md §2): integers within ±(2^53 − 1) and no "
                   "other numbers.",
    "anyOf": [
        {"type": "string"}, {"type": "boolean"}, {"type": "null"},
        {"type": "integer", "minimum": -INT_MAX, "maximum": INT_MAX},
        {"type": "array", "items": JSON_VALUE_REF},
        {"type": "object", "additionalProperties": JSON_VALUE_REF},
    ],
}
_SIGNATURE = {
    "type": "object",
    "required": ["key", "sig"],
    "additionalProperties": False,
    "properties": {
        "key": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                "description": "The signer's Ed25519 public key."},
        "sig": {"type": "string", "pattern": "^[0-9a-f]{128}$",
                "description": 'Ed25519 over `"LIEN/tx/v1\\0" ‖ canonical(body)`.'},
    },
}
_BODY = {
    "type": "object",
    "description": (
        "`chain`, `type`, `expires` (ms), `nonce` and the fields of the type (docs/protocol.md "
        "§7); amounts are integers of minor units (centimes). The canonical body is at most "
        f"{limits.body_bytes_max} bytes."),
    "required": ["chain", "type", "expires", "nonce"],
    "additionalProperties": JSON_VALUE_REF,
    "properties": {
        "chain": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{0,63}$",
                  "description": "This chain's id (GET /chain)."},
        "type": {"type": "string", "enum": sorted(TX_TYPES)},
        "expires": {"type": "integer", "minimum": 0, "maximum": INT_MAX,
                    "description": "Milliseconds since the epoch; at most "
                                   f"{limits.expiry_window_ms_max} ms ahead."},
        # Characters of printable ASCII are bytes: the schema states the subset of the
        # nonce_bytes_max UTF-8 bytes that a character count can bound.
        "nonce": {"type": "string", "pattern": "^[ -~]{1,%d}$" % limits.nonce_bytes_max},
    },
}
ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["body", "signatures"],
    "additionalProperties": False,
    "properties": {
        "body": _BODY,
        "signatures": {"type": "array", "items": _SIGNATURE, "minItems": 1,
                       "maxItems": limits.signatures_max,
                       "description": "Every signature must verify; no key twice."},
    },
}
BATCH: dict[str, Any] = {
    "type": "object",
    "required": ["transactions"],
    "additionalProperties": False,
    "properties": {"transactions": {
        "type": "array",
        "maxItems": limits.batch_transactions_max,
        # Not the envelope schema: any item is answered on its own (an error in its outcome),
        # so the batch as a whole stays valid whatever an item holds.
        "items": {**JSON_VALUE_REF,
                  "description": "An envelope as for POST /transactions; an item that is not "
                                 "one is refused in its own outcome."},
    }},
}


def request_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": schema}}}}


# -- the app's settings in its document -----------------------------------------------------------
#: (method, path, query parameter) -> the setting of its maximum
PAGE_SETTINGS = {
    ("get", "/api/v1/accounts/{account_id}/history", "limit"): "history_page_max",
    ("get", "/api/v1/blocks", "limit"): "blocks_page_max",
    ("get", "/api/v1/blocks/certified", "limit"): "certified_page_max",
}
#: (method, path) -> the setting that bounds its request body, in bytes
BODY_SETTINGS = {
    ("post", "/api/v1/transactions"): "request_bytes_max",
    ("post", "/api/v1/transactions/batch"): "batch_bytes_max",
}


def bind_settings(document: dict[str, Any], settings: ApiSettings,
                  chain_id: str) -> dict[str, Any]:
    """Write the app's page and body bounds, and its chain id, into its document (in place):
    a transaction for another chain would be refused (``wrong_chain``)."""
    paths = document.get("paths", {})
    envelope = paths[f"{PREFIX}/transactions"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    envelope["properties"]["body"]["properties"]["chain"]["enum"] = [chain_id]
    for (method, path, name), maximum in PAGE_SETTINGS.items():
        for parameter in paths[path][method].get("parameters", []):
            if parameter["name"] == name:
                parameter["schema"]["maximum"] = getattr(settings, maximum)
    for (method, path), setting in BODY_SETTINGS.items():
        body = paths[path][method]["requestBody"]
        bytes_max = getattr(settings, setting)
        body["x-body-bytes-max"] = bytes_max
        body["description"] += (f" At most {bytes_max} bytes (`x-body-bytes-max`); a longer "
                                "body is refused with 413 `too_large` before it is read.")
    return document


def add_components(document: dict[str, Any]) -> dict[str, Any]:
    """The schemas that the request bodies refer to (in place)."""
    document.setdefault("components", {}).setdefault("schemas", {})["JsonValue"] = JSON_VALUE
    return document


def without_422(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 for its validation errors; this API answers them 400
    ``malformed`` (``errors.py``), documented as such: drop the 422 and its schemas."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if document.get("components") == {"schemas": {}}:
        del document["components"]
    return document
