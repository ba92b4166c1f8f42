"""The foundation, seen from outside: health, bad input to the dead-letter stream, retries, replay."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import generate_latest

from engine.core.errors import PermanentError, TemporaryError
from tests.support.polling import eventually
from tests.support.streams import request_json, stream_messages, wait_for_messages

if TYPE_CHECKING:
    from nats.aio.client import Client

    from engine.bus.consumer import Delivery
    from engine.runtime import Runtime
    from engine.settings import Settings
    from schemas.catalog import Resource
    from tests.support.engines import Engines

NODE = {"id": "node-a", "kind": "compute", "capacity": 200, "peer": "local"}
DLQ = "JETFLOW_DLQ"


async def test_health_answers_with_stream_and_store_state(engine: Runtime, client: Client) -> None:
    health = await request_json(client, "jetflow.ctl.health", b"")
    assert health["status"] == "ok"
    assert health["store"] == {"reachable": True}
    assert set(health["streams"]) >= {"JETFLOW_BOOKINGS", "JETFLOW_DLQ", "JETFLOW_METRICS"}
    assert "jetflow-resource-upsert" in health["consumers"]


async def test_micro_service_is_discoverable(engine: Runtime, client: Client) -> None:
    ping = json.loads((await client.request("$SRV.PING.jetflow", b"", timeout=2)).data)
    assert ping["name"] == "jetflow"
    info = json.loads((await client.request("$SRV.INFO.jetflow", b"", timeout=2)).data)
    assert "jetflow.ctl.health" in {endpoint["subject"] for endpoint in info["endpoints"]}


async def test_event_is_applied_and_readable(engine: Runtime, client: Client) -> None:
    js = client.jetstream()
    await js.publish("jetflow.resource.upsert", json.dumps(NODE).encode(), headers={"Nats-Msg-Id": "r1"})
    resource = await _eventually(client, "jetflow.ctl.resource.get", {"id": "node-a"})
    assert resource["capacity"] == 200


BAD_INPUTS: list[tuple[str, bytes, dict[str, str], str, str]] = [
    ("malformed", b'{"id": "node-a",', {}, "malformed_json", "not valid JSON"),
    ("schema", json.dumps({**NODE, "capacity": "lots"}).encode(), {}, "schema", "capacity"),
    ("unknown-field", json.dumps({**NODE, "colour": "red"}).encode(), {}, "unknown_field", "colour"),
    ("oversized", json.dumps({**NODE, "labels": {"x": "y" * 300_000}}).encode(), {}, "oversized", "limit"),
    ("content-type", json.dumps(NODE).encode(), {"content-type": "application/xml"}, "content_type", "not JSON"),
    ("not-an-object", b"[1, 2]", {}, "schema", "JSON object"),
]


@pytest.mark.parametrize(("case", "body", "headers", "code", "words"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
async def test_bad_input_is_dead_lettered_once_and_engine_goes_on(
    engine: Runtime, client: Client, case: str, body: bytes, headers: dict[str, str], code: str, words: str
) -> None:
    js = client.jetstream()
    for _ in range(2):  # the same message twice, same Nats-Msg-Id
        await js.publish("jetflow.resource.upsert", body, headers={**headers, "Nats-Msg-Id": f"bad-{case}"})
    letters = await wait_for_messages(client, DLQ, "jetflow.dlq.jetflow.resource.upsert", 1)
    assert len(letters) == 1
    _, letter = letters[0]
    assert letter["code"] == code
    assert words in letter["reason"]
    assert letter["subject"] == "jetflow.resource.upsert"
    assert letter["headers"]["Nats-Msg-Id"] == f"bad-{case}"
    # The engine is unaffected: a good message after the bad one is applied.
    await js.publish("jetflow.resource.upsert", json.dumps(NODE).encode(), headers={"Nats-Msg-Id": f"ok-{case}"})
    assert (await _eventually(client, "jetflow.ctl.resource.get", {"id": "node-a"}))["id"] == "node-a"
    assert (await request_json(client, "jetflow.ctl.health", b""))["status"] == "ok"


def exported(metric: str, **labels: str) -> float:
    """The current value of a Prometheus sample of this process (0 when it has none yet)."""
    wanted = ",".join(f'{name}="{value}"' for name, value in sorted(labels.items()))
    for line in generate_latest().decode().splitlines():
        name, _, rest = line.partition("{")
        if name == metric and rest.rpartition("}")[0] and _labels(rest.rpartition("}")[0]) == wanted:
            return float(line.rsplit(" ", 1)[-1])
    return 0.0


def _labels(text: str) -> str:
    pairs = [
        pair for pair in text.split(",") if pair and not pair.startswith(("otel_", "service_", "job=", "instance="))
    ]
    return ",".join(sorted(pairs))


async def test_bad_ctl_request_gets_json_error_and_is_counted_as_rejected(engine: Runtime, client: Client) -> None:
    """Issue 16: a bad ctl request is answered and counted as rejected; it is no dead letter (nothing to replay),
    so an operator's typo does not grow jetflow_dead_letters_total or fire the DLQ alert."""
    labels = {"endpoint": "resource-get", "code": "unknown_field"}
    before = exported("jetflow_ctl_rejected_total", **labels)
    dead = {"subject": "jetflow.ctl.resource.get", "code": "unknown_field"}
    dead_before = exported("jetflow_dead_letters_total", **dead)
    reply = await client.request("jetflow.ctl.resource.get", b'{"id": 1, "extra": true}', timeout=5)
    body = json.loads(reply.data)
    assert body["status"] == "error"
    assert body["error"]["code"] == "unknown_field"
    assert "extra" in body["error"]["reason"]
    assert reply.headers is not None
    assert reply.headers["Nats-Service-Error-Code"] == "400"
    not_json = json.loads((await client.request("jetflow.ctl.resource.get", b"{not json", timeout=5)).data)
    assert not_json["error"]["code"] == "malformed_json"
    assert exported("jetflow_ctl_rejected_total", **labels) == before + 1
    assert exported("jetflow_ctl_rejected_total", endpoint="resource-get", code="malformed_json") >= 1
    assert exported("jetflow_dead_letters_total", **dead) == dead_before
    assert await stream_messages(client, DLQ, "jetflow.dlq.>") == []


