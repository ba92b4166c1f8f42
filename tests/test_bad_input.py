"""Bad input, sent by another system over NATS: each kind gets its documented answer, at once, and valid
traffic sent in between is still confirmed.

On a stream subject the answer is a dead letter naming the problem (and, for a booking with a usable id,
its `rejected` event); on `jetflow.ctl` a 4xx JSON error naming it.
"""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from pymongo.errors import OperationFailure

from engine.app import Engine
from engine.bus.deadletter import EXCERPT
from schemas.booking import MAX_RESOURCES
from tests.corpus.bad_inputs import nested, padded
from tests.support.streams import request_json, stream_messages, wait_for_messages
from tests.test_booking import BOOKINGS, NODE, booking, register

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from engine.bus.consumer import Delivery
    from engine.runtime import Runtime
    from engine.settings import Settings

DLQ = "JETFLOW_DLQ"
BOOKING_DLQ = "jetflow.dlq.jetflow.booking.request"


async def reply_of(client: Client, subject: str, body: bytes, timeout: float = 5.0) -> tuple[dict[str, Any], Msg]:
    reply = await client.request(subject, body, timeout=timeout)
    return json.loads(reply.data), reply


async def rejected_events(client: Client, booking_id: str, count: int = 1) -> list[dict[str, Any]]:
    found = await wait_for_messages(client, BOOKINGS, "jetflow.booking.rejected", count, timeout=10)
    return [event for _, event in found if event["booking"] == booking_id]


async def confirmed(client: Client, booking_id: str) -> None:
    reply = await request_json(client, "jetflow.ctl.booking.request", booking(booking_id, 80, 90))
    assert reply["status"] == "confirmed", reply


# --- bodies up to NATS's max_payload ---------------------------------------------------------------


@pytest.mark.parametrize("size", [500_000, 900_000, 1_040_000])
async def test_a_large_booking_on_the_stream_is_dead_lettered_with_its_origin_and_rejected(
    engine: Runtime, client: Client, size: int
) -> None:
    await register(client, NODE)
    js = client.jetstream()
    body = padded(booking("bk-big", 10, 70), size)
    ack = await js.publish("jetflow.booking.request", body, headers={"Nats-Msg-Id": "bk-big"})
    valid = booking("bk-ok", 10, 70)
    await js.publish("jetflow.booking.request", json.dumps(valid).encode(), headers={"Nats-Msg-Id": "bk-ok"})

    [(_, letter)] = await wait_for_messages(client, DLQ, BOOKING_DLQ, 1)
    assert (letter["code"], letter["size"], letter["stream"], letter["sequence"]) == (
        "oversized",
        size,
        BOOKINGS,
        ack.seq,
    )
    assert f"payload is {size} bytes" in letter["reason"]
    assert letter["deliveries"] == 1  # answered at once, never redelivered
    kept = base64.b64decode(letter["data"])
    if size <= 700_000:  # fits a dead letter whole: replayable as it is
        assert (kept, letter["truncated"]) == (body, False)
    else:  # kept as an excerpt; stream/sequence name the original
        assert (kept, letter["truncated"]) == (body[:EXCERPT], True)
    [rejected] = await rejected_events(client, "bk-big")
    assert rejected["code"] == "invalid"
    assert "limit" in rejected["reason"]
    [(_, ok)] = await wait_for_messages(client, BOOKINGS, "jetflow.booking.confirmed", 1)
    assert ok["booking"] == "bk-ok"


async def test_a_large_body_over_ctl_is_a_client_error(engine: Runtime, client: Client) -> None:
    await register(client, NODE)
    reply, msg = await reply_of(client, "jetflow.ctl.booking.request", padded(booking("bk-big", 10, 70), 900_000))
    assert (reply["status"], reply["code"], reply["error"]["code"]) == ("rejected", "invalid", "oversized")
    assert msg.headers is not None
    assert msg.headers["Nats-Service-Error-Code"] == "400"
    query, msg = await reply_of(client, "jetflow.ctl.resource.get", b'{"id": "' + b"x" * 900_000 + b'"}')
    assert (query["status"], query["error"]["code"]) == ("error", "oversized")
    assert msg.headers is not None
    assert msg.headers["Nats-Service-Error-Code"] == "400"
    await confirmed(client, "bk-ok")
    # Answered and counted as rejected; no dead letter (issue 16: nothing to replay).
    assert await stream_messages(client, DLQ, "jetflow.dlq.jetflow.ctl.>") == []


# --- nesting and non-finite numbers ----------------------------------------------------------------


