"""Dispatch against kmock (or a real cluster with JETFLOW_TEST_KUBECONFIG) and real NATS + MongoDB:
the exact requests for one execution, replays that create nothing new, limits that make executions
wait visibly, cancellation, and namespace cleanup."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from engine.catalog.store import Catalog
from engine.dispatch.remote import NamespaceHost, host_namespaces
from engine.executions.store import ExecutionRecord, insert_executions
from engine.kube import names
from engine.peers import serve
from schemas import subjects
from schemas.catalog import Resource, Workflow
from schemas.execution import ExecutionDue, ExecutionState
from schemas.peer import PeerReply, PrepareNamespace
from schemas.throttle import ThrottleCommand, ThrottleLevel
from tests.support import streams
from tests.support.federation import federation
from tests.support.kube import hosting_peer
from tests.support.plans import RESOURCES, TWO_CLUSTERS
from tests.support.polling import eventually
from tests.support.streams import request_json, stream_messages, wait_for_messages

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from pathlib import Path

    from nats.aio.client import Client

    from engine.runtime import Runtime
    from engine.settings import Settings
    from tests.support.engines import Engines
    from tests.support.kube import KubeHarness

EXECUTIONS = "JETFLOW_EXECUTIONS"


@pytest.fixture
async def peer_servers(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """This peer ('local') and peer-b, each on a nats-server of its own, linked by a leaf connection."""
    async with federation(tmp_path / "nats", "local", "peer-b") as urls:
        yield urls


@pytest.fixture
def nats_url(peer_servers: dict[str, str]) -> str:
    """The dispatching peer's own NATS (the other peers of these tests, silent or not, answer on it directly)."""
    return peer_servers["local"]


@pytest.fixture(autouse=True)
async def peer_b(
    peer_servers: dict[str, str], tmp_path: Path, _namespaces_are_objects: None
) -> AsyncIterator[KubeHarness | None]:
    """The peer owning `edge-b`, where the two-cluster workflow's middle step runs (None: a real cluster),
    on its own nats-server: its namespace requests cross the leaf link."""
    async with hosting_peer(peer_servers["peer-b"], "peer-b", tmp_path) as harness:
        yield harness


@pytest.fixture
async def dispatching(settings: Settings, kube: KubeHarness, engines: Engines) -> Runtime:
    """The engine as `jetflow run` starts it with a kubeconfig: it wins the dispatch lease at once."""
    return await engines.runtime(kube.with_kube(settings).replace(dispatch_refill=0.3, namespace_delete_delay=0.5))


async def due_execution(
    runtime: Runtime,
    execution: str,
    *,
    resources: list[str] | None = None,
    window: timedelta = timedelta(hours=1),
    workflow: Workflow = TWO_CLUSTERS,
) -> ExecutionDue:
    """What the scheduler leaves behind when an execution fires: a `due` record (catalog seeded)."""
    catalog = Catalog()
    for resource in RESOURCES.values():
        await catalog.upsert(resource, 1)
    await catalog.upsert(workflow, 1)
    now = runtime.clock.now()
    record = ExecutionRecord(
        id=execution,
        booking="bk-42",
        workflow=workflow.id,
        resources=resources or ["node-a", "edge-b"],  # no storage: credentials are tested on their own
        planned_at=now,
        window_end=now + window,
        state=ExecutionState.DUE,
        updated_at=now,
    )
    await insert_executions([record])
    return ExecutionDue(
        id=f"{execution}:due",
        execution=execution,
        booking="bk-42",
        at=now,
        workflow=record.workflow,
        resources=record.resources,
        planned_at=record.planned_at,
        window_end=record.window_end,
    )


def on_peer(resource: str) -> Workflow:
    """The two-cluster workflow with every step on `resource` (of another peer)."""
    steps = [step.model_copy(update={"resource": resource}) for step in TWO_CLUSTERS.steps]
    return TWO_CLUSTERS.model_copy(update={"id": f"on-{resource}", "steps": steps})


async def publish_due(client: Client, due: ExecutionDue, msg_id: str | None = None) -> None:
    headers = {"Nats-Msg-Id": msg_id or due.id}
    await client.jetstream().publish("jetflow.execution.due", due.model_dump_json().encode(), headers=headers)


async def settled(client: Client, durable: str = "jetflow-dispatch-due") -> None:
    await streams.settled(client, EXECUTIONS, durable)


