"""CredentialLease: what was done for one credential request, keyed by its id. Never the keys.

The lease makes a request id an idempotency key: a replay of an answered request re-publishes the
stored outcome instead of issuing a second credential, and revocation and the expiry sweep find the
Secrets to delete by execution and expiry. States move forward only, by compare-and-set:
pending → issued | failed, issued → revoked | expired (pending → revoked when the execution ends first).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel

LeaseState = Literal["pending", "issued", "failed", "revoked", "expired"]
#: Leases whose Secret may exist on the compute's cluster.
LIVE: tuple[LeaseState, ...] = ("pending", "issued")


class CredentialLease(Document):
    id: str  # type: ignore[assignment]  # the credential request id
    execution: str
    storage: str
    compute: str
    storage_peer: str
    compute_peer: str
    namespace: str
    name: str = Field(description="Name of the Secret in `namespace`.")
    state: LeaseState = "pending"
    expires_at: datetime | None = None
    code: str = ""
    reason: str = ""
    outcome_subject: str = ""
    outcome: dict[str, Any] = Field(default_factory=dict, description="The outcome event as published.")
    updated_at: datetime

    class Settings:
        name = "credential_leases"
        indexes = [  # noqa: RUF012  (beanie's declaration style)
            IndexModel([("execution", ASCENDING), ("state", ASCENDING)]),
            IndexModel([("compute_peer", ASCENDING), ("state", ASCENDING), ("expires_at", ASCENDING)]),
        ]


async def move(lease_id: str, sources: tuple[LeaseState, ...], target: LeaseState, **fields: Any) -> bool:
    """Compare-and-set: move the lease to `target` only from one of `sources`; one store command."""
    result = await CredentialLease.get_pymongo_collection().update_one(
        {"_id": lease_id, "state": {"$in": list(sources)}}, {"$set": {"state": target, **fields}}
    )
    return result.modified_count == 1
