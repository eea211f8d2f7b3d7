"""The validators' votes over NATS: how a block becomes final on every node of a federation.

Each validator publishes its signature of every header it computes (``Vote``) to a replicated
JetStream stream of the chain (``LIEN_<chain>_VOTES``, subject ``lien.<chain>.votes``, kept
``votes_max_age_ms``); every node reads it and hands the votes to its node, which checks and
tallies them (``lien.node.finality``). A stream rather than plain messages: a node that was
down reads the votes it missed. The message id is the vote's height, key and hash, so a
retried publish is deduplicated but a second, different signature at one height (an
equivocation) is not hidden.

A validator publishes again its votes on the blocks still not final every
``resend_interval_ms``: a vote lost with a stream's storage, or published while the stream had
no leader, is not waited for forever.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from ..node.finality import Vote
from ..node.node import Node
from ..ordering.jetstream import NatsLink, ensure_stream, stream_name_for

log = logging.getLogger("lien.federation")

votes_max_age_ms = 24 * 3600 * 1000
resend_interval_ms = 5_000
#: how far back a starting node reads votes before its oldest block not yet final
replay_margin_ms = 60_000
publish_timeout_ms = 2_000
#: how long one vote is retried while the stream has no leader (the resend covers the rest)
publish_retry_ms_max = 10_000
#: votes kept for sending again after their publishing gave up
unsent_votes_max = 10_000


class VoteChannel:
    """A node's votes out and the federation's votes in."""

    def __init__(self, link: NatsLink, node: Node, replicas: int = 3,
                 start_timeout_ms: int = 30_000) -> None:
        self.link = link
        self.node = node
        self.name = stream_name_for(node.chain_id) + "_VOTES"
        self.subject = f"lien.{node.chain_id}.votes"
        config = StreamConfig(name=self.name, subjects=[self.subject], num_replicas=replicas,
                              storage=StorageType.FILE, max_age=votes_max_age_ms / 1000)
        link.run(ensure_stream(link.js, config, time.monotonic() + start_timeout_ms / 1000),
                 start_timeout_ms / 1000 + 5)
        self._sub: Any = None
        self._resender: asyncio.Task[None] | None = None
        #: votes whose publishing gave up (the stream without a leader too long): sent again
        #: with the next round, even if the block became final meanwhile (others may lack
        #: them for its own certificate)
        self._unsent: list[Vote] = []
        self.received = 0

    def start(self) -> None:
        """Read votes from a little before the oldest block this node has not finalised, send
        its own again, and from now on send each new one."""
        oldest = self._oldest_unfinal_ms()
        since_ms = (oldest if oldest is not None else time.time_ns() // 1_000_000)
        self.link.run(self._subscribe(since_ms - replay_margin_ms), 30)
        self.node.vote_sink = self.publish
        for vote in self.node.unfinal_votes():
            self.publish(vote)
        self.link.run(self._start_resender(), 5)

    def _oldest_unfinal_ms(self) -> int | None:
        block = self.node.store.block(self.node.oldest_waiting_height)
        return block.header.time_ms if block is not None else None

    async def _subscribe(self, since_ms: int) -> None:
        start = datetime.fromtimestamp(max(0, since_ms) / 1000, UTC)
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start)
        self._sub = await self.link.js.subscribe(
            self.subject, cb=self._on_message, ordered_consumer=True, stream=self.name,
            config=config)
        # The ordered consumer keeps this config and, when it recreates its consumer (its
        # server died, a gap), sets a start *sequence* in it but leaves the start time:
        # NATS refuses that (10094), and this node would never hear a vote again (seen with
        # nats-py 2.16 when the log stream's leader was killed under `lien bench
        # --federation`). The consumer exists now: the start time has served.
        config.opt_start_time = None

    async def _on_message(self, msg: Msg) -> None:
        try:
            vote = Vote.from_json(json.loads(msg.data))
        except (ValueError, TypeError) as exc:
            log.warning("a malformed vote on %s ignored: %s", self.subject, exc)
            return
        self.received += 1
        self.node.receive_votes([vote])

    def publish(self, vote: Vote) -> None:
        """Send ``vote`` (from the node's block loop: never blocks it)."""
        self.link.spawn(self._publish(vote))

    async def _publish(self, vote: Vote) -> None:
        msg_id = f"{vote.height}-{vote.key[:16]}-{vote.block_hash[:16]}"
        data = json.dumps(vote.to_json()).encode()
        deadline = time.monotonic() + publish_retry_ms_max / 1000
        delay_s = 0.02
        while True:
            try:
                await self.link.js.publish(self.subject, data, stream=self.name,
                                           timeout=publish_timeout_ms / 1000,
                                           headers={"Nats-Msg-Id": msg_id})
                return
            except (nats.errors.Error, nats.js.errors.Error) as exc:
                if time.monotonic() > deadline:
                    log.warning("vote at height %d not sent (%s): sent again later",
                                vote.height, exc)
                    if len(self._unsent) < unsent_votes_max:
                        self._unsent.append(vote)
                    return
            await asyncio.sleep(delay_s)  # the stream elects a leader: no event to wait on
            delay_s = min(2 * delay_s, 0.5)

    async def _start_resender(self) -> None:
        self._resender = asyncio.get_running_loop().create_task(self._resend())

    async def _resend(self) -> None:
        """Publish again this validator's votes on blocks that stay non-final; and when
        finality has not moved for a whole period while blocks wait, read the votes again
        from the oldest of them (a subscription can stall silently when its server dies)."""
        final = self.node.final_height
        while True:
            await asyncio.sleep(resend_interval_ms / 1000)  # a period, not a synchronisation
            loop = asyncio.get_running_loop()
            votes = await loop.run_in_executor(None, self.node.unfinal_votes)
            unsent, self._unsent = self._unsent, []
            for vote in [*unsent, *votes]:
                await self._publish(vote)
            stalled = self.node.final_height == final and self.node.summary.height > final
            final = self.node.final_height
            if stalled:
                oldest = await loop.run_in_executor(None, self._oldest_unfinal_ms)
                if oldest is not None:
                    await self._resubscribe(oldest - replay_margin_ms)

    async def _resubscribe(self, since_ms: int) -> None:
        log.warning("finality has not moved for %d ms: reading the votes again",
                    resend_interval_ms)
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except nats.errors.Error as exc:
                log.debug("unsubscribing votes: %s", exc)
            self._sub = None
        try:
            await self._subscribe(since_ms)
        except (nats.errors.Error, nats.js.errors.Error) as exc:
            log.warning("reading the votes again failed (%s): tried again later", exc)

    def close(self) -> None:
        self.node.vote_sink = None

        async def stop() -> None:
            if self._resender is not None:
                self._resender.cancel()
            if self._sub is not None:
                try:
                    await self._sub.unsubscribe()
                except nats.errors.Error as exc:
                    log.debug("unsubscribing votes: %s", exc)

        try:
            self.link.run(stop(), 5)
        except Exception as exc:  # the connection is already gone
            log.debug("closing the votes channel: %s", exc)
