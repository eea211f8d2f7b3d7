"""The node's view of its federation, for ``GET /api/v1/federation`` and the home page.

Read from the node's read model (``node.summary``, ``final_height``, ``evidence``), the store
(the signatures stored with the latest blocks: a final block's certificate; on a block still
waiting, this node's own signature) and the peers' watch (``lien.federation.peers``: their
heights as last fetched, never waited for). Reads the store: call it off the event loop.
"""

from __future__ import annotations

from typing import Any

from ..store.store import StoredBlock
from .context import ApiContext

#: The latest blocks whose signatures the view lists.
recent_blocks_max = 10
#: Equivocations listed at most (the first ones: ``evidence_count`` says how many there are).
evidence_shown_max = 100


def federation_view(ctx: ApiContext) -> dict[str, Any]:
    """The JSON of ``GET /api/v1/federation`` (docs/protocol.md §12)."""
    node, info = ctx.node, ctx.federation
    summary = node.summary
    final_height = min(summary.final_height, summary.height)
    recent = ctx.store.blocks(max(0, summary.height - recent_blocks_max), recent_blocks_max)
    recent = [b for b in recent if b.header.height <= summary.height]
    evidence = list(node.evidence)  # a copy: the block loop appends to it
    own_key = bytes(node.validator_key.verify_key).hex() if node.validator_key else None
    final_time_ms = _final_time_ms(ctx, recent, final_height)
    return {
        "chain_id": summary.chain_id,
        "ordering": {"backend": info.backend, "stream": info.stream, "replicas": info.replicas},
        "height": summary.height,
        "final_height": final_height,
        "time_ms": summary.time_ms,
        "final_time_ms": final_time_ms,
        "finality_lag": {"blocks": summary.height - final_height,
                         "ms": summary.time_ms - final_time_ms},
        "quorum": node.validators.latest.quorum,
        "validators": [
            {"key": key, "this_node": key == own_key,
             "signed": sum(1 for b in recent if key in b.signatures),
             "last_signed_height": max((b.header.height for b in recent
                                        if key in b.signatures), default=None)}
            for key in node.validators.latest.keys
        ],
        "recent_blocks": [_block(b, node.validators.at(b.header.height).keys,
                                 b.header.height <= final_height)
                          for b in reversed(recent)],
        "peers": [view.to_json() for view in ctx.peers.views()],
        "evidence_count": len(evidence),
        "evidence": [e.to_json() for e in evidence[:evidence_shown_max]],
    }


def _final_time_ms(ctx: ApiContext, recent: list[StoredBlock], final_height: int) -> int:
    """The time of the last final block (the genesis time before any)."""
    if final_height == 0:
        return ctx.node.config.genesis_time_ms
    for block in recent:
        if block.header.height == final_height:
            return block.header.time_ms
    stored = ctx.store.block(final_height)
    return stored.header.time_ms if stored is not None else ctx.node.config.genesis_time_ms


def _block(block: StoredBlock, validators: tuple[str, ...], final: bool) -> dict[str, Any]:
    return {"height": block.header.height, "hash": block.header.hash,
            "time_ms": block.header.time_ms, "final": final,
            "signers": [key for key in validators if key in block.signatures]}
