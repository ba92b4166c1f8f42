"""Traces leave the process: one booking's trace, received at a local OTLP/HTTP endpoint, spans the
ctl request that carried a `traceparent`, the booking's decision, its execution firing and its dispatch."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.polling import eventually
from tests.support.process import EngineProcess, wait_for_instances

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from nats.aio.client import Client

TRACE_ID = uuid.uuid4().hex
PARENT = uuid.uuid4().hex[:16]


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver: every span posted to /v1/traces, as (trace id, span name)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.spans: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.server.spans.extend((span.trace_id.hex(), span.name) for span in scope.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


async def test_one_bookings_trace_goes_from_the_request_to_its_dispatch(
    nats_url: str, mongo_url: str, client: Client, collector: Collector, tmp_path: Path
) -> None:
    engine = EngineProcess(
        nats_url,
        mongo_url,
        f"traces{uuid.uuid4().hex[:8]}",
        tmp_path / "engine.log",
        otlp_endpoint=collector.url,
        manifests_dir=str(tmp_path / "manifests"),
    )
    engine.start()
    try:
        await wait_for_instances(client, 1)
        js = client.jetstream()
        await js.publish("jetflow.resource.upsert", json.dumps({"id": "node-a", "capacity": 4}).encode())
        step = {"name": "s", "image": "alpine:3.20"}
        await js.publish("jetflow.workflow.upsert", json.dumps({"id": "wf", "steps": [step]}).encode())
        dispatched = await client.subscribe("jetflow.execution.dispatched")
        start = datetime.now(UTC)
        body = {
            "id": "traced",
            "workflow": "wf",
            "resources": ["node-a"],
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=5)).isoformat(),
        }
        for family, name in (("resource", "node-a"), ("workflow", "wf")):

            async def known(family: str = family, name: str = name) -> bool:
                reply = await client.request(f"jetflow.ctl.{family}.get", json.dumps({"id": name}).encode(), timeout=5)
                return "error" not in json.loads(reply.data)

            assert await eventually(known, bool, timeout=30, interval=0.2)
        traceparent = f"00-{TRACE_ID}-{PARENT}-01"
        data = json.dumps(body).encode()
        reply = await client.request(
            "jetflow.ctl.booking.request", data, timeout=30, headers={"traceparent": traceparent}
        )
        assert json.loads(reply.data)["status"] == "confirmed"
        event = json.loads((await dispatched.next_msg(timeout=30)).data)
        assert event["booking"] == "traced"
    finally:
        engine.stop()  # SIGTERM: the engine flushes its last spans before it exits
    names = {name for trace_id, name in collector.spans if trace_id == TRACE_ID}
    assert "jetflow.ctl booking-request" in names
    assert {"jetflow.scheduler fire", "jetflow.dispatch"} <= names
    assert {"jetflow.booking.request process", "jetflow.execution.due process"} <= names  # the consumers
    published = {name for name in names if name.endswith("publish")}
    assert {f"{subject} publish" for subject in ("jetflow.booking.request", "jetflow.booking.confirmed")} <= published
    assert {f"{subject} publish" for subject in ("jetflow.execution.due", "jetflow.execution.dispatched")} <= published
