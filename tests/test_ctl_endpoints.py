"""The ctl endpoints the operator CLI needs: booking.list, execution.get|cancel, dlq.list|get|replay."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.support.streams import request_json, stream_messages, wait_for_messages
from tests.test_booking import NODE, booking, register

if TYPE_CHECKING:
    from nats.aio.client import Client

    from engine.runtime import Runtime

DLQ = "JETFLOW_DLQ"


async def test_bookings_are_listed_by_id_with_filters_and_pages(engine: Runtime, client: Client) -> None:
    await register(client, NODE)
    for name, start in (("bk-a", 10), ("bk-b", 200), ("bk-c", 400)):
        assert (await request_json(client, "jetflow.ctl.booking.request", booking(name, start, start + 60)))[
            "status"
        ] == "confirmed"
    past = await request_json(client, "jetflow.ctl.booking.request", booking("bk-past", -60, 10))
    assert past["status"] == "rejected"
    first = await request_json(client, "jetflow.ctl.booking.list", {"limit": 2})
    assert [item["id"] for item in first["items"]] == ["bk-a", "bk-b"]
    second = await request_json(client, "jetflow.ctl.booking.list", {"limit": 2, "cursor": first["next"]})
    assert [item["id"] for item in second["items"]] == ["bk-c", "bk-past"]
    assert second["next"] is None
    rejected = await request_json(client, "jetflow.ctl.booking.list", {"status": "rejected"})
    assert [(item["id"], item["status"]) for item in rejected["items"]] == [("bk-past", "rejected")]
    assert "in the past" in rejected["items"][0]["reason"]
    bad = await request_json(client, "jetflow.ctl.booking.list", {"status": "maybe"})
    assert bad["error"]["code"] == "schema"


async def test_one_execution_is_cancelled_alone(engine: Runtime, client: Client) -> None:
    await register(client, NODE)
    cron = booking("bk-cron", 120, 180, cron="*/10 * * * *", duration=60)
    assert (await request_json(client, "jetflow.ctl.booking.request", cron))["status"] == "confirmed"
    planned = await request_json(client, "jetflow.ctl.execution.list", {"booking": "bk-cron", "limit": 2})
    first, second = (item["id"] for item in planned["items"])
    # Beyond the scheduler's horizon: only planned, not stored yet; `get` reads it all the same.
    assert (await request_json(client, "jetflow.ctl.execution.get", {"id": first}))["state"] == "scheduled"
    reply = await request_json(client, "jetflow.ctl.execution.cancel", {"execution": first, "reason": "maintenance"})
    assert reply == {
        "status": "cancelled",
        "execution": first,
        "booking": "bk-cron",
        "previous": "scheduled",
        "already": False,
    }
    again = await request_json(client, "jetflow.ctl.execution.cancel", {"execution": first})
    assert (again["status"], again["already"]) == ("cancelled", True)
    got = await request_json(client, "jetflow.ctl.execution.get", {"id": first})
    assert (got["state"], got["reason"]) == ("cancelled", "maintenance")
    assert (await request_json(client, "jetflow.ctl.execution.get", {"id": second}))["state"] == "scheduled"
    assert (await request_json(client, "jetflow.ctl.booking.get", {"id": "bk-cron"}))["status"] == "confirmed"
    [(headers, event)] = await wait_for_messages(client, "JETFLOW_EXECUTIONS", "jetflow.execution.cancelled", 1)
    assert (event["execution"], event["reason"], headers["Nats-Msg-Id"]) == (first, "maintenance", f"{first}:cancelled")
    unknown = await request_json(client, "jetflow.ctl.execution.cancel", {"execution": "bk-cron-20200101t000000"})
    assert unknown["error"]["reason"] == "unknown execution 'bk-cron-20200101t000000'"
    missing = await request_json(client, "jetflow.ctl.execution.get", {"id": "nope"})
    assert missing["error"]["reason"] == "unknown execution 'nope'"


async def test_dead_letters_are_listed_read_and_replayed(engine: Runtime, client: Client) -> None:
    js = client.jetstream()
    for index in range(3):
        bad = f'{{"id": "r-{index}", "capacity": "lots"}}'.encode()
        await js.publish("jetflow.resource.upsert", bad, headers={"Nats-Msg-Id": f"r{index}"})
    await js.publish("jetflow.booking.cancel", b'{"id": "c-1", "booking": "bk-none"}')
    assert len(await wait_for_messages(client, DLQ, "jetflow.dlq.>", 4, timeout=30)) == 4
    page = await request_json(client, "jetflow.ctl.dlq.list", {"limit": 2})
    assert len(page["items"]) == 2
    assert "data" not in page["items"][0]  # a summary; dlq.get has the body
    rest = await request_json(client, "jetflow.ctl.dlq.list", {"cursor": page["next"]})
    assert rest["next"] is None
    every = page["items"] + rest["items"]
    assert [item["seq"] for item in every] == sorted({item["seq"] for item in every})  # in order, none twice
    assert sorted(item["subject"] for item in every) == ["jetflow.booking.cancel"] + ["jetflow.resource.upsert"] * 3
    upserts = [item for item in every if item["subject"] == "jetflow.resource.upsert"]
    cancels = await request_json(client, "jetflow.ctl.dlq.list", {"subject": "jetflow.booking.>"})
    [letter] = cancels["items"]
    assert letter["reason"] == "unknown booking 'bk-none'"
    whole = await request_json(client, "jetflow.ctl.dlq.get", {"seq": letter["seq"]})
    assert whole["subject"] == "jetflow.booking.cancel"
    assert whole["data"]
    # Replayed as it came (no Nats-Msg-Id then, none now): the original bytes on the original subject.
    replayed = await request_json(client, "jetflow.ctl.dlq.replay", {"seq": letter["seq"]})
    assert (replayed["stream"], replayed["duplicate"], replayed["msg_id"]) == ("JETFLOW_BOOKINGS", False, None)
    copies = await stream_messages(client, "JETFLOW_BOOKINGS", "jetflow.booking.cancel")
    assert [body for _, body in copies] == [{"id": "c-1", "booking": "bk-none"}] * 2
    chosen = await request_json(client, "jetflow.ctl.dlq.replay", {"seq": upserts[0]["seq"], "msg_id": "again-1"})
    assert (chosen["msg_id"], chosen["duplicate"]) == ("again-1", False)
    nothing = await request_json(client, "jetflow.ctl.dlq.get", {"seq": 999})
    assert nothing["error"]["reason"] == "no dead letter at JETFLOW_DLQ sequence 999"


async def test_a_truncated_dead_letter_is_replayed_from_its_original(engine: Runtime, client: Client) -> None:
    body = json.dumps({"id": "bk-big", "labels": {"pad": "x" * 900_000}}).encode()
    js = client.jetstream()
    ack = await js.publish("jetflow.booking.request", body, headers={"Nats-Msg-Id": "bk-big"})
    [(_, letter)] = await wait_for_messages(client, DLQ, "jetflow.dlq.jetflow.booking.request", 1)
    assert (letter["truncated"], letter["sequence"]) == (True, ack.seq)
    [listed] = (await request_json(client, "jetflow.ctl.dlq.list", {}))["items"]
    replayed = await request_json(client, "jetflow.ctl.dlq.replay", {"seq": listed["seq"], "new_id": True})
    assert replayed["duplicate"] is False
    copy = await js.get_msg("JETFLOW_BOOKINGS", replayed["sequence"])
    assert copy.data == body  # the whole original, read from its stream, not the dead letter's excerpt
    assert copy.headers is not None
    assert copy.headers["Nats-Msg-Id"].startswith("bk-big:replay-")