DEEP = b'{"id": "bk-deep", "workflow": "alpr", "labels": ' + nested(50_000) + b"}"
NOT_FINITE: list[tuple[str, bytes, str, str]] = [
    ("nested-50000", DEEP, "malformed_json", "nests deeper than 200 levels"),
    ("nested-201", b'{"id": "bk-201", "labels": ' + nested(201) + b"}", "malformed_json", "nests deeper"),
    ("nan", b'{"id": "bk-nan", "duration": NaN}', "malformed_json", "NaN and Infinity are not JSON numbers"),
    ("infinity", b'{"id": "bk-inf", "duration": Infinity}', "malformed_json", "not JSON numbers"),
    ("minus-infinity", b'{"id": "bk-minf", "duration": -Infinity}', "malformed_json", "not JSON numbers"),
]


@pytest.mark.parametrize(("case", "body", "code", "words"), NOT_FINITE, ids=[c[0] for c in NOT_FINITE])
async def test_deep_or_non_finite_json_is_refused_at_once_on_both_ways_in(
    engine: Runtime, client: Client, case: str, body: bytes, code: str, words: str
) -> None:
    await register(client, NODE)
    started = time.monotonic()
    reply, msg = await reply_of(client, "jetflow.ctl.booking.request", body)
    assert (reply["status"], reply["error"]["code"]) == ("error", code), reply
    assert words in reply["error"]["reason"]
    assert msg.headers is not None
    assert msg.headers["Nats-Service-Error-Code"] == "400"
    js = client.jetstream()
    await js.publish("jetflow.booking.request", body, headers={"Nats-Msg-Id": f"bad-{case}"})
    await js.publish("jetflow.booking.request", json.dumps(booking("bk-ok", 10, 70)).encode())
    [(_, letter)] = await wait_for_messages(client, DLQ, BOOKING_DLQ, 1)
    assert (letter["code"], letter["deliveries"]) == (code, 1)  # permanent: never retried
    assert words in letter["reason"]
    assert time.monotonic() - started < 5  # not ~150 s of redeliveries
    [(_, ok)] = await wait_for_messages(client, BOOKINGS, "jetflow.booking.confirmed", 1)
    assert ok["booking"] == "bk-ok"


async def test_a_number_too_large_for_a_float_is_refused_by_the_schema(engine: Runtime, client: Client) -> None:
    await register(client, NODE)
    body = json.dumps(booking("bk-huge", 10, 70)).encode()[:-1] + b', "duration": 1e999}'
    reply = await request_json(client, "jetflow.ctl.booking.request", body)
    assert (reply["status"], reply["code"], reply["error"]["code"]) == ("rejected", "invalid", "schema")
    assert "duration" in reply["reason"]
    await confirmed(client, "bk-ok")


# --- a booking naming too many resources -----------------------------------------------------------


async def test_a_booking_naming_more_than_256_resources_is_refused_up_front(engine: Runtime, client: Client) -> None:
    await register(client, NODE)
    names = [f"node-{i}" for i in range(MAX_RESOURCES + 1)]
    started = time.monotonic()
    reply = await request_json(client, "jetflow.ctl.booking.request", booking("bk-many", 10, 70, resources=names))
    assert (reply["status"], reply["code"], reply["error"]["code"]) == ("rejected", "invalid", "schema")
    assert f"at most {MAX_RESOURCES} items" in reply["reason"]
    assert time.monotonic() - started < 3
    js = client.jetstream()
    stream_body = booking("bk-many-2", 10, 70, resources=[f"r-{i}" for i in range(500)])
    await js.publish("jetflow.booking.request", json.dumps(stream_body).encode())
    await js.publish("jetflow.booking.request", json.dumps(booking("bk-ok", 10, 70)).encode())
    [rejected] = await rejected_events(client, "bk-many-2", count=2)
    assert rejected["code"] == "invalid"
    assert f"at most {MAX_RESOURCES} items" in rejected["reason"]
    # The stream's copy is dead-lettered; the ctl one was answered (issue 16: no dead letter for it).
    letters = await wait_for_messages(client, DLQ, "jetflow.dlq.>", 1)
    assert [(letter["subject"], letter["code"]) for _, letter in letters] == [("jetflow.booking.request", "schema")]
    [(_, ok)] = await wait_for_messages(client, BOOKINGS, "jetflow.booking.confirmed", 1)
    assert ok["booking"] == "bk-ok"


