"""Issue 14, end to end: three sovereign peers as separate `jetflow run` processes, each with its own
nats-server (JetStream domain = peer id), its own database and its own stand-ins (A and C a kmock cluster
each, B a moto S3 with STS), linked only by leaf nodes.

A books A's compute, B's storage and C's compute; the owners claim theirs. The execution fires on A and is
dispatched into A's cluster, its step on C's node elected by Admiralty and constrained to C's cluster target,
and C prepares the namespace. B issues keys, sealed to C, which end as a Secret on C's cluster. The workflow
succeeds: the Secret is deleted on C and the window is free again on B and C.

Every message on the three servers is captured, in every account that carries traffic: `jetflow` (the engine's,
a local client subscribed to `>`) and each link account `peer-X` (a client of a tap user added to that account
in this test's copy of the configuration: the link accounts have no users of their own). No access key, secret
key or session token is in any of them, in clear or merely base64-encoded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import nats
import pytest
from pymongo import AsyncMongoClient

from engine.credentials.sealing import generate_private_key, public_key_of
from engine.dispatch.workflow import ADMIRALTY_CLUSTER, ADMIRALTY_CONSTRAINTS, ADMIRALTY_ELECT
from engine.embedded import natsconf
from engine.kube import names
from schemas import subjects
from tests import servers
from tests.support.credentials import publish_catalog, secret_values, unwrapped
from tests.support.kube import cluster
from tests.support.polling import eventually
from tests.support.process import EngineProcess, wait_for_instances
from tests.support.s3_tools import put_and_get
from tests.support.streams import request_json, wait_for_messages

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from tests.support.s3_tools import S3

PEERS = ("a", "b", "c")
TAP_PASSWORD = "tap"
ENGINE = {"peer_timeout": "10", "peer_retry": "0.5", "ctl_timeout": "30", "scheduler_refill": "0.5"}


def tap_user(peer: str, account: str) -> str:
    return f"tap-{peer}-{account}"


def with_taps(federation: servers.Federation, root: Path) -> dict[str, dict[str, str]]:
    """Add a capture user to every link account of every peer's configuration (before the servers start);
    peer → account → the URL a client of that account connects with."""
    urls: dict[str, dict[str, str]] = {}
    for peer in PEERS:
        [config] = (root / peer).glob("nats-server.*.conf")
        text = config.read_text()
        urls[peer] = {natsconf.JETFLOW_ACCOUNT: federation.urls[peer]}
        host = federation.urls[peer].removeprefix("nats://")
        for other in PEERS:
            account = natsconf.peer_account(other)
            opening = f"  {json.dumps(account)}: {{\n"
            if opening not in text:
                continue
            user = tap_user(peer, account)
            text = text.replace(opening, f'{opening}    users: [{{user: "{user}", password: "{TAP_PASSWORD}"}}]\n')
            urls[peer][account] = f"nats://{user}:{TAP_PASSWORD}@{host}"
        config.write_text(text)
    return urls


class Capture:
    """Every message on `>` of one account of one server."""

    def __init__(self) -> None:
        self.messages: dict[tuple[str, str], list[Msg]] = {}

    async def tap(self, stack: AsyncExitStack, peer: str, account: str, url: str) -> Client:
        heard = self.messages.setdefault((peer, account), [])

        async def keep(msg: Msg) -> None:
            heard.append(msg)

        nc = await nats.connect(url)
        stack.push_async_callback(nc.close)
        await nc.subscribe(">", cb=keep)
        await nc.flush()
        return nc

    def counts(self) -> dict[str, int]:
        return {f"{peer}/{account}": len(heard) for (peer, account), heard in sorted(self.messages.items())}

    def all(self) -> list[Msg]:
        return [msg for heard in self.messages.values() for msg in heard]


@pytest.mark.e2e
@pytest.mark.timeout(240)
@pytest.mark.usefixtures("_namespaces_are_objects")
async def test_a_booking_over_three_sovereign_peers_runs_on_a_with_its_remote_step_and_secret_on_c(
    tmp_path: Path, mongo_url: str, s3: S3
) -> None:
    began = time.monotonic()
    bucket = s3.bucket()
    private = {peer: generate_private_key() for peer in PEERS}
    federation = servers.Federation(tmp_path / "nats", PEERS)
    taps = with_taps(federation, tmp_path / "nats")
    capture = Capture()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    async with AsyncExitStack() as stack:
        stack.callback(federation.stop_all)
        for peer in PEERS:
            federation.start(peer)
        await servers.linked(federation.urls)
        stack.push_async_callback(mongo.close)
        kube_a = await stack.enter_async_context(cluster(tmp_path / "a.kubeconfig"))
        kube_c = await stack.enter_async_context(cluster(tmp_path / "c.kubeconfig"))
        clients = {}
        for peer, accounts in taps.items():
            for account, url in accounts.items():
                tapped = await capture.tap(stack, peer, account, url)
                if account == natsconf.JETFLOW_ACCOUNT:
                    clients[peer] = tapped  # each peer's operator, on its own server
        assert sorted(capture.messages) == [
            ("a", "jetflow"),
            ("a", "peer-b"),
            ("a", "peer-c"),
            ("b", "jetflow"),
            ("b", "peer-a"),
            ("b", "peer-c"),
            ("c", "jetflow"),
            ("c", "peer-a"),
            ("c", "peer-b"),
        ]

        # Three engines, each its own process, server, database and stand-ins.
        storages = {"minio": s3.access(bucket).model_dump(mode="json")}
        storages["minio"]["secret_key"] = s3.secret_key
        own: dict[str, dict[str, str]] = {
            "a": {"kubeconfig": str(kube_a.settings.kube.kubeconfig), "dispatch_refill": "0.5"},
            "b": {"storages": json.dumps(storages)},
            "c": {"kubeconfig": str(kube_c.settings.kube.kubeconfig)},
        }
        databases = {peer: f"{peer}-{uuid.uuid4().hex[:10]}" for peer in PEERS}
        for peer in PEERS:
            settings = {**ENGINE, **own[peer], "peer_id": peer, "peer_private_key": private[peer]}
            engine = EngineProcess(
                federation.urls[peer], mongo_url, databases[peer], tmp_path / f"{peer}.log", **settings
            )
            engine.start()
            stack.callback(engine.stop)
        for peer in PEERS:
            await wait_for_instances(clients[peer], 1, timeout=90)
        started = time.monotonic() - began

        node_a = {"id": "node-a", "kind": "compute", "peer": "a"}
        node_c = {"id": "node-c", "kind": "compute", "peer": "c", "public_key": public_key_of(private["c"])}
        minio = {"id": "minio", "kind": "storage", "peer": "b", "endpoint": s3.endpoint, "labels": {"bucket": bucket}}
        steps = [
            {"name": "detect", "image": "alpine:3.20", "resource": "node-a"},
            {"name": "infer", "image": "alpine:3.20", "resource": "node-c", "depends": ["detect"]},
        ]
        await publish_catalog(clients["a"], node_a, minio, node_c)
        await publish_catalog(clients["a"], {"id": "alpr", "steps": steps}, subject=subjects.WORKFLOW_UPSERT)
        await publish_catalog(clients["b"], minio, node_c)  # B seals to C's key as its own catalog has it
        await publish_catalog(clients["c"], node_c)

        # The booking on A: C's compute first, the one its storage's keys go to (the first compute resource).
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        end = start + timedelta(minutes=3)
        booking = {
            "id": "bk-e2e",
            "workflow": "alpr",
            "resources": ["node-c", "minio", "node-a"],
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        booked = await request_json(clients["a"], "jetflow.ctl.booking.request", booking, timeout=40)
        assert booked["status"] == "confirmed", booked
        [execution] = booked["executions"]
        record = await request_json(clients["a"], "jetflow.ctl.booking.get", {"id": "bk-e2e"})
        assert record["peers"] == {"b": ["minio"], "c": ["node-c"]}

        # It fires on A and is dispatched into A's cluster; its step on node-c goes to C's cluster through Admiralty.
        namespace = names.namespace(execution)
        dispatched = await wait_for_messages(clients["a"], "JETFLOW_EXECUTIONS", subjects.EXECUTION_DISPATCHED, 1, 30)
        assert [event["execution"] for _, event in dispatched] == [execution]
        workflow = kube_a.object("argoproj.io/v1alpha1", "Workflow", namespace, names.workflow(execution))
        assert workflow is not None
        templates = {t["name"]: t for t in workflow["spec"]["templates"]}
        remote = templates["infer"]["metadata"]["annotations"]
        assert remote[ADMIRALTY_ELECT] == ""
        assert json.loads(remote[ADMIRALTY_CONSTRAINTS])["nodeSelector"] == {ADMIRALTY_CLUSTER: "c"}
        assert ADMIRALTY_ELECT not in (templates["detect"].get("metadata") or {}).get("annotations", {})
        local_namespace = kube_a.object("v1", "Namespace", None, namespace)
        assert local_namespace is not None
        assert local_namespace["metadata"]["labels"]["multicluster-scheduler"] == "enabled"
        assert kube_c.object("v1", "ServiceAccount", namespace, "jetflow-workflow") is not None, "C prepared it"
        assert kube_c.object("argoproj.io/v1alpha1", "Workflow", namespace, names.workflow(execution)) is None

        # B issues the keys, sealed to C; they end as a Secret on C's cluster, and work.
        issued = await wait_for_messages(clients["a"], "JETFLOW_CREDENTIALS", subjects.CREDENTIAL_ISSUED, 1, 30)
        assert issued[0][1]["secret"] == {"namespace": namespace, "name": names.storage_secret("minio")}
        values = await secret_values(kube_c, namespace, names.storage_secret("minio"))
        assert values is not None, "the Secret is on C's cluster"
        assert await secret_values(kube_a, namespace, names.storage_secret("minio")) is None
        keys = s3.client(values[names.S3_ACCESS_KEY], values[names.S3_SECRET_KEY], values[names.S3_SESSION_TOKEN])
        assert await asyncio.to_thread(put_and_get, keys, bucket, "in/frame.jpg", b"jpeg") == b"jpeg"
        flowed = time.monotonic() - began

        # Only A, which dispatches the execution, may change its Secrets on C: B asking over its own link is refused.
        forged = {"id": f"{execution}:forged", "execution": execution, "namespace": namespace}
        forged["name"] = names.storage_secret("minio")
        refused = await request_json(clients["b"], subjects.peer("c", "secret", "delete"), forged)
        assert (refused["status"], refused["code"]) == ("error", "forbidden"), refused
        assert "peer b cannot change its Secrets" in refused["reason"]
        assert await secret_values(kube_c, namespace, names.storage_secret("minio")) == values

        # The workflow succeeds early: the Secret goes, and the window is free again on B and C.
        await kube_a.client.patch(
            "argoproj.io/v1alpha1", "Workflow", namespace, names.workflow(execution), {"status": {"phase": "Succeeded"}}
        )
        await wait_for_messages(clients["a"], "JETFLOW_EXECUTIONS", subjects.EXECUTION_SUCCEEDED, 1, 30)
        secret = await eventually(
            lambda: secret_values(kube_c, namespace, names.storage_secret("minio")), lambda v: v is None, timeout=20
        )
        assert secret is None, "the Secret was deleted on C"
        for peer in ("b", "c"):
            calendars = mongo[databases[peer]]["calendars"]
            given_back = {"released.a:bk-e2e": {"$exists": True}}
            freed = await eventually(
                partial(calendars.find_one, given_back), lambda found: found is not None, timeout=20
            )
            assert freed is not None, f"the window is still held on {peer}"
            assert [when.replace(tzinfo=UTC) for when in freed["released"]["a:bk-e2e"]] == [start]
        # C's own booking of node-c in that window now goes through (C knows a workflow of its own).
        await publish_catalog(clients["c"], {"id": "own", "steps": [steps[0]]}, subject=subjects.WORKFLOW_UPSERT)
        again = {**booking, "id": "bk-again", "workflow": "own", "resources": ["node-c"]}
        rebooked = await request_json(clients["c"], "jetflow.ctl.booking.request", again, timeout=40)
        assert rebooked["status"] == "confirmed", rebooked
        await asyncio.sleep(0.5)  # the last replies reach every tap

    # Nothing on any server, in any account, carries a key in clear or merely encoded.
    secrets = [values[names.S3_ACCESS_KEY], values[names.S3_SECRET_KEY], values[names.S3_SESSION_TOKEN]]
    forms = [form for value in secrets for form in (value.encode(), base64.b64encode(value.encode()))]
    # The search finds a key that is there, even encoded twice.
    assert any(forms[2] in part for part in unwrapped(base64.b64encode(b'{"k": "' + forms[3] + b'"}')))
    messages = capture.all()
    counts = capture.counts()
    # Every engine's account, and both ends of A's links to B and C, carried this flow (B and C never talk to
    # each other: B's sealed keys travel through A, who cannot open them).
    busy = ["a/jetflow", "b/jetflow", "c/jetflow", "a/peer-b", "b/peer-a", "a/peer-c", "c/peer-a"]
    assert all(counts[account] > 0 for account in busy), counts
    store_requests = [m for m in capture.messages["c", "peer-a"] if m.subject == subjects.peer("c", "secret", "store")]
    assert store_requests, "the sealed keys crossed A's link into C"
    for msg in messages:
        blob = msg.data + json.dumps(dict(msg.headers or {})).encode() + msg.subject.encode()
        leaked = [form for form in forms if any(form in part for part in unwrapped(blob))]
        assert not leaked, f"a secret value crossed NATS in clear (or merely encoded) on {msg.subject}"
    print(
        f"started in {started:.1f}s, booked → Secret on C in {flowed - started:.1f}s, "
        f"{len(messages)} messages captured, none with a secret: {counts}"
    )
