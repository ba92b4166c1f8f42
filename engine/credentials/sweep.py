"""Expired credentials are cleaned up by the peer whose cluster holds their Secret.

Each instance periodically deletes the Secrets of its own peer's leases that expired (keys that no
longer work, of executions whose end event was lost or whose revocation was dead-lettered) and marks
the lease expired by compare-and-set. No leader is needed: replicas of one peer racing on the same
lease delete the same Secret (404 is fine) and only one moves the lease.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from engine.credentials import lease as leases
from engine.credentials.lease import CredentialLease
from engine.credentials.secret import SECRET

if TYPE_CHECKING:
    from engine.core.clock import Clock
    from engine.kube.client import Kube

log = logging.getLogger(__name__)


async def sweep_expired(peer_id: str, kube: Kube, clock: Clock, *, limit: int = 100) -> int:
    """Delete this peer's expired Secrets (at most `limit` per call); how many leases expired."""
    now = clock.now()
    expired = (
        await CredentialLease.find({"compute_peer": peer_id, "state": "issued", "expires_at": {"$lte": now}})
        .limit(limit)
        .to_list()
    )
    count = 0
    for lease in expired:
        await kube.delete(*SECRET, lease.namespace, lease.name)
        if await leases.move(lease.id, ("issued",), "expired", updated_at=now):
            count += 1
    if count:
        log.info("deleted %d expired credential Secret(s)", count)
    return count


async def sweep_forever(peer_id: str, kube: Kube, clock: Clock, interval: float) -> None:
    while True:
        try:
            await sweep_expired(peer_id, kube, clock)
        except Exception:
            # A store or cluster outage: try again next round; the loop must not die.
            log.exception("expired credential sweep failed")
        await asyncio.sleep(interval)