@pytest.mark.timeout(90)
async def test_a_booking_of_256_resources_is_decided(engine: Runtime, client: Client) -> None:
    js = client.jetstream()
    names = [f"node-{i}" for i in range(MAX_RESOURCES)]
    for name in names:
        await js.publish("jetflow.resource.upsert", json.dumps({**NODE, "id": name}).encode())
    await register(client, {**NODE, "id": names[-1]})
    reply = await request_json(
        client, "jetflow.ctl.booking.request", booking("bk-all", 10, 70, resources=names), timeout=30
    )
    assert reply["status"] == "confirmed", reply
    assert sorted(reply["resources"]) == sorted(names)


async def test_a_store_refusal_is_permanent_not_retried(
    settings: Settings, nats_url: str, mongo_url: str, client: Client
) -> None:
    calls: list[int] = []

    async def install(runtime: Runtime) -> None:
        from schemas.catalog import Resource

        @runtime.consumers.durable(runtime.router, name="refused", subject="jetflow.resource.refused", model=Resource)
        async def refused(resource: Resource, delivery: Delivery) -> None:
            calls.append(delivery.deliveries)
            if resource.id == "poison":
                raise OperationFailure("Expression tree is too large (maximum depth 1000)")

    jetflow = Engine(settings, nats_url=nats_url, mongo_url=mongo_url, extra_features=(install,))
    await jetflow.start()
    try:
        js = client.jetstream()
        await js.publish("jetflow.resource.refused", json.dumps({**NODE, "id": "poison"}).encode())
        await js.publish("jetflow.resource.refused", json.dumps(NODE).encode())
        [(_, letter)] = await wait_for_messages(client, DLQ, "jetflow.dlq.jetflow.resource.refused", 1)
        assert letter["code"] == "permanent"
        assert "Expression tree is too large" in letter["reason"]
        assert letter["deliveries"] == 1
        assert calls == [1, 1]  # once each: the poison one was not retried, the next one was handled
    finally:
        await jetflow.stop()


# --- cancels ---------------------------------------------------------------------------------------


async def test_cancelling_an_unknown_or_rejected_booking_is_answered_at_once(engine: Runtime, client: Client) -> None:
    await register(client, NODE)
    rejected = await request_json(client, "jetflow.ctl.booking.request", booking("bk-past", -60, 10))
    assert rejected["status"] == "rejected"
    started = time.monotonic()
    unknown, msg = await reply_of(client, "jetflow.ctl.booking.cancel", b'{"id": "c-1", "booking": "bk-none"}')
    assert (unknown["status"], unknown["error"]["reason"]) == ("error", "unknown booking 'bk-none'")
    assert msg.headers is not None
    assert msg.headers["Nats-Service-Error-Code"] == "400"
    refused, _ = await reply_of(client, "jetflow.ctl.booking.cancel", b'{"id": "c-2", "booking": "bk-past"}')
    assert (refused["status"], refused["error"]["reason"]) == (
        "error",
        "booking 'bk-past' was rejected; there is nothing to cancel",
    )
    assert time.monotonic() - started < 2  # not "accepted ... no outcome within 10s"
    # The stream path answers the same commands with a dead letter and the same reasons; the ctl
    # refusals are answered only (issue 16: counted as rejected, no dead letter).
    js = client.jetstream()
    await js.publish("jetflow.booking.cancel", b'{"id": "c-3", "booking": "bk-none"}')
    await js.publish("jetflow.booking.cancel", b'{"id": "c-4", "booking": "bk-past"}')
    stream_letters = await wait_for_messages(client, DLQ, "jetflow.dlq.jetflow.booking.cancel", 2)
    assert await stream_messages(client, DLQ, "jetflow.dlq.jetflow.ctl.>") == []
    reasons = sorted(letter["reason"] for _, letter in stream_letters)
    assert reasons == sorted([unknown["error"]["reason"], refused["error"]["reason"]])
    assert reasons == [
        "booking 'bk-past' was rejected; there is nothing to cancel",
        "unknown booking 'bk-none'",
    ]
    # Valid cancels in between are answered as before.
    await confirmed(client, "bk-ok")
    done = await request_json(client, "jetflow.ctl.booking.cancel", {"id": "c-5", "booking": "bk-ok"})
    assert done["status"] == "cancelled"


