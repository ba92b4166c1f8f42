"""Bookings end to end over NATS: confirmations, conflicts, replays, cancels, queries, bad input."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from engine.claims.calendar import Calendars, ResourceCalendar
from engine.core.errors import TemporaryError
from tests.support.polling import eventually
from tests.support.streams import request_json, settled, stream_messages, wait_for_messages

if TYPE_CHECKING:
    from nats.aio.client import Client

    from engine.runtime import Runtime
    from engine.settings import Settings
    from tests.support.engines import Engines

BOOKINGS = "JETFLOW_BOOKINGS"


def at(minutes: float) -> str:
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)
    return moment.isoformat().replace("+00:00", "Z")


async def register(client: Client, *resources: dict[str, Any], workflow: str = "alpr") -> None:
    js = client.jetstream()
    for resource in resources:
        await js.publish("jetflow.resource.upsert", json.dumps(resource).encode())
    step = {"name": "detect", "image": "alpine:3.20", "command": ["sleep", "5"], "resource": resources[0]["id"]}
    await js.publish("jetflow.workflow.upsert", json.dumps({"id": workflow, "steps": [step]}).encode())

    async def known(family: str, id_: str) -> None:
        await eventually(
            lambda: request_json(client, f"jetflow.ctl.{family}.get", {"id": id_}),
            lambda reply: reply.get("status") != "error",
            timeout=5.0,
        )

    for resource in resources:  # wait until the catalog has them
        await known("resource", resource["id"])
    await known("workflow", workflow)


NODE = {"id": "node-a", "kind": "compute", "capacity": 1}
STORAGE = {"id": "minio-b", "kind": "storage", "capacity": 1}


def booking(booking_id: str, start: float, end: float, **extra: Any) -> dict[str, Any]:
    return {"id": booking_id, "workflow": "alpr", "resources": ["node-a"], "start": at(start), "end": at(end), **extra}


async def test_one_shot_booking_confirms_and_schedules_one_execution(engine: Runtime, client: Client) -> None:
    await register(client, NODE, STORAGE)
    reply = await request_json(
        client, "jetflow.ctl.booking.request", booking("bk-42", 10, 70, resources=["node-a", "minio-b"])
    )
    assert reply["status"] == "confirmed", reply
    assert reply["booking"] == "bk-42"
    assert len(reply["executions"]) == 1
    listed = await request_json(client, "jetflow.ctl.execution.list", {"booking": "bk-42"})
    assert [item["state"] for item in listed["items"]] == ["scheduled"]
    assert listed["items"][0]["id"] == reply["executions"][0]
    assert listed["next"] is None
    record = await request_json(client, "jetflow.ctl.booking.get", {"id": "bk-42"})
    assert record["status"] == "confirmed"


async def test_overlap_on_capacity_one_is_rejected_naming_resource_and_window(engine: Runtime, client: Client) -> None:
    await register(client, NODE)
    first = await request_json(client, "jetflow.ctl.booking.request", booking("bk-1", 10, 70))
    second = await request_json(client, "jetflow.ctl.booking.request", booking("bk-2", 30, 90))
    touching = await request_json(client, "jetflow.ctl.booking.request", booking("bk-3", 70, 90))
    assert first["status"] == "confirmed"
    assert second["status"] == "rejected"
    assert second["code"] == "conflict"
    assert "node-a" in second["reason"]
    assert second["conflicts"][0]["resource"] == "node-a"
    assert second["conflicts"][0]["booking"] == "bk-1"
    assert touching["status"] == "confirmed"  # [10, 70) and [70, 90) do not overlap


async def test_all_or_nothing_releases_claims_of_the_free_resource(engine: Runtime, client: Client) -> None:
    await register(client, NODE, STORAGE)
    assert (
        await request_json(client, "jetflow.ctl.booking.request", {**booking("hold", 10, 70), "resources": ["minio-b"]})
    )["status"] == "confirmed"
    both = await request_json(
        client, "jetflow.ctl.booking.request", booking("both", 10, 70, resources=["node-a", "minio-b"])
    )
    assert both["status"] == "rejected"
    # node-a was claimed first (sorted order) and must have been released
    alone = await request_json(client, "jetflow.ctl.booking.request", booking("alone", 10, 70))
    assert alone["status"] == "confirmed"
    assert (await request_json(client, "jetflow.ctl.execution.list", {"booking": "both"}))["items"] == []


async def test_same_request_three_times_gives_one_booking_and_one_event(engine: Runtime, client: Client) -> None:
    await register(client, {**NODE, "capacity": 200})
    request = booking("bk-3x", 10, 11, cron="0-10 * * * * *")
    js = client.jetstream()
    for _ in range(3):
        await js.publish("jetflow.booking.request", json.dumps(request).encode(), headers={"Nats-Msg-Id": "bk-3x"})
    replies = [await request_json(client, "jetflow.ctl.booking.request", request) for _ in range(3)]
    assert {r["status"] for r in replies} == {"confirmed"}
    assert len({tuple(r["executions"]) for r in replies}) == 1
    await asyncio.sleep(0.3)
    confirmed = await stream_messages(client, BOOKINGS, "jetflow.booking.confirmed")
    assert len(confirmed) == 1
    executions = await request_json(client, "jetflow.ctl.execution.list", {"booking": "bk-3x", "limit": 1000})
    assert len(executions["items"]) == len(replies[0]["executions"]) == 11  # one minute: seconds 0..10


async def test_copies_published_without_msg_id_announce_the_outcome_once(engine: Runtime, client: Client) -> None:
    # Three stream messages with the same booking id (no Nats-Msg-Id, so JetStream keeps all three):
    # one decision, and one `confirmed` even for a core-NATS subscriber, who sees every publish.
    await register(client, NODE)
    heard = await client.subscribe("jetflow.booking.confirmed")
    request = json.dumps(booking("bk-copies", 10, 70)).encode()
    js = client.jetstream()
    for _ in range(3):
        await js.publish("jetflow.booking.request", request)
    first = await heard.next_msg(timeout=10)
    assert json.loads(first.data)["booking"] == "bk-copies"
    await settled(client, BOOKINGS, "jetflow-booking-request")  # all three copies handled
    with pytest.raises(TimeoutError):
        await heard.next_msg(timeout=0.5)
    assert len(await stream_messages(client, BOOKINGS, "jetflow.booking.request")) == 3
    reply = await request_json(client, "jetflow.ctl.booking.request", booking("bk-copies", 10, 70))
    assert reply["status"] == "confirmed"  # answered from the store
    assert len((await request_json(client, "jetflow.ctl.execution.list", {"booking": "bk-copies"}))["items"]) == 1


async def test_invalid_request_published_durably_is_rejected_and_dead_lettered(engine: Runtime, client: Client) -> None:
    await register(client, NODE)
    body = booking("bk-backwards", 20, 10)  # end before start
    await client.jetstream().publish("jetflow.booking.request", json.dumps(body).encode())
    rejected = await eventually(lambda: stream_messages(client, BOOKINGS, "jetflow.booking.rejected"), timeout=5.0)
    assert [(e["booking"], e["code"]) for _, e in rejected] == [("bk-backwards", "invalid")]
    assert "must be after start" in rejected[0][1]["reason"]
    dead = await stream_messages(client, "JETFLOW_DLQ", "jetflow.dlq.jetflow.booking.request")
    assert [d["code"] for _, d in dead] == ["schema"]
    assert (await request_json(client, "jetflow.ctl.booking.get", {"id": "bk-backwards"}))["status"] == "error"
    # Nothing was decided: a valid request with that id is confirmed, and a bad copy after that is
    # answered with the decision rather than unsaying it.
    assert (await request_json(client, "jetflow.ctl.booking.request", booking("bk-backwards", 10, 20)))[
        "status"
    ] == "confirmed"
    again = await request_json(client, "jetflow.ctl.booking.request", body)
    assert (again["status"], again["error"]["code"]) == ("confirmed", "schema")
    assert len(await stream_messages(client, BOOKINGS, "jetflow.booking.rejected")) == 1


async def test_load_scenario_15_cron_bookings_make_165_executions(engine: Runtime, client: Client) -> None:
    await register(client, {**NODE, "capacity": 200})
    minute = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
    cron = f"0-10 {minute.minute} {minute.hour} {minute.day} {minute.month} *"
    window = {"start": minute.isoformat(), "end": (minute + timedelta(minutes=1)).isoformat()}
    replies = await asyncio.gather(
        *(
            request_json(
                client,
                "jetflow.ctl.booking.request",
                {"id": f"load-{i}", "workflow": "alpr", "resources": ["node-a"], "cron": cron, **window},
                timeout=30,
            )
            for i in range(15)
        )
    )
    assert [r["status"] for r in replies] == ["confirmed"] * 15
    ids: list[str] = []
    page: dict[str, Any] = {"state": "scheduled", "limit": 50}
    while True:
        listed = await request_json(client, "jetflow.ctl.execution.list", page)
        ids += [item["id"] for item in listed["items"]]
        if listed["next"] is None:
            break
        page = {**page, "cursor": listed["next"]}
    assert len(ids) == len(set(ids)) == 165


async def test_cancel_twice_is_harmless_and_frees_the_resource(engine: Runtime, client: Client) -> None:
    await register(client, NODE)
    assert (await request_json(client, "jetflow.ctl.booking.request", booking("bk-c", 10, 70)))["status"] == "confirmed"
    first = await request_json(client, "jetflow.ctl.booking.cancel", {"id": "cancel-1", "booking": "bk-c"})
    again = await request_json(client, "jetflow.ctl.booking.cancel", {"id": "cancel-1", "booking": "bk-c"})
    other = await request_json(client, "jetflow.ctl.booking.cancel", {"id": "cancel-2", "booking": "bk-c"})
    assert first["status"] == "cancelled"
    assert len(first["executions"]) == 1
    assert first["already"] is False
    assert again == first
    assert other["status"] == "cancelled"
    assert other["already"] is True
    assert other["executions"] == []
    listed = await request_json(client, "jetflow.ctl.execution.list", {"booking": "bk-c"})
    assert [item["state"] for item in listed["items"]] == ["cancelled"]
    assert (await request_json(client, "jetflow.ctl.booking.request", booking("bk-d", 10, 70)))["status"] == "confirmed"


BAD = [
    ("end-before-start", {"start": at(20), "end": at(10)}, "must be after start"),
    ("past", {"start": at(-60), "end": at(10)}, "in the past"),
    ("bad-cron", {"cron": "61 * * * *"}, "minute"),
    ("no-occurrence", {"cron": "0 0 1 1 *", "start": at(10), "end": at(20)}, "no occurrence"),
    ("unknown-resource", {"resources": ["node-z"]}, "node-z"),
    ("unknown-workflow", {"workflow": "nope"}, "nope"),
    ("duplicate-resource", {"resources": ["node-a", "node-a"]}, "more than once"),
    ("bad-name", {"resources": ["Node_A"]}, "Kubernetes name"),
    ("too-many", {"cron": "* * * * * *", "start": at(10), "end": at(60 * 24 * 30)}, "executions"),
]


@pytest.mark.parametrize(("case", "change", "words"), BAD, ids=[b[0] for b in BAD])
async def test_bad_booking_is_refused_with_a_precise_reason_and_nothing_persisted(
    engine: Runtime, client: Client, case: str, change: dict[str, Any], words: str
) -> None:
    await register(client, NODE)
    reply = await request_json(client, "jetflow.ctl.booking.request", {**booking(f"bad-{case}", 10, 70), **change})
    assert reply["status"] == "rejected", reply
    assert reply["booking"] == f"bad-{case}"
    assert words in reply["reason"], reply
    rejected = await stream_messages(client, BOOKINGS, "jetflow.booking.rejected")
    assert [event["booking"] for _, event in rejected] == [f"bad-{case}"]  # durable watchers hear it too
    assert (await request_json(client, "jetflow.ctl.execution.list", {}))["items"] == []
    calendars = await engine.store.db["calendars"].find({"claims.0": {"$exists": True}}).to_list()
    assert calendars == []


async def test_a_booking_that_cannot_be_decided_is_rejected_unavailable_and_keeps_no_claim(
    engine: Runtime, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(client, NODE, STORAGE)
    real_claim = Calendars.claim

    async def store_fails_after_the_first(self: Calendars, resource: str, *args: Any, **kwargs: Any) -> Any:
        if resource == "node-a":  # claimed after minio-b (sorted order): minio-b's claim is partial
            raise TemporaryError("the store is down")
        return await real_claim(self, resource, *args, **kwargs)

    monkeypatch.setattr(Calendars, "claim", store_fails_after_the_first)
    js = client.jetstream()
    request = booking("stuck", 10, 70, resources=["node-a", "minio-b"])
    await js.publish("jetflow.booking.request", json.dumps(request).encode(), headers={"Nats-Msg-Id": "stuck"})
    [(_, rejected)] = await wait_for_messages(client, BOOKINGS, "jetflow.booking.rejected", 1, timeout=20)
    assert (rejected["booking"], rejected["code"]) == ("stuck", "unavailable")
    assert "the store is down" in rejected["reason"]
    assert "gave up after 3 deliveries" in rejected["reason"]
    [(_, letter)] = await wait_for_messages(client, "JETFLOW_DLQ", "jetflow.dlq.>", 1)
    assert letter["code"] == "exhausted"
    monkeypatch.setattr(Calendars, "claim", real_claim)
    partial = await ResourceCalendar.get("minio-b")
    assert partial is not None  # it was claimed...
    assert partial.claims == []  # ...and given back
    again = await request_json(client, "jetflow.ctl.booking.request", request)
    assert (again["status"], again["code"]) == ("rejected", "unavailable")  # recorded: a replay gets the same answer
    other = await request_json(client, "jetflow.ctl.booking.request", booking("after", 10, 70, resources=["minio-b"]))
    assert other["status"] == "confirmed"  # minio-b was given back


async def test_a_large_booking_does_not_hold_up_a_small_one_and_lists_every_execution(
    settings: Settings, engines: Engines, client: Client
) -> None:
    # Expanding 100,000 cron occurrences takes seconds of CPU: the default 25 s handler timeout, not the suite's 4 s.
    engine = await engines.runtime(settings.replace(handler_timeout=25.0, ack_wait=30.0))
    await register(client, NODE, {**STORAGE, "capacity": 1})
    large = booking("large", 10, 10 + 60 * 24 * 69, cron="* * * * *", duration=30)  # 99,360 executions
    small = booking("small", 10, 70, resources=["minio-b"])
    heard = await client.subscribe("jetflow.booking.>")
    js = client.jetstream()
    for body in (large, small):
        await js.publish("jetflow.booking.request", json.dumps(body).encode(), headers={"Nats-Msg-Id": body["id"]})
    order: list[dict[str, Any]] = []
    while len(order) < 2:
        message = await heard.next_msg(timeout=60)
        if message.subject in ("jetflow.booking.confirmed", "jetflow.booking.rejected"):
            order.append(json.loads(message.data))
    assert [(event["booking"], event.get("reason")) for event in order] == [("small", None), ("large", None)]
    confirmed = order[1]
    assert confirmed["count"] == 60 * 24 * 69
    assert len(confirmed["executions"]) == 1000  # the first ones; the rest are listed
    page = await request_json(client, "jetflow.ctl.execution.list", {"booking": "large", "limit": 1000})
    assert [item["id"] for item in page["items"]] == confirmed["executions"]
    assert {item["state"] for item in page["items"]} == {"scheduled"}
    later = await request_json(client, "jetflow.ctl.execution.list", {"booking": "large", "cursor": page["next"]})
    assert later["items"][0]["planned_at"] > page["items"][-1]["planned_at"]
    query = {"cursor": confirmed["executions"][500], "limit": 3}
    deep = await request_json(client, "jetflow.ctl.execution.list", query)
    assert [item["id"] for item in deep["items"]] == confirmed["executions"][501:504]  # no booking filter either
    stored = await engine.store.db["executions"].count_documents({"booking": "large"})
    assert stored < 20  # only those within the scheduler's horizon (10 minutes) are written


async def test_a_cron_booking_without_duration_holds_each_execution_for_the_default(
    engines: Engines, settings: Settings, client: Client
) -> None:
    await engines.runtime(settings.replace(cron_duration=120.0))
    await register(client, NODE)  # capacity 1: the booking's executions must not overlap each other
    hourly = await request_json(client, "jetflow.ctl.booking.request", booking("bk-h", 60, 240, cron="0 * * * *"))
    assert hourly["status"] == "confirmed", hourly
    every_minute = booking("bk-m", 300, 310, cron="* * * * *")
    assert (await request_json(client, "jetflow.ctl.booking.request", every_minute))["status"] == "confirmed"
    for booking_id, seconds in (("bk-h", 120), ("bk-m", 60)):
        record = await request_json(client, "jetflow.ctl.booking.get", {"id": booking_id})
        assert record["request"]["duration"] == f"PT{seconds // 60}M"  # stored with the booking
        page = await request_json(client, "jetflow.ctl.execution.list", {"booking": booking_id})
        lengths = [
            (datetime.fromisoformat(e["window_end"]) - datetime.fromisoformat(e["planned_at"])).total_seconds()
            for e in page["items"]
        ]
        assert set(lengths[:-1]) == {seconds}  # the last one ends with the booking at the latest
        assert 0 < lengths[-1] <= seconds