async def test_unknown_resource_get_names_it(engine: Runtime, client: Client) -> None:
    body = await request_json(client, "jetflow.ctl.resource.get", {"id": "nope"})
    assert body["error"]["reason"] == "unknown resource 'nope'"


# --- retries and dead letters, with a handler that fails on purpose ----------------------------------


def failing_feature(calls: list[int], failure: type[Exception], succeed_on: int | None = None) -> Any:
    async def install(runtime: Runtime) -> None:
        from schemas.catalog import Resource

        @runtime.consumers.durable(runtime.router, name="flaky", subject="jetflow.resource.flaky", model=Resource)
        async def flaky(resource: Resource, delivery: Delivery) -> None:
            calls.append(delivery.deliveries)
            if succeed_on is None or delivery.deliveries < succeed_on:
                raise failure("store is down") if failure is not PermanentError else PermanentError("bad request")

    return install


@pytest.mark.parametrize(
    ("failure", "succeed_on", "expected_calls", "code"),
    [
        (TemporaryError, None, [1, 2, 3], "exhausted"),
        (RuntimeError, None, [1, 2, 3], "exhausted"),
        (TemporaryError, 2, [1, 2], None),
        (PermanentError, None, [1], "permanent"),
    ],
)
async def test_redelivery_with_backoff_then_dead_letter(
    engines: Engines,
    client: Client,
    failure: type[Exception],
    succeed_on: int | None,
    expected_calls: list[int],
    code: str | None,
) -> None:
    calls: list[int] = []
    jetflow = await engines.start(extra_features=[failing_feature(calls, failure, succeed_on)])
    await client.jetstream().publish("jetflow.resource.flaky", json.dumps(NODE).encode())
    letters = await wait_for_messages(client, DLQ, "jetflow.dlq.jetflow.resource.flaky", 1, timeout=4 if code else 1.5)
    await jetflow.stop()
    assert calls == expected_calls
    assert [letter["code"] for _, letter in letters] == ([code] if code else [])
    if code:
        _, letter = letters[0]
        assert letter["deliveries"] == expected_calls[-1]
        assert json.loads(__import__("base64").b64decode(letter["data"])) == NODE