async def test_a_cancel_id_with_dots_round_trips(engine: Runtime, client: Client) -> None:
    await register(client, NODE)
    await confirmed(client, "bk-c")
    command = {"id": "cancel.dot.1", "booking": "bk-c"}
    first = await request_json(client, "jetflow.ctl.booking.cancel", command)
    started = time.monotonic()
    again = await request_json(client, "jetflow.ctl.booking.cancel", command)
    assert first["status"] == "cancelled"
    assert again == first  # answered from the store, not "accepted" after the ctl timeout
    assert time.monotonic() - started < 2
    record = await request_json(client, "jetflow.ctl.booking.get", {"id": "bk-c"})
    assert list(record["cancellations"]) == ["cancel.dot.1"]
    # The same command on the stream is recognised too: its event again, nothing dead-lettered.
    await client.jetstream().publish("jetflow.booking.cancel", json.dumps(command).encode())
    other = await request_json(client, "jetflow.ctl.booking.cancel", {"id": "cancel.dot.2", "booking": "bk-c"})
    assert (other["status"], other["already"]) == ("cancelled", True)
    assert await stream_messages(client, DLQ, "jetflow.dlq.>") == []


# --- keys the store cannot hold, credential requests -----------------------------------------------


async def test_a_label_key_the_store_cannot_hold_is_refused_by_the_schema(engine: Runtime, client: Client) -> None:
    # It used to pass the schema, claim its resource, fail for good when its record was written
    # (InvalidDocument) and be rejected `unavailable` with "the store is unreachable".
    await register(client, NODE)
    body = booking("bk-nul", 10, 70, labels={"a\x00b": "x"})
    reply, msg = await reply_of(client, "jetflow.ctl.booking.request", json.dumps(body).encode())
    assert (reply["status"], reply["code"], reply["error"]["code"]) == ("rejected", "invalid", "schema")
    assert "contains the NUL character" in reply["reason"]
    assert msg.headers is not None
    assert msg.headers["Nats-Service-Error-Code"] == "400"
    js = client.jetstream()
    await js.publish("jetflow.booking.request", json.dumps(body | {"id": "bk-nul-2"}).encode())
    [(_, letter)] = await wait_for_messages(client, DLQ, BOOKING_DLQ, 1)
    assert (letter["code"], letter["deliveries"]) == ("schema", 1)
    [rejected] = await rejected_events(client, "bk-nul-2", count=2)
    assert rejected["code"] == "invalid"
    assert "contains the NUL character" in rejected["reason"]
    await confirmed(client, "bk-ok")  # the resource was never claimed by either


async def test_a_credential_request_that_fails_its_schema_gets_its_failed_event(
    engine: Runtime, client: Client
) -> None:
    request = {"id": "cr-bad", "execution": "ex-1", "storage": "minio-b", "bucket": "Bad_Bucket", "access": "read"}
    reply, msg = await reply_of(client, "jetflow.ctl.credential.request", json.dumps(request).encode())
    assert (reply["status"], reply["code"], reply["error"]["code"]) == ("failed", "invalid", "schema")
    assert (reply["request"], reply["execution"]) == ("cr-bad", "ex-1")
    assert "not a valid bucket name" in reply["reason"]
    assert msg.headers is not None
    assert msg.headers["Nats-Service-Error-Code"] == "400"
    await client.jetstream().publish("jetflow.credential.request", json.dumps(request | {"id": "cr-bad-2"}).encode())
    [(_, letter)] = await wait_for_messages(client, DLQ, "jetflow.dlq.jetflow.credential.request", 1)
    assert letter["code"] == "schema"
    failed = await wait_for_messages(client, "JETFLOW_CREDENTIALS", "jetflow.credential.failed", 2)
    assert sorted((event["request"], event["code"]) for _, event in failed) == [
        ("cr-bad", "invalid"),
        ("cr-bad-2", "invalid"),
    ]
    assert all("not a valid bucket name" in event["reason"] for _, event in failed)


async def test_a_bad_copy_of_an_answered_credential_request_keeps_its_outcome(engine: Runtime, client: Client) -> None:
    request = {"id": "cr-1", "execution": "ex-1", "storage": "nowhere", "bucket": "frames", "access": "read"}
    first = await request_json(client, "jetflow.ctl.credential.request", request | {"compute": "node-a"})
    assert (first["status"], first["code"]) == ("failed", "unknown_storage")
    copy = await request_json(client, "jetflow.ctl.credential.request", request | {"access": "root"})
    assert copy.pop("error")["code"] == "schema"  # what is wrong with this copy...
    assert copy == first  # ...and the stored answer, not a new `invalid` one
    failed = await wait_for_messages(client, "JETFLOW_CREDENTIALS", "jetflow.credential.failed", 1)
    assert [event["code"] for _, event in failed] == ["unknown_storage"]