async def dispatch_status(client: Client, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """`jetflow.ctl.dispatch.status` once `ready` holds of it (else the last one read, for the assertion)."""
    status: dict[str, Any] = await eventually(
        lambda: request_json(client, "jetflow.ctl.dispatch.status", {}), ready, timeout=10.0, interval=0.1
    )
    return status


def expected_requests(namespace: str, *, replay: bool = False) -> list[tuple[str, str]]:
    """The creates of one execution, in order; on a replay the existing namespace's labels are re-asserted
    (the credentials feature may have created it first, without dispatch's labels)."""
    return [
        ("POST", "/api/v1/namespaces"),
        *([("PATCH", f"/api/v1/namespaces/{namespace}")] if replay else []),
        ("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts"),
        ("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles"),
        ("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings"),
        ("POST", f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows"),
    ]


@pytest.fixture
async def dispatched_once(dispatching: Runtime, kube: KubeHarness, client: Client) -> ExecutionDue:
    """An execution dispatched once (its event is out, the due consumer settled), for the replay tests:
    they read kmock's request log, which a real cluster does not keep."""
    if kube.emulator is None:
        pytest.skip("against a real cluster: the requests are not recorded")
    due = await due_execution(dispatching, "bk-42-20261201t100000")
    await publish_due(client, due)
    await wait_for_messages(client, EXECUTIONS, "jetflow.execution.dispatched", 1)
    await settled(client)
    return due


async def test_one_execution_makes_exactly_its_requests(
    dispatching: Runtime, kube: KubeHarness, client: Client, peer_b: KubeHarness | None
) -> None:
    execution = "bk-42-20261201t100000"
    namespace = names.namespace(execution)
    due = await due_execution(dispatching, execution)
    await publish_due(client, due)

    [(headers, body)] = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.dispatched", 1)
    assert headers["Nats-Msg-Id"] == f"{execution}:dispatched"
    assert body["namespace"] == namespace
    assert body["workflow_name"] == names.workflow(execution)
    record = await ExecutionRecord.get(execution)
    assert record is not None
    assert record.state == ExecutionState.DISPATCHED
    if kube.emulator is None:
        return  # against a real cluster: the requests are not recorded
    assert kube.requests() == expected_requests(namespace)
    here = kube.object("v1", "Namespace", None, namespace)
    assert here is not None
    assert here["metadata"]["annotations"]["jetflow.io/remote-peers"] == "peer-b"
    if peer_b is not None:  # the middle step runs on peer-b's cluster: its namespace, identity and rights
        assert peer_b.requests() == expected_requests(namespace)[:-1]
        there = peer_b.object("v1", "Namespace", None, namespace)
        assert there is not None
        assert there["metadata"]["labels"]["jetflow.io/requested-by"] == "local"
        assert there["metadata"]["labels"]["jetflow.io/peer"] == "peer-b"
        assert peer_b.object("v1", "ServiceAccount", namespace, "jetflow-workflow") is not None
    workflow = kube.object("argoproj.io/v1alpha1", "Workflow", namespace, names.workflow(execution))
    assert workflow is not None
    assert workflow["metadata"]["annotations"][names.EXECUTION] == execution
    assert workflow["spec"]["serviceAccountName"] == "jetflow-workflow"


async def test_three_replays_of_a_dispatched_execution_create_nothing(
    dispatched_once: ExecutionDue, kube: KubeHarness, client: Client, peer_b: KubeHarness | None
) -> None:
    due, namespace = dispatched_once, names.namespace(dispatched_once.execution)

    # Replays of the same execution.due (redelivered, or re-published under new message ids).
    for attempt in range(3):
        await publish_due(client, due, msg_id=f"{due.id}:replay-{attempt}")
    await settled(client)
    await asyncio.sleep(0.5)  # a dispatch pass runs after every wake
    assert kube.requests() == expected_requests(namespace)
    if peer_b is not None:
        assert peer_b.requests() == expected_requests(namespace)[:-1]


async def test_a_replay_after_the_store_forgot_the_dispatch_creates_nothing_new(
    dispatched_once: ExecutionDue, kube: KubeHarness, client: Client, peer_b: KubeHarness | None
) -> None:
    due, execution, namespace = dispatched_once, dispatched_once.execution, names.namespace(dispatched_once.execution)

    # Even when the store forgot the dispatch (a crash between the creates and the compare-and-set),
    # a replay re-creates nothing: every create answers 409 and the event is a duplicate.
    assert kube.emulator is not None  # the `dispatched_once` fixture skips a real cluster
    objects = len(kube.emulator.objects)
    remote_objects = len(peer_b.emulator.objects) if peer_b is not None else 0  # type: ignore[union-attr]
    await ExecutionRecord.get_pymongo_collection().update_one({"_id": execution}, {"$set": {"state": "due"}})
    for attempt in range(3):
        await publish_due(client, due, msg_id=f"{due.id}:again-{attempt}")
    await settled(client)
    await eventually(
        lambda: ExecutionRecord.get(execution),
        lambda record: record is not None and record.state == ExecutionState.DISPATCHED,
        timeout=5.0,
    )
    assert kube.requests() == expected_requests(namespace) + expected_requests(namespace, replay=True)
    assert len(kube.emulator.objects) == objects
    if peer_b is not None:
        replayed = expected_requests(namespace)[:-1] + expected_requests(namespace, replay=True)[:-1]
        assert peer_b.requests() == replayed
        assert len(peer_b.emulator.objects) == remote_objects  # type: ignore[union-attr]
    dispatched = await stream_messages(client, EXECUTIONS, "jetflow.execution.dispatched")
    assert len(dispatched) == 1


async def test_a_namespace_created_first_by_credentials_gets_dispatchs_labels(
    dispatching: Runtime, kube: KubeHarness, client: Client
) -> None:
    execution = "bk-43-20261201t100000"
    namespace = names.namespace(execution)
    assert dispatching.kube is not None
    # What the credentials feature creates when keys arrive before dispatch: no Admiralty label.
    await dispatching.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    await publish_due(client, await due_execution(dispatching, execution))
    await wait_for_messages(client, EXECUTIONS, "jetflow.execution.dispatched", 1)
    stored = await dispatching.kube.get("v1", "Namespace", None, namespace)
    assert stored is not None
    labels = stored["metadata"]["labels"]
    assert labels["multicluster-scheduler"] == "enabled"
    assert labels[names.EXECUTION] == execution


async def test_limit_makes_executions_wait_visibly_until_a_slot_frees(
    settings: Settings, kube: KubeHarness, engines: Engines, client: Client, peer_b: KubeHarness | None
) -> None:
    if kube.emulator is None:
        pytest.skip("drives workflow phases by patching the emulator's objects")
    tuned = kube.with_kube(settings).replace(
        dispatch_refill=0.3, dispatch_max_per_resource=1, namespace_delete_delay=0.3
    )
    runtime = await engines.runtime(tuned)
    first, second = await due_execution(runtime, "bk-1-a"), await due_execution(runtime, "bk-1-b")
    await publish_due(client, first)
    await wait_for_messages(client, EXECUTIONS, "jetflow.execution.dispatched", 1)
    await publish_due(client, second)
    await settled(client)
    status = await dispatch_status(client, lambda status: bool(status["waiting"]))
    assert status["waiting"] == [{"execution": "bk-1-b", "reason": "resource node-a runs 1 of 1 allowed"}]
    assert status["running"] == 1
    assert (await ExecutionRecord.get("bk-1-b")).state == ExecutionState.DUE  # type: ignore[union-attr]

    # The first one ends (its workflow succeeds): the second is dispatched, the first's namespace
    # is deleted after the delay.
    namespace = names.namespace("bk-1-a")
    await kube.client.patch(
        "argoproj.io/v1alpha1", "Workflow", namespace, names.workflow("bk-1-a"), {"status": {"phase": "Succeeded"}}
    )
    messages = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.dispatched", 2)
    assert [body["execution"] for _, body in messages] == ["bk-1-a", "bk-1-b"]
    await eventually(lambda: kube.object("v1", "Namespace", None, namespace), lambda found: found is None, timeout=5.0)
    assert kube.object("v1", "Namespace", None, namespace) is None
    assert kube.object("v1", "Namespace", None, names.namespace("bk-1-b")) is not None
    if peer_b is not None:  # released on the remote cluster first
        assert peer_b.object("v1", "Namespace", None, namespace) is None
        assert peer_b.object("v1", "Namespace", None, names.namespace("bk-1-b")) is not None


async def test_a_waiting_execution_whose_window_ends_is_missed_at_once(
    settings: Settings, kube: KubeHarness, engines: Engines, client: Client
) -> None:
    runtime = await engines.runtime(kube.with_kube(settings).replace(dispatch_refill=0.3, dispatch_max_per_resource=1))
    first = await due_execution(runtime, "bk-2-a")
    short = await due_execution(runtime, "bk-2-b", window=timedelta(seconds=1.5))
    await publish_due(client, first)
    await wait_for_messages(client, EXECUTIONS, "jetflow.execution.dispatched", 1)
    await publish_due(client, short)
    [(_, missed)] = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.missed", 1)
    assert (missed["execution"], missed["reason"]) == (
        "bk-2-b",
        "its window ended while it waited for a dispatch slot",
    )
    status = await request_json(client, "jetflow.ctl.dispatch.status", {})
    assert status["waiting"] == []
    assert (await ExecutionRecord.get("bk-2-b")).state == ExecutionState.MISSED  # type: ignore[union-attr]


async def test_a_remote_peer_that_does_not_answer_holds_its_execution_not_the_others(
    dispatching: Runtime, kube: KubeHarness, client: Client, nats_url: str, tmp_path: Path
) -> None:
    await Catalog().upsert(Resource(id="edge-z", peer="peer-z"), 1)
    on_z = on_peer("edge-z")
    for execution in ("bk-z-1", "bk-z-2"):
        await publish_due(client, await due_execution(dispatching, execution, workflow=on_z, resources=["edge-z"]))
    await publish_due(client, await due_execution(dispatching, "bk-b-1"))
    [(_, dispatched)] = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.dispatched", 1)
    assert dispatched["execution"] == "bk-b-1"  # the other execution was not held up
    status = await dispatch_status(client, lambda status: len(status["blocked"]) == 2)
    assert sorted(status["blocked"]) == ["bk-z-1", "bk-z-2"]
    assert "peer peer-z: nobody answers on jetflow.peer.peer-z.namespace.prepare" in status["blocked"]["bk-z-1"]
    assert (await ExecutionRecord.get("bk-z-1")).state == ExecutionState.DUE  # type: ignore[union-attr]
    if kube.emulator is not None:  # our namespace exists (it lists peer-z), the Workflow does not
        assert kube.object("v1", "Namespace", None, names.namespace("bk-z-1")) is not None
        assert kube.object("argoproj.io/v1alpha1", "Workflow", names.namespace("bk-z-1"), "jf-bk-z-1") is None

    async with hosting_peer(nats_url, "peer-z", tmp_path) as peer_z:  # the peer comes back
        messages = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.dispatched", 3, timeout=10)
        order = [body["execution"] for _, body in messages]
        # Both blocked ones go once the peer answers; which first depends on where the back-off ends in
        # a pass (the older one may still be skipped an instant before the younger one is asked).
        assert (order[0], sorted(order[1:])) == ("bk-b-1", ["bk-z-1", "bk-z-2"])
        if peer_z is not None:
            assert peer_z.object("v1", "Namespace", None, names.namespace("bk-z-1")) is not None
    status = await request_json(client, "jetflow.ctl.dispatch.status", {})
    assert status["blocked"] == {}


async def test_a_remote_peer_without_a_cluster_fails_the_execution_and_nothing_is_left(
    dispatching: Runtime, kube: KubeHarness, client: Client
) -> None:
    await Catalog().upsert(Resource(id="edge-n", peer="peer-n"), 1)
    on_n = on_peer("edge-n")
    subscriptions = await host_namespaces(client, NamespaceHost("peer-n", None))
    try:
        await publish_due(client, await due_execution(dispatching, "bk-n-1", workflow=on_n, resources=["edge-n"]))
        [(_, failed)] = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.failed", 1)
        assert failed["execution"] == "bk-n-1"
        assert failed["reason"] == (
            "peer peer-n could not prepare namespace jf-bk-n-1: this peer has no Kubernetes cluster configured"
        )
        if kube.emulator is not None:  # the janitor deletes our namespace: peer-n holds nothing to release
            await eventually(
                lambda: kube.object("v1", "Namespace", None, "jf-bk-n-1"), lambda found: found is None, timeout=5.0
            )
            assert kube.object("v1", "Namespace", None, "jf-bk-n-1") is None
            assert kube.object("argoproj.io/v1alpha1", "Workflow", "jf-bk-n-1", "jf-bk-n-1") is None
    finally:
        for subscription in subscriptions:
            await subscription.unsubscribe()


async def test_a_silent_remote_peer_does_not_take_the_slot_of_other_executions(
    settings: Settings, kube: KubeHarness, engines: Engines, client: Client
) -> None:
    # One slot overall; the oldest due execution needs peer-s, which receives requests and never answers.
    tuned = kube.with_kube(settings).replace(dispatch_refill=0.3, dispatch_max_running=1, peer_timeout=1.0)
    await client.subscribe(subjects.peer("peer-s", "namespace", "prepare"))  # closed with the client
    runtime = await engines.runtime(tuned)
    await Catalog().upsert(Resource(id="edge-s", peer="peer-s"), 1)
    await publish_due(client, await due_execution(runtime, "bk-s-1", workflow=on_peer("edge-s"), resources=["edge-s"]))
    status = await dispatch_status(client, lambda status: bool(status["blocked"]))
    assert status["blocked"] == {"bk-s-1": "peer peer-s: no answer on jetflow.peer.peer-s.namespace.prepare within 1s"}
    await publish_due(client, await due_execution(runtime, "bk-b-2"))
    [(_, dispatched)] = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.dispatched", 1)
    assert dispatched["execution"] == "bk-b-2"
    status = await request_json(client, "jetflow.ctl.dispatch.status", {})
    assert (status["running"], list(status["blocked"]), status["waiting"]) == (1, ["bk-s-1"], [])
    assert (await ExecutionRecord.get("bk-s-1")).state == ExecutionState.DUE  # type: ignore[union-attr]


async def test_an_execution_cancelled_while_its_peer_prepares_leaves_no_workflow(
    dispatching: Runtime, kube: KubeHarness, client: Client
) -> None:
    if kube.emulator is None:
        pytest.skip("reads the emulator's objects")
    await Catalog().upsert(Resource(id="edge-c", peer="peer-c"), 1)
    execution = "bk-c-1"

    async def prepare_while_it_is_cancelled(message: PrepareNamespace) -> PeerReply:
        # The cancel lands while the peer works: the store says cancelled, the cancel handler finds no Workflow.
        await ExecutionRecord.get_pymongo_collection().update_one({"_id": execution}, {"$set": {"state": "cancelled"}})
        return PeerReply(status="ok", created=True)

    subscriptions = await serve(
        client, "peer-c", "namespace", "prepare", PrepareNamespace, prepare_while_it_is_cancelled
    )
    try:
        await publish_due(client, await due_execution(dispatching, execution, workflow=on_peer("edge-c")))
        delete = ("DELETE", f"/apis/argoproj.io/v1alpha1/namespaces/jf-{execution}/workflows/jf-{execution}")
        await eventually(kube.requests, lambda requests: delete in requests, timeout=5.0)
    finally:
        for subscription in subscriptions:
            await subscription.unsubscribe()
    workflow = kube.object("argoproj.io/v1alpha1", "Workflow", f"jf-{execution}", f"jf-{execution}")
    assert workflow is None or workflow["metadata"].get("deletionTimestamp")
    assert await stream_messages(client, EXECUTIONS, "jetflow.execution.dispatched") == []


async def test_cancelled_execution_deletes_its_workflow(
    dispatching: Runtime, kube: KubeHarness, client: Client
) -> None:
    execution = "bk-9-20261201t100000"
    await publish_due(client, await due_execution(dispatching, execution))
    await wait_for_messages(client, EXECUTIONS, "jetflow.execution.dispatched", 1)
    cancelled = {
        "id": f"{execution}:cancelled",
        "execution": execution,
        "booking": "bk-42",
        "at": dispatching.clock.now().isoformat(),
        "reason": "booking cancelled",
    }
    await client.jetstream().publish(
        "jetflow.execution.cancelled", json.dumps(cancelled).encode(), headers={"Nats-Msg-Id": cancelled["id"]}
    )
    await settled(client, "jetflow-dispatch-cancelled")
    workflow = await kube.client.get(
        "argoproj.io/v1alpha1", "Workflow", names.namespace(execution), names.workflow(execution)
    )
    assert workflow is None or workflow["metadata"].get("deletionTimestamp")


class Taint:
    """A throttle gate whose answer the test changes, as the throttle feature would on a command."""

    def __init__(self) -> None:
        self.tainted = {"node-a"}

    def blocked(self, resources: Sequence[str]) -> tuple[str, str] | None:
        hit = sorted(self.tainted & set(resources))
        return (hit[0], "tainted") if hit else None

    def limit(self, resource: str, base: int) -> int:
        return 0 if resource in self.tainted else base


async def test_throttle_command_rechecks_waiting_executions(
    settings: Settings, kube: KubeHarness, engines: Engines, client: Client
) -> None:
    gate = Taint()
    tuned = kube.with_kube(settings).replace(dispatch_refill=120.0)  # only a wake dispatches
    runtime = await engines.runtime(tuned, gate=gate)
    execution = "bk-7-20261201t100000"
    await publish_due(client, await due_execution(runtime, execution))
    await settled(client)
    status = await dispatch_status(client, lambda status: bool(status["waiting"]))
    assert status["waiting"] == [{"execution": execution, "reason": "resource node-a is throttled: tainted"}]

    gate.tainted.clear()
    command = ThrottleCommand(
        id="node-a:normal:1",
        node="node-a",
        level=ThrottleLevel.NORMAL,
        previous=ThrottleLevel.TAINTED,
        reason="cpu back under 70%",
        since=runtime.clock.now(),
    )
    await client.jetstream().publish("jetflow.throttle.command.node-a", command.model_dump_json().encode())
    [(_, body)] = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.dispatched", 1, timeout=5)
    assert body["execution"] == execution
