"""Storage credentials on one peer, against moto's S3/STS server (or MinIO) and kmock (or a cluster):
a request yields one Secret whose keys work on the bucket and expire; failures leave nothing behind."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from engine.credentials.sealing import generate_private_key, public_key_of
from engine.credentials.sweep import sweep_expired
from engine.kube import names
from engine.settings import StorageAccess
from tests.servers import free_port
from tests.support.credentials import publish_catalog, secret_values
from tests.support.s3_tools import put_and_get
from tests.support.streams import request_json, wait_for_messages

if TYPE_CHECKING:
    from nats.aio.client import Client

    from engine.settings import Settings
    from tests.support.engines import Engines
    from tests.support.kube import KubeHarness
    from tests.support.s3_tools import S3


def peer_settings(settings: Settings, kube: KubeHarness, private: str, **storages: StorageAccess) -> Settings:
    return kube.with_kube(settings).replace(
        peer_id="a", peer_private_key=SecretStr(private), storages=storages, peer_timeout=1.5
    )


def request(execution: str, bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{execution}:credential:minio",
        "execution": execution,
        "storage": "minio",
        "bucket": bucket,
        "access": "read-write",
        "compute": "node-a",
        **extra,
    }


async def test_a_request_yields_one_secret_with_working_scoped_expiring_keys(
    settings: Settings, kube: KubeHarness, engines: Engines, client: Client, s3: S3
) -> None:
    bucket, private = s3.bucket(), generate_private_key()
    execution = f"ext-{uuid.uuid4().hex[:8]}"
    await engines.runtime(peer_settings(settings, kube, private, minio=s3.access(bucket)))
    await publish_catalog(
        client,
        {"id": "minio", "kind": "storage", "peer": "a", "endpoint": s3.endpoint},
        {"id": "node-a", "kind": "compute", "peer": "a", "public_key": public_key_of(private)},
    )
    asked = datetime.now(UTC)
    wanted = asked + timedelta(minutes=20)
    body = request(execution, bucket, prefix="runs/1/", expires_at=wanted.isoformat())
    reply = await request_json(client, "jetflow.ctl.credential.request", body, timeout=20)

    assert reply["status"] == "issued", reply
    namespace = names.namespace(execution)
    assert reply["secret"] == {"namespace": namespace, "name": "s3-minio"}
    expires_at = datetime.fromisoformat(reply["expires_at"])
    # STS never issues less than an hour: asked for 20 minutes, the keys live one hour.
    assert asked + timedelta(seconds=3590) <= expires_at <= datetime.now(UTC) + timedelta(seconds=3610)

    values = await secret_values(kube, namespace, "s3-minio")
    assert values is not None
    assert values[names.S3_BUCKET] == bucket
    assert values[names.S3_PREFIX] == "runs/1/"
    assert values[names.S3_ENDPOINT] == s3.endpoint
    assert values[names.S3_ACCESS_KEY] != s3.access_key
    keys = s3.client(values[names.S3_ACCESS_KEY], values[names.S3_SECRET_KEY], values[names.S3_SESSION_TOKEN])
    stored = await asyncio.to_thread(put_and_get, keys, bucket, "runs/1/out.txt", b"result of step 1")
    assert stored == b"result of step 1"
    if not s3.moto:  # moto ignores session policies; MinIO enforces them
        other = s3.bucket()
        rejected = await asyncio.to_thread(lambda: _refused(keys, other))
        assert rejected

    if kube.emulator is not None:
        assert kube.requests() == [
            ("POST", "/api/v1/namespaces"),
            ("POST", f"/api/v1/namespaces/{namespace}/secrets"),
        ]
        secret = kube.object("v1", "Secret", namespace, "s3-minio")
        assert secret is not None
        assert secret["metadata"]["labels"][names.MANAGED_BY] == "jetflow"

    lease = await request_json(client, "jetflow.ctl.credential.get", {"id": body["id"]})
    assert lease["state"] == "issued"
    assert values[names.S3_SECRET_KEY] not in str(lease)

    # Once the keys expired, the sweep of the compute's peer deletes the Secret (once).
    assert await sweep_expired("a", kube.client, At(expires_at - timedelta(seconds=1))) == 0
    assert await sweep_expired("a", kube.client, At(expires_at + timedelta(seconds=1))) == 1
    assert await secret_values(kube, namespace, "s3-minio") is None
    assert await sweep_expired("a", kube.client, At(expires_at + timedelta(seconds=2))) == 0
    lease = await request_json(client, "jetflow.ctl.credential.get", {"id": body["id"]})
    assert lease["state"] == "expired"


class At:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def _refused(keys: Any, bucket: str) -> bool:
    from minio.error import S3Error

    try:
        put_and_get(keys, bucket, "x", b"x")
    except S3Error:
        return True
    return False


async def test_failures_publish_failed_with_a_code_and_leave_nothing_behind(
    settings: Settings, kube: KubeHarness, engines: Engines, client: Client, s3: S3
) -> None:
    bucket, private = s3.bucket(), generate_private_key()
    dead_sts = StorageAccess(
        endpoint=f"http://127.0.0.1:{free_port()}", access_key="x", secret_key=SecretStr("y"), buckets=(bucket,)
    )
    config = peer_settings(settings, kube, private, minio=s3.access(bucket), broken=dead_sts)
    await engines.runtime(config)
    await publish_catalog(
        client,
        {"id": "minio", "kind": "storage", "peer": "a", "endpoint": s3.endpoint},
        {"id": "broken", "kind": "storage", "peer": "a"},
        {"id": "far", "kind": "storage", "peer": "z", "endpoint": "http://far:9000"},
        {"id": "node-a", "kind": "compute", "capacity": 10, "peer": "a", "public_key": public_key_of(private)},
    )
    await publish_catalog(
        client, {"id": "wf", "steps": [{"name": "s", "image": "alpine"}]}, subject="jetflow.workflow.upsert"
    )
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    booked = await request_json(
        client,
        "jetflow.ctl.booking.request",
        {
            "id": "bk-f",
            "workflow": "wf",
            "resources": ["node-a", "minio"],
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert booked["status"] == "confirmed", booked
    [execution] = booked["executions"]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    cases = {
        "unknown_storage": request("run-1", bucket, id="r-unknown", storage="nope", expires_at=later),
        "bucket_not_exported": request(execution, "not-exported", id="r-bucket"),
        "peer_timeout": request("run-3", bucket, id="r-far", storage="far", expires_at=later),
        "sts_unreachable": request("run-4", bucket, id="r-sts", storage="broken", expires_at=later),
        "unknown_execution": request("run-5", bucket, id="r-exec"),
    }
    js = client.jetstream()
    for body in cases.values():
        await js.publish("jetflow.credential.request", json.dumps(body).encode())
    failed = await wait_for_messages(client, "JETFLOW_CREDENTIALS", "jetflow.credential.failed", len(cases), 20)
    codes = {event["request"]: event["code"] for _, event in failed}
    assert codes == {body["id"]: code for code, body in cases.items()}
    assert all(event["reason"] for _, event in failed)
    assert not await wait_for_messages(client, "JETFLOW_CREDENTIALS", "jetflow.credential.issued", 0, 0)

    # The execution whose keys could not be issued is marked failed, with the reason.
    ended = await wait_for_messages(client, "JETFLOW_EXECUTIONS", "jetflow.execution.failed", 1)
    assert [event["execution"] for _, event in ended] == [execution]
    assert "not exported" in ended[0][1]["reason"]
    listed = await request_json(client, "jetflow.ctl.execution.list", {"booking": "bk-f"})
    assert [item["state"] for item in listed["items"]] == ["failed"]

    if kube.emulator is not None:
        assert not [r for r in kube.requests(methods=("post",)) if r[1].endswith("/secrets")]


async def test_duplicates_in_flight_issue_one_credential(
    settings: Settings, kube: KubeHarness, engines: Engines, client: Client, s3: S3
) -> None:
    """Five copies of one request at once (no Nats-Msg-Id, so all are delivered, in one pull batch):
    one AssumeRole, one Secret, one issued event; the others wait for the first attempt's outcome."""
    bucket, private = s3.bucket(), generate_private_key()
    config = peer_settings(settings, kube, private, minio=s3.access(bucket)).replace(backoff=(0.5, 1.0), max_deliver=5)
    issue_requests: list[object] = []

    async def count(msg: object) -> None:
        issue_requests.append(msg)

    await client.subscribe("jetflow.peer.a.credential.issue", cb=count)
    await engines.runtime(config)
    await publish_catalog(
        client,
        {"id": "minio", "kind": "storage", "peer": "a", "endpoint": s3.endpoint},
        {"id": "node-a", "kind": "compute", "peer": "a", "public_key": public_key_of(private)},
    )
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = json.dumps(request("run-dup", bucket, expires_at=later)).encode()
    js = client.jetstream()
    await asyncio.gather(*(js.publish("jetflow.credential.request", body) for _ in range(5)))
    issued = await wait_for_messages(client, "JETFLOW_CREDENTIALS", "jetflow.credential.issued", 1, 20)
    await asyncio.sleep(2.0)  # the waiting copies come back after their backoff and find the outcome
    assert len(await wait_for_messages(client, "JETFLOW_CREDENTIALS", "jetflow.credential.issued", 1, 0)) == 1
    assert [event["request"] for _, event in issued] == ["run-dup:credential:minio"]
    assert len(issue_requests) == 1
    assert not await wait_for_messages(client, "JETFLOW_DLQ", "jetflow.dlq.>", 0, 0)
    if kube.emulator is not None:
        posts = [r for r in kube.requests(methods=("post",)) if r[1].endswith("/secrets")]
        assert len(posts) == 1
