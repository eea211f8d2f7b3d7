"""The node's view of its federation: ordering, finality, validators' signatures, peers and
evidence of equivocation (``federation_view``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..context import Ctx
from ..federation_view import federation_view, recent_blocks_max
from ..openapi import json_200
from ..responses import json_response

router = APIRouter(tags=["federation"])


@router.get("/federation", summary="This node's view of its federation",
            description="The ordering backend (`embedded`: one node; `jetstream`: the "
                        "federation's replicated NATS stream, its name and replicas), this "
                        "node's height and final height, the finality lag (blocks, and ms "
                        "between the last block's time and the last final block's), the "
                        "validators and which of them signed each of the latest "
                        f"{recent_blocks_max} blocks (the signatures this node stored), the "
                        "configured peers with their height and final height as last fetched "
                        "(in the background, every few seconds at most: never waited for), and "
                        "the evidence of any validator that signed two different headers at "
                        "one height.",
            responses=json_200("The node's view of its federation."))
def get_federation(ctx: Ctx) -> Response:
    return json_response(federation_view(ctx))
