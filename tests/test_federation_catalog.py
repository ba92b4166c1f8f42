"""The federated catalog: B's public resources reach A and C by JetStream stream sourcing across domains
(engine/streams.py `federation_configs`, engine/embedded/natsconf.py), read-only, with B as their `peer`;
updates and removals follow; private resources stay home; A cannot write B's resource; and a linked peer
reaches nothing of B's JetStream but the consumer B keeps for it on its public stream, so it cannot have B push
anything onto a subject of its choice.

Three `jetflow run` processes, each with its own nats-server (tests/support/federation.py) and database,
started once for the module: the scenario is one story, told in order.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import nats
import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from engine.claims.calendar import unpacked
from engine.streams import STREAMS, public_stream
from schemas import subjects
from tests.support.federation import federated, leaf_env
from tests.support.polling import eventually
from tests.support.process import EngineProcess, wait_for_instances
from tests.support.streams import request_json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from nats.aio.client import Client
    from nats.aio.msg import Msg

PEERS = ("a", "b", "c")
#: Each peer's database, read as an observer.
STORES: dict[str, Any] = {}
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def peers(tmp_path_factory: pytest.TempPathFactory, mongo_url: str) -> AsyncIterator[dict[str, Client]]:
    root: Path = tmp_path_factory.mktemp("federated-catalog")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    engines: list[EngineProcess] = []
    clients: dict[str, Client] = {}
    async with federated(root / "nats", *PEERS) as federation:
        try:
            for name in PEERS:
                database = f"{name}-{uuid.uuid4().hex[:10]}"
                STORES[name] = mongo[database]
                log = root / f"{name}.log"
                engine = EngineProcess(
                    federation.urls[name], mongo_url, database, log, peer_id=name, **leaf_env(federation, name)
                )
                engine.start()
                engines.append(engine)
                clients[name] = await nats.connect(federation.urls[name])
            for client in clients.values():
                await wait_for_instances(client, 1, timeout=90)
            yield clients
        finally:
            for engine in engines:
                engine.stop()
            for client in clients.values():
                await client.close()
            await mongo.close()


def getter(client: Client, resource: str) -> Callable[[], Awaitable[dict[str, Any]]]:
    """`get` of one resource on one peer, to poll."""
    return lambda: get(client, resource)


async def get(client: Client, resource: str) -> dict[str, Any]:
    reply: dict[str, Any] = await request_json(client, "jetflow.ctl.resource.get", {"id": resource})
    return reply


async def listed(client: Client) -> dict[str, dict[str, Any]]:
    page = await request_json(client, "jetflow.ctl.resource.list", {"limit": 100})
    return {item["id"]: item for item in page["items"]}


async def publish(client: Client, subject: str, body: dict[str, Any]) -> None:
    await client.jetstream().publish(subject, json.dumps(body).encode())


@pytest.mark.timeout(180)
async def test_public_resources_follow_their_owner_and_stay_read_only(peers: dict[str, Client]) -> None:
    a, b, c = peers["a"], peers["b"], peers["c"]
    await publish(b, subjects.RESOURCE_UPSERT, {"id": "gpu-b", "capacity": 2, "visibility": "public"})
    await publish(b, subjects.RESOURCE_UPSERT, {"id": "secret-b", "capacity": 1})
    for reader in (a, c):
        found = await eventually(getter(reader, "gpu-b"), lambda f: f.get("status") != "error", timeout=30)
        assert (found["peer"], found["capacity"], found["visibility"]) == ("b", 2, "public")
    assert (await get(b, "gpu-b"))["peer"] == "local"  # the owner's own entry

    # Updated on B: follows.
    await publish(b, subjects.RESOURCE_UPSERT, {"id": "gpu-b", "capacity": 5, "visibility": "public"})
    for reader in (a, c):
        await eventually(getter(reader, "gpu-b"), lambda f: f.get("capacity") == 5, timeout=15)
    # The private one never left B (the public update behind it did arrive).
    assert (await get(b, "secret-b"))["id"] == "secret-b"
    for reader in (a, c):
        assert "secret-b" not in await listed(reader)
        assert (await listed(reader))["gpu-b"]["peer"] == "b"

    # A tries to define or change B's resource: refused with the reason, the copy unchanged.
    await publish(a, subjects.RESOURCE_UPSERT, {"id": "gpu-b", "capacity": 99})
    await publish(a, subjects.RESOURCE_UPSERT, {"id": "other-b", "peer": "b"})
    await publish(a, subjects.RESOURCE_REMOVE, {"id": "rm-1", "resource": "gpu-b"})
    reasons = await eventually(lambda: dead_letters(a), lambda found: len(found) >= 3, timeout=15)
    assert any("belongs to peer 'b'" in reason for reason in reasons), reasons
    assert any("names peer 'b'" in reason for reason in reasons), reasons
    assert (await get(a, "gpu-b"))["capacity"] == 5
    assert (await get(a, "other-b"))["status"] == "error"

    # A booking on A naming gpu-b, known on A only through the federated catalog, is claimed on B.
    await publish(a, subjects.WORKFLOW_UPSERT, {"id": "wf", "steps": [{"name": "s", "image": "alpine:3.20"}]})
    await eventually(lambda: request_json(a, "jetflow.ctl.workflow.get", {"id": "wf"}), lambda f: "steps" in f)
    start = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    booking = {
        "id": "bk-fed",
        "workflow": "wf",
        "resources": ["gpu-b"],
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
    }
    outcome = await request_json(a, "jetflow.ctl.booking.request", booking, timeout=40)
    assert outcome["status"] == "confirmed", outcome
    calendar = await STORES["b"]["calendars"].find_one({"_id": "gpu-b"})
    assert calendar is not None
    assert [fields[0] for fields in unpacked(calendar["claims"])] == ["a:bk-fed"]

    # Removed on B: disappears on A and C.
    await publish(b, subjects.RESOURCE_REMOVE, {"id": "rm-2", "resource": "gpu-b"})
    for reader in (a, c, b):
        await eventually(getter(reader, "gpu-b"), lambda f: f.get("status") == "error", timeout=15)
    # Made private again after being public: gone from the others too.
    await publish(b, subjects.RESOURCE_UPSERT, {"id": "disk-b", "kind": "storage", "visibility": "public"})
    await eventually(lambda: get(c, "disk-b"), lambda f: f.get("peer") == "b", timeout=15)
    await publish(b, subjects.RESOURCE_UPSERT, {"id": "disk-b", "kind": "storage"})
    await eventually(lambda: get(c, "disk-b"), lambda f: f.get("status") == "error", timeout=15)
    assert (await get(b, "disk-b"))["visibility"] == "private"


async def dead_letters(client: Client) -> list[str]:
    page = await request_json(client, "jetflow.ctl.dlq.list", {"limit": 50})
    return [json.dumps(item) for item in page.get("items", [])]


@pytest.mark.timeout(60)
async def test_a_peer_reaches_only_the_consumer_of_anothers_public_stream(peers: dict[str, Client]) -> None:
    a, b = peers["a"], peers["b"]
    before = {spec.name: (await b.jetstream().stream_info(spec.name)).state.messages for spec in STREAMS}
    # Through the API prefix its source uses, A may create a consumer on B's public stream only.
    api = subjects.public_api("b")
    for call in (
        f"STREAM.INFO.{STREAMS[0].name}",
        f"STREAM.INFO.{public_stream('b')}",
        f"CONSUMER.CREATE.{STREAMS[1].name}.x.jetflow.booking.>",
        f"STREAM.MSG.GET.{public_stream('b')}",
        f"STREAM.DELETE.{public_stream('b')}",
    ):
        with pytest.raises((nats.errors.NoRespondersError, nats.errors.TimeoutError)):
            await a.request(f"{api}.{call}", b"{}", timeout=1)
    # B's domain API and its stream subjects are not reachable from A either.
    with pytest.raises(nats.js.errors.ServiceUnavailableError):
        await a.jetstream(domain="b", timeout=1).stream_info(public_stream("b"))
    for spec in STREAMS:
        await a.publish(spec.subjects[0].replace(">", "x.y"), b"{}")
    await a.publish(subjects.public_resource("forged"), b"{}")
    await a.flush()
    after = {spec.name: (await b.jetstream().stream_info(spec.name)).state.messages for spec in STREAMS}
    # A's own public stream took A's forged entry, and B's engine sources it from A as A's: it dead-letters the
    # bad body in its own DLQ. Nothing else on B changed.
    assert {k: v for k, v in after.items() if k != "JETFLOW_DLQ"} == {
        k: v for k, v in before.items() if k != "JETFLOW_DLQ"
    }
    forged = '"subject": "jetflow.federated.a.resource.forged"'
    letters = await eventually(lambda: dead_letters(b), lambda found: any(forged in f for f in found), timeout=15)
    assert letters, "B dead-letters the forged entry it sourced from A"
    for letter in letters:
        assert forged in letter, letter
    assert "forged" not in await listed(b)
    assert "forged" not in await listed(peers["c"])


@pytest.mark.timeout(60)
async def test_a_peer_cannot_make_another_push_onto_a_subject_of_its_choice(peers: dict[str, Client]) -> None:
    a, b = peers["a"], peers["b"]
    js = b.jetstream()
    consumers = {info.name: info.config.deliver_subject for info in await js.consumers_info(public_stream("b"))}
    # B keeps one consumer per linked reader, each pushing to that reader's subject.
    assert consumers == {"reader-a": "jetflow.public.deliver.b.a", "reader-c": "jetflow.public.deliver.b.c"}
    before = {spec.name: (await js.stream_info(spec.name)).state.messages for spec in STREAMS}
    heard: list[str] = []

    async def hear(msg: Msg) -> None:
        heard.append(msg.subject)

    await b.subscribe(subjects.BOOKING_REQUEST, cb=hear)
    await b.flush()
    # A asks B's server for a push consumer delivering B's public entries onto B's own booking subject.
    evil = {"deliver_subject": subjects.BOOKING_REQUEST, "deliver_policy": "all", "ack_policy": "none"}
    body = json.dumps({"stream_name": public_stream("b"), "config": evil}).encode()
    api = subjects.public_api("b")
    for stream in (public_stream("b"), STREAMS[1].name):
        for call in (
            f"CONSUMER.CREATE.{stream}",
            f"CONSUMER.CREATE.{stream}.evil",
            f"CONSUMER.CREATE.{stream}.evil.jetflow.public.>",
            f"CONSUMER.DURABLE.CREATE.{stream}.evil",
            f"CONSUMER.RESET.{stream}.reader-c",  # another reader's consumer
        ):
            for prefix in (api, "$JS.b.API"):
                with pytest.raises((nats.errors.NoRespondersError, nats.errors.TimeoutError)):
                    await a.request(f"{prefix}.{call}", body, timeout=1)
    # The one call A's source makes does reach B (so the refusals above are the configuration's): it resets A's
    # own consumer, whatever the body says, and changes nothing of it.
    reply = json.loads((await a.request(f"{api}.CONSUMER.RESET.{public_stream('b')}.reader-a", body, timeout=5)).data)
    assert reply.get("type") == "io.nats.jetstream.api.v1.consumer_reset_response", reply
    # B publishes a public entry: it reaches A's catalog, and nothing lands on B's booking subject or streams.
    await publish(b, subjects.RESOURCE_UPSERT, {"id": "probe-b", "capacity": 1, "visibility": "public"})
    await eventually(getter(a, "probe-b"), lambda found: found.get("peer") == "b", timeout=15)
    after = {info.name: info.config.deliver_subject for info in await js.consumers_info(public_stream("b"))}
    assert after == consumers
    assert heard == []
    counts = {spec.name: (await js.stream_info(spec.name)).state.messages for spec in STREAMS}
    assert counts == {**before, "JETFLOW_CATALOG": before["JETFLOW_CATALOG"] + 1}
