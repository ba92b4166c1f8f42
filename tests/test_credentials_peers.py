"""Three sovereign jetflow peers: A asks, B owns the storage and issues, C owns the compute and keeps the
Secret. Nothing on the wire of any of their servers carries a key in clear; replays make no second
credential; cancelling the booking deletes the Secret.

Each peer has its own nats-server (linked to the others by leaf nodes only, tests/servers.py `federation`),
its own database, its own Kubernetes cluster (a kmock each) and its own key pair. So each peer's catalog
lists what it deals with: A books and asks, B seals to C's public key as B's catalog has it.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import nats
import pytest
from pydantic import SecretStr

from engine.credentials.sealing import generate_private_key, public_key_of
from engine.kube import names
from schemas import subjects
from schemas.execution import ExecutionDispatched
from tests.support.credentials import jetflow, publish_catalog, secret_values, unwrapped
from tests.support.federation import federation, own_store
from tests.support.kube import cluster
from tests.support.polling import eventually
from tests.support.s3_tools import put_and_get
from tests.support.streams import request_json, settled, stream_messages, wait_for_messages

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from nats.aio.msg import Msg

    from engine.settings import Settings
    from tests.support.kube import KubeHarness
    from tests.support.s3_tools import S3

CREDENTIALS = "JETFLOW_CREDENTIALS"


async def gone(kube: KubeHarness, namespace: str, name: str, timeout: float = 15.0) -> bool:
    secret = await eventually(
        lambda: kube.client.get("v1", "Secret", namespace, name),
        lambda secret: secret is None,
        timeout=timeout,
        interval=0.1,
    )
    return secret is None


@pytest.mark.timeout(90)
@pytest.mark.usefixtures("_namespaces_are_objects")
async def test_a_request_on_a_ends_as_a_secret_on_c_issued_by_b(
    settings: Settings, mongo_url: str, s3: S3, tmp_path: Path
) -> None:
    bucket = s3.bucket()
    private = {peer: generate_private_key() for peer in "abc"}
    wire: list[Msg] = []
    heard_by: dict[str, list[Msg]] = {peer: [] for peer in "abc"}

    def capture(peer: str) -> Callable[[Msg], Awaitable[None]]:
        async def tap(msg: Msg) -> None:
            wire.append(msg)
            heard_by[peer].append(msg)

        return tap

    async with (
        federation(tmp_path / "nats", "a", "b", "c") as urls,
        cluster(tmp_path / "a.kubeconfig") as kube_a,
        cluster(tmp_path / "b.kubeconfig") as kube_b,
        cluster(tmp_path / "c.kubeconfig") as kube_c,
    ):
        clients = {peer: await nats.connect(url) for peer, url in urls.items()}
        client = clients["a"]  # A's operator
        # Every message on each server: the engines' own traffic and what crosses the leaf links.
        taps = [await clients[p].subscribe(s, cb=capture(p)) for p in urls for s in ("jetflow.>", "_INBOX.>")]

        def peer(name: str, kube: KubeHarness, **update: object) -> Settings:
            return own_store(kube.with_kube(settings), name, peer_private_key=SecretStr(private[name]), **update)

        async with (
            jetflow(peer("a", kube_a), urls["a"], mongo_url) as a,
            jetflow(peer("b", kube_b, storages={"minio": s3.access(bucket)}), urls["b"], mongo_url),
            jetflow(peer("c", kube_c), urls["c"], mongo_url),
        ):
            storage = {
                "id": "minio",
                "kind": "storage",
                "peer": "b",
                "endpoint": s3.endpoint,
                "labels": {"bucket": bucket},
            }
            compute = {"id": "node-c", "kind": "compute", "peer": "c", "public_key": public_key_of(private["c"])}
            await publish_catalog(client, storage, compute)
            await publish_catalog(clients["b"], storage, compute)  # B seals to C's key as B's own catalog has it
            await publish_catalog(clients["c"], compute)  # C claims node-c for the booking on its own calendar
            await publish_catalog(
                client, {"id": "wf", "steps": [{"name": "s", "image": "alpine"}]}, subject="jetflow.workflow.upsert"
            )
            start = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
            booking = {
                "id": "bk-fed",
                "workflow": "wf",
                "resources": ["node-c", "minio"],
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=30)).isoformat(),
            }
            booked = await request_json(client, "jetflow.ctl.booking.request", booking)
            assert booked["status"] == "confirmed", booked
            [execution] = booked["executions"]
            namespace, name = names.namespace(execution), names.storage_secret("minio")

            # A dispatched the execution: jetflow asks credentials for its storage, for its compute.
            dispatched = ExecutionDispatched(
                id=f"{execution}:dispatched",
                execution=execution,
                booking="bk-fed",
                at=datetime.now(UTC),
                namespace=namespace,
                workflow_name=names.workflow(execution),
            )
            await a.publisher.publish(subjects.EXECUTION_DISPATCHED, dispatched)
            issued = await wait_for_messages(client, CREDENTIALS, subjects.CREDENTIAL_ISSUED, 1, timeout=20)
            assert [event["request"] for _, event in issued] == [f"{execution}:credential:minio"]
            assert issued[0][1]["secret"] == {"namespace": namespace, "name": name}
            # Window end + the 15 minute margin is more than STS's one hour floor.
            expires_at = datetime.fromisoformat(issued[0][1]["expires_at"])
            assert abs((expires_at - (start + timedelta(minutes=45))).total_seconds()) < 5

            values = await secret_values(kube_c, namespace, name)
            assert values is not None, "the Secret is on C's cluster"
            keys = s3.client(values[names.S3_ACCESS_KEY], values[names.S3_SECRET_KEY], values[names.S3_SESSION_TOKEN])
            assert await asyncio.to_thread(put_and_get, keys, bucket, "in/frame.jpg", b"jpeg") == b"jpeg"
            lease = await request_json(client, "jetflow.ctl.credential.get", {"id": f"{execution}:credential:minio"})
            assert (lease["storage_peer"], lease["compute_peer"], lease["state"]) == ("b", "c", "issued")
            if kube_a.emulator is not None:
                assert await secret_values(kube_a, namespace, name) is None
                assert await secret_values(kube_b, namespace, name) is None

            # Replays of the request (without a Nats-Msg-Id, so JetStream keeps them all) change nothing.
            [(_, request)] = await stream_messages(client, CREDENTIALS, subjects.CREDENTIAL_REQUEST)
            for _ in range(3):
                await client.jetstream().publish(subjects.CREDENTIAL_REQUEST, json.dumps(request).encode())
            await settled(client, CREDENTIALS, "jetflow-credential-request")
            # As B's server delivered them to B's engine (A's server shows the same requests leaving).
            issue = subjects.peer_from("b", "credential", "issue", sender="a")
            issue_requests = [m for m in heard_by["b"] if m.subject == issue]
            assert len(issue_requests) == 1, "one credential issued by B, whatever the replays"
            if kube_c.emulator is not None:
                posts = [r for r in kube_c.requests(methods=("post",)) if r[1].endswith("/secrets")]
                assert posts == [("POST", f"/api/v1/namespaces/{namespace}/secrets")]
            # Every replay is answered with the first outcome (same event), never a failure.
            outcomes = {
                (m.subject, json.loads(m.data)["id"])
                for m in heard_by["a"]
                if m.subject.startswith("jetflow.credential.")
            }
            outcomes -= {
                (m.subject, json.loads(m.data)["id"]) for m in heard_by["a"] if m.subject == subjects.CREDENTIAL_REQUEST
            }
            assert outcomes == {(subjects.CREDENTIAL_ISSUED, issued[0][1]["id"])}

            # Cancelling the booking cancels the execution, which revokes its keys on C.
            cancelled = await request_json(
                client, "jetflow.ctl.booking.cancel", {"id": "cancel-bk-fed", "booking": "bk-fed"}
            )
            assert cancelled["status"] == "cancelled", cancelled
            assert await gone(kube_c, namespace, name)
            lease = await request_json(client, "jetflow.ctl.credential.get", {"id": f"{execution}:credential:minio"})
            assert lease["state"] == "revoked"
        for tap in taps:
            await tap.unsubscribe()
        # Nothing of the credential flow was stored in B's or C's streams: they only answered requests.
        for other in "bc":
            info = await clients[other].jetstream().stream_info(CREDENTIALS)
            assert info.state.messages == 0, f"peer {other} stored credential events"
        for nc in clients.values():
            await nc.close()

    secrets = [values[names.S3_ACCESS_KEY], values[names.S3_SECRET_KEY], values[names.S3_SESSION_TOKEN]]
    forms = [form for secret in secrets for form in (secret.encode(), base64.b64encode(secret.encode()))]
    assert len(wire) > 50
    store = subjects.peer_from("c", "secret", "store", sender="a")
    assert any(m.subject == store for m in heard_by["c"]), "the sealed keys reached C, relayed by A over its link"
    for msg in wire:
        blob = msg.data + json.dumps(dict(msg.headers or {})).encode()
        leaked = [form for form in forms if any(form in part for part in unwrapped(blob))]
        assert not leaked, f"a secret value crossed NATS in clear (or merely encoded) on {msg.subject}"