async def test_a_temporary_error_is_redelivered_after_the_delay_it_names(engines: Engines, client: Client) -> None:
    """`TemporaryError(delay=…)` replaces the consumer's backoff (0.1 s here) for that redelivery."""
    arrivals: list[float] = []

    async def install(runtime: Runtime) -> None:
        from schemas.catalog import Resource

        @runtime.consumers.durable(runtime.router, name="later", subject="jetflow.resource.later", model=Resource)
        async def later(resource: Resource, delivery: Delivery) -> None:
            arrivals.append(time.monotonic())
            if delivery.deliveries == 1:
                raise TemporaryError("not ready yet", delay=1.5)

    await engines.start(extra_features=[install])
    await client.jetstream().publish("jetflow.resource.later", json.dumps(NODE).encode())
    await eventually(lambda: len(arrivals), lambda count: count >= 2, timeout=10.0)
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 1.5


async def test_restart_keeps_consumer_position(engines: Engines, client: Client) -> None:
    """Messages published while no engine runs are processed by the next one, once."""
    js = client.jetstream()
    first = await engines.start()
    await first.stop()
    await js.publish("jetflow.resource.upsert", json.dumps(NODE).encode(), headers={"Nats-Msg-Id": "while-down"})
    second = await engines.start()
    assert (await _eventually(client, "jetflow.ctl.resource.get", {"id": "node-a"}))["capacity"] == 200
    await second.stop()
    assert await stream_messages(client, DLQ, "jetflow.dlq.>") == []


async def _eventually(client: Client, subject: str, body: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """The reply to `body` on `subject` once it is no error (else the last one)."""
    reply: dict[str, Any] = await eventually(
        lambda: request_json(client, subject, body), lambda reply: reply.get("status") != "error", timeout=timeout
    )
    return reply


async def test_message_whose_handler_hangs_is_dead_lettered_when_redelivery_stops(
    settings: Settings, engines: Engines, client: Client
) -> None:
    """No exception to catch: the handler never returns. It is timed out, retried, then dead-lettered."""
    release = asyncio.Event()
    calls: list[int] = []

    async def install(runtime: Runtime) -> None:
        from schemas.catalog import Resource

        @runtime.consumers.durable(runtime.router, name="hangs", subject="jetflow.resource.hangs", model=Resource)
        async def hangs(resource: Resource, delivery: Delivery) -> None:
            calls.append(delivery.deliveries)
            await release.wait()

    jetflow = await engines.start(settings.replace(handler_timeout=0.5, max_deliver=2), extra_features=[install])
    try:
        await client.jetstream().publish("jetflow.resource.hangs", json.dumps(NODE).encode())
        letters = await wait_for_messages(client, DLQ, "jetflow.dlq.jetflow.resource.hangs", 1, timeout=10)
    finally:
        release.set()  # before the engine stops: its handlers must not hang its stop
    await jetflow.stop()
    assert [letter["code"] for _, letter in letters] == ["exhausted"]
    assert "did not finish within 0.5s" in letters[0][1]["reason"]
    assert letters[0][1]["deliveries"] == 2
    assert calls == [1, 2]


async def test_message_nobody_acknowledges_is_dead_lettered_after_max_deliveries(
    engine: Runtime, client: Client
) -> None:
    """A jetflow consumer that never settles (its process died each time): JetStream's advisory is the signal."""
    from nats.js.api import ConsumerConfig

    js = client.jetstream()
    config = ConsumerConfig(ack_wait=0.5, max_deliver=1, filter_subject="jetflow.resource.poison")
    probe = await js.pull_subscribe("jetflow.resource.poison", durable="jetflow-probe", config=config)
    await js.publish("jetflow.resource.poison", b'{"id": "x"}', headers={"Nats-Msg-Id": "poison-1"})
    (msg,) = await probe.fetch(1, timeout=2)  # taken, never acknowledged
    letters = await wait_for_messages(client, DLQ, "jetflow.dlq.jetflow.resource.poison", 1, timeout=10)
    assert [letter["code"] for _, letter in letters] == ["exhausted"]
    assert "without an acknowledgement" in letters[0][1]["reason"]
    assert msg.data == b'{"id": "x"}'
