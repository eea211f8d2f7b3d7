"""The chain itself, and the codes that every answer may carry."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ...ledger import DESCRIPTIONS, Reason
from ...ledger.reasons import ADMISSION
from .. import errors
from ..context import Ctx
from ..openapi import json_200
from ..responses import json_response

router = APIRouter(tags=["chain"])


@router.get("/chain", summary="This chain",
            description="Chain id (its `name`, then a digest of the genesis document: what "
                        "every transaction body's `chain` must be), protocol version, genesis "
                        "document and root, height, time, last hash, the "
                        "height up to which blocks are final, the validator set in force "
                        "(`validators`, from height `validators_from`: 1 for the genesis set, "
                        "later after a `set_validators`) and the node's state "
                        "(`ready` is false while it loads its state after a start: queries "
                        "are answered, submissions wait for it, at most 10 s, then 503 "
                        "`node_busy`; "
                        "`disk_full` is true while its disk is full: payments are refused "
                        "with 503 `disk_full` until space is freed, then it resumes by "
                        "itself).",
            responses=json_200("The chain."))
async def get_chain(ctx: Ctx) -> Response:
    node, summary = ctx.node, ctx.node.summary
    config = node.config
    return json_response({
        "chain_id": summary.chain_id,
        "name": config.name,
        "protocol": config.protocol,
        "genesis": config.to_json(),
        "genesis_root": config.genesis_root().hex(),
        "height": summary.height,
        "last_hash": summary.last_hash,
        "time_ms": summary.time_ms,
        "final_height": summary.final_height,
        # the set of the next block, and the height it certifies from (1: the genesis set)
        "validators": list(node.validators.latest.keys),
        "validators_from": node.validators.latest_from,
        "node": {"running": node.running, "halted": node.failure is not None,
                 "ready": summary.ready, "disk_full": node.disk_full},
    })


def _family(reason: Reason) -> str:
    if reason is Reason.OK:
        return "ok"
    return "admission" if reason in ADMISSION else "execution"


def _http(reason: Reason) -> int:
    return errors.http_status(reason) if reason in ADMISSION else 200


@router.get("/reasons", summary="Every reason and error code",
            description="The ledger's reason codes (admission and execution) with their "
                        "description, and the API's own error codes.",
            responses=json_200("`{reasons: [{code, family, http_status, description}], "
                               "api_errors: [{code, description}]}`"))
def get_reasons() -> Response:
    return json_response({
        "reasons": [
            {"code": r.value, "family": _family(r), "http_status": _http(r),
             "description": DESCRIPTIONS[r]}
            for r in Reason
        ],
        "api_errors": [{"code": c, "description": d} for c, d in errors.API_CODES.items()],
    })
