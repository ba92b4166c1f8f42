"""Retention: what ended long enough ago leaves the store, what may still change stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from engine.booking.owner import PeerClaim
from engine.credentials.lease import CredentialLease, LeaseState
from engine.executions.bookings import BookingRecord, BookingStatus
from engine.executions.store import ExecutionRecord
from engine.retention.service import Retention
from engine.settings import Settings
from schemas.booking import BookingRequest
from schemas.execution import ExecutionState
from tests.support.streams import request_json

if TYPE_CHECKING:
    from nats.aio.client import Client

    from engine.runtime import Runtime

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=8)  # beyond the default retention of 7 days
FRESH = NOW - timedelta(days=1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No scheduler: its horizon would store and move the hand-made bookings under the test.
    return settings.replace(scheduler_enabled=False)


def booking(
    booking_id: str, status: BookingStatus, *, decided: datetime, end: datetime, **fields: Any
) -> BookingRecord:
    request = BookingRequest(
        id=booking_id, workflow="wf", resources=["node-a"], start=end - timedelta(hours=1), end=end
    )
    return BookingRecord(
        id=booking_id,
        request=request,
        status=status,
        outcome_subject=f"jetflow.booking.{status}",
        outcome={},
        decided_at=decided,
        **fields,
    )


def execution(execution_id: str, booking_id: str, state: ExecutionState, updated: datetime) -> ExecutionRecord:
    return ExecutionRecord(
        id=execution_id,
        booking=booking_id,
        workflow="wf",
        resources=["node-a"],
        planned_at=updated - timedelta(hours=1),
        window_end=updated,
        state=state,
        updated_at=updated,
    )


def lease(lease_id: str, state: LeaseState, *, updated: datetime, expires: datetime | None) -> CredentialLease:
    return CredentialLease(
        id=lease_id,
        execution="x",
        storage="minio",
        compute="node-a",
        storage_peer="local",
        compute_peer="local",
        namespace="jf-x",
        name="s3-minio",
        state=state,
        expires_at=expires,
        updated_at=updated,
    )


async def remaining() -> dict[str, set[str]]:
    return {
        "executions": {r.id for r in await ExecutionRecord.find_all().to_list()},
        "bookings": {r.id for r in await BookingRecord.find_all().to_list()},
        "credential_leases": {r.id for r in await CredentialLease.find_all().to_list()},
        "peer_claims": {r.id for r in await PeerClaim.find_all().to_list()},
    }


def peer_claim(key: str, *, end: datetime) -> PeerClaim:
    return PeerClaim(id=key, state="released", reply={}, resources=["node-a"], end=end, updated_at=end)


async def test_sweep_deletes_what_ended_before_the_retention_and_keeps_the_rest(
    engine: Runtime, client: Client
) -> None:
    await BookingRecord.insert_many(
        [
            booking("rejected-old", "rejected", decided=OLD, end=NOW),
            booking("rejected-fresh", "rejected", decided=FRESH, end=NOW),
            booking("cancelled-old", "cancelled", decided=OLD, end=NOW + timedelta(days=30)),
            # Decided long ago, cancelled recently: its cancelled execution dates the cancel.
            booking("cancelled-recently", "cancelled", decided=OLD, end=NOW + timedelta(days=30)),
            booking("confirmed-ended", "confirmed", decided=OLD, end=OLD),
            booking("confirmed-pending", "confirmed", decided=OLD, end=OLD),
            booking("confirmed-unstored", "confirmed", decided=OLD, end=OLD, next_unstored=NOW + timedelta(days=1)),
            booking("confirmed-finished-lately", "confirmed", decided=OLD, end=OLD),
            booking("confirmed-fresh", "confirmed", decided=OLD, end=FRESH),
        ]
    )
    await ExecutionRecord.insert_many(
        [
            execution("ended-old", "confirmed-ended", ExecutionState.SUCCEEDED, OLD),
            execution("failed-old", "confirmed-ended", ExecutionState.FAILED, OLD),
            execution("running-old", "confirmed-pending", ExecutionState.RUNNING, OLD),
            execution("ended-fresh", "confirmed-finished-lately", ExecutionState.TIMED_OUT, FRESH),
            execution("cancelled-fresh", "cancelled-recently", ExecutionState.CANCELLED, FRESH),
        ]
    )
    await CredentialLease.insert_many(
        [
            lease("expired-old", "expired", updated=OLD, expires=OLD),
            lease("failed-old", "failed", updated=OLD, expires=None),
            lease("revoked-keys-fresh", "revoked", updated=OLD, expires=FRESH),
            lease("revoked-fresh", "revoked", updated=FRESH, expires=FRESH),
            lease("issued-old", "issued", updated=OLD, expires=OLD),
        ]
    )
    await PeerClaim.insert_many([peer_claim("b:ended-old", end=OLD), peer_claim("b:ended-fresh", end=FRESH)])

    reply = await request_json(client, "jetflow.ctl.retention.sweep", b"")

    assert reply["deleted"] == {"executions": 2, "bookings": 3, "credential_leases": 2, "peer_claims": 1}
    assert await remaining() == {
        "executions": {"running-old", "ended-fresh", "cancelled-fresh"},
        "bookings": {
            "rejected-fresh",
            "cancelled-recently",
            "confirmed-pending",
            "confirmed-unstored",
            "confirmed-finished-lately",
            "confirmed-fresh",
        },
        "credential_leases": {"revoked-keys-fresh", "revoked-fresh", "issued-old"},
        "peer_claims": {"b:ended-fresh"},
    }
    gone = await request_json(client, "jetflow.ctl.booking.get", {"id": "confirmed-ended"})
    assert gone["status"] == "error"
    assert "unknown booking" in gone["error"]["reason"]
    again = await request_json(client, "jetflow.ctl.retention.sweep", b"")
    assert again["deleted"] == {"executions": 0, "bookings": 0, "credential_leases": 0, "peer_claims": 0}


async def test_sweep_is_bounded_and_pending_bookings_do_not_hide_the_others(engine: Runtime) -> None:
    retention = Retention(engine.settings.retention.keep, batch=2)
    await ExecutionRecord.insert_many(
        [execution(f"old-{n}", "b-busy", ExecutionState.SUCCEEDED, OLD) for n in range(5)]
        + [execution(f"pending-{n}", f"b-{n}", ExecutionState.DUE, OLD) for n in range(3)]
    )
    # Three bookings that stay sort before the one that may go.
    await BookingRecord.insert_many(
        [booking(f"b-{n}", "confirmed", decided=OLD, end=OLD) for n in range(3)]
        + [booking("b-z", "rejected", decided=OLD, end=OLD)]
    )

    sweeps = [await retention.sweep(NOW) for _ in range(3)]

    assert [s["executions"] for s in sweeps] == [2, 2, 1]
    assert sum(s["bookings"] for s in sweeps) == 1
    assert await BookingRecord.get("b-z") is None
    assert {r.id for r in await BookingRecord.find_all().to_list()} == {"b-0", "b-1", "b-2"}


def test_retention_below_the_duplicate_window_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.load(retention=300, duplicate_window=600, _env_file=None)
    assert "JETFLOW_RETENTION" in str(refused.value)
    assert "JETFLOW_DUPLICATE_WINDOW" in str(refused.value)
    assert Settings.load(retention=600, duplicate_window=600, _env_file=None).retention.keep == 600
