"""Every `jetflow.ctl` endpoint's real reply fits the response schema its micro metadata names
(`schemas/replies.py`, closed models), and every error reply fits `reply.error`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from schemas import export
from schemas.contract import CTL
from schemas.registry import schema_name
from schemas.replies import CtlError
from tests.support.polling import eventually
from tests.support.streams import request_json
from tests.test_booking import NODE, at, booking, register

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client

    from engine.settings import Settings
    from tests.support.engines import Engines

BY_NAME = {endpoint.name: endpoint for endpoint in CTL}


class Replies:
    """Asks endpoints and checks each reply against the endpoint's exported schema file and its model."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.asked: set[str] = set()
        self.errors = 0

    async def ask(self, name: str, body: dict[str, Any] | bytes = b"", *, error: bool = False) -> dict[str, Any]:
        endpoint = BY_NAME[name]
        reply: dict[str, Any] = await request_json(self.client, endpoint.address, body)
        model = CtlError if error else endpoint.reply
        assert model is not None
        assert (reply.get("status") == "error") is (error and reply.get("status") != "rejected"), reply
        schema = json.loads((export.JSON_DIR / f"{schema_name(model)}.json").read_text())
        problems = [e.message for e in Draft202012Validator(schema).iter_errors(reply)]
        assert problems == [], f"{name}: {problems} in {reply}"
        model.model_validate(reply)
        if error:
            self.errors += 1
        else:
            self.asked.add(name)
        return reply


async def test_every_endpoint_answers_what_its_schema_says(
    engines: Engines, settings: Settings, client: Client, tmp_path: Path
) -> None:
    await engines.runtime(settings.replace(manifests_dir=tmp_path / "manifests"))
    replies = Replies(client)
    js = client.jetstream()
    await replies.ask("health")
    await register(client, NODE)
    await replies.ask("resource-get", {"id": "node-a"})
    await replies.ask("resource-list", {})
    await replies.ask("workflow-get", {"id": "alpr"})
    await replies.ask("workflow-list", {"limit": 1})

    # A booking due in 3 s (it fires and is dispatched to the manifests folder), a cron one, a rejected one
    # (`booking` takes minutes from now).
    confirmed = await replies.ask("booking-request", booking("bk-1", 0.05, 5))
    assert confirmed["status"] == "confirmed"
    cron = booking("bk-2", 3600, 7200, resources=["node-a"], cron="*/10 * * * *", duration=60)
    assert (await replies.ask("booking-request", cron))["status"] == "confirmed"
    assert (await replies.ask("booking-request", booking("bk-3", 1, 2)))["status"] == "rejected"
    await replies.ask("booking-request", {**booking("bk-4", 10, 20), "end": at(5)}, error=True)
    await replies.ask("booking-get", {"id": "bk-1"})
    await replies.ask("booking-get", {"id": "bk-404"}, error=True)
    await replies.ask("booking-list", {})
    await replies.ask("execution-list", {"booking": "bk-2", "limit": 3})
    first = (await replies.ask("schedule-upcoming", {"booking": "bk-2", "limit": 1}))["items"][0]["id"]
    await replies.ask("execution-get", {"id": first})
    await replies.ask("execution-cancel", {"execution": first})
    await replies.ask("schedule-pause", {"booking": "bk-2"})
    await replies.ask("schedule-resume", {"booking": "bk-2"})
    await replies.ask("schedule-status")
    dispatched = await eventually(
        lambda: request_json(client, "jetflow.ctl.execution.list", {"booking": "bk-1"}),
        lambda page: page["items"][0]["state"] == "dispatched",
    )
    assert dispatched["items"][0]["state"] == "dispatched"
    await replies.ask("execution-list", {"booking": "bk-1"})
    await replies.ask("dispatch-status")
    assert (await replies.ask("booking-cancel", {"id": "c-2", "booking": "bk-2"}))["status"] == "cancelled"
    await replies.ask("booking-cancel", {"id": "c-404", "booking": "bk-404"}, error=True)

    # A node's sample, a dead letter and its replay, a credential request that fails (no such storage).
    sample = {"id": "n:1", "node": "node-a", "at": at(0), "cpu": 10, "memory": 10, "disk": 10, "load": 0.1}
    await js.publish("jetflow.metric.sample.node-a", json.dumps(sample).encode())
    assert (await eventually(lambda: request_json(client, "jetflow.ctl.throttle.status", b""), lambda s: s["nodes"]))[
        "nodes"
    ]
    await replies.ask("throttle-status")
    await js.publish("jetflow.resource.upsert", b"{broken")
    page = await eventually(lambda: replies.ask("dlq-list", {}), lambda page: page["items"])
    assert page["items"]
    await replies.ask("dlq-get", {"seq": page["items"][0]["seq"]})
    await replies.ask("dlq-replay", {"seq": page["items"][0]["seq"]})
    await replies.ask("dlq-get", {"seq": 10_000}, error=True)
    request = {
        "id": "run-1:credential:minio",
        "execution": "run-1",
        "storage": "minio",
        "bucket": "datasets",
        "access": "read",
        "compute": "node-a",
        "expires_at": at(3600),
    }
    assert (await replies.ask("credential-request", request))["status"] == "failed"
    await replies.ask("credential-get", {"id": request["id"]})
    await replies.ask("retention-sweep")

    assert replies.asked == set(BY_NAME), f"not asked: {set(BY_NAME) - replies.asked}"
    assert replies.errors == 4
