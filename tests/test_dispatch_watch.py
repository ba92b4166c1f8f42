"""The one watcher against kmock's watch stream: one event per phase change, in order, through a
broken connection (a change made while disconnected included) and a restart of the watcher."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import pytest

from engine.core.errors import TemporaryError
from engine.dispatch.report import Reporter
from engine.dispatch.watch import Watcher
from engine.executions.store import ExecutionRecord, Transitions
from engine.kube import names
from schemas.execution import ExecutionState
from tests.support.polling import eventually
from tests.support.streams import stream_messages
from tests.test_dispatch import due_execution

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client

    from engine.kube.client import Kube, Manifest
    from engine.runtime import Runtime
    from tests.support.kube import KubeHarness

WORKFLOWS = ("argoproj.io/v1alpha1", "Workflow")


class Unplugged:
    """Our `Kube` port with a plug to pull: the open watch's HTTP response is closed (the real
    connection goes away) and the stream fails as a network error would."""

    def __init__(self, inner: Kube) -> None:
        self.inner = inner
        self.pulled = asyncio.Event()
        self.watches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def watch(self, *args: Any, **kwargs: Any) -> AsyncIterator[Manifest]:
        self.watches += 1
        stream = self.inner.watch(*args, **kwargs)
        events = aiter(stream)
        following: asyncio.Future[Manifest] | None = None
        try:
            while True:
                pulled = asyncio.ensure_future(self.pulled.wait())
                following = asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait({pulled, following}, return_when=asyncio.FIRST_COMPLETED)
                if pulled in done:
                    following.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await following
                    self.pulled.clear()
                    raise TemporaryError("connection reset by peer (test)")
                pulled.cancel()
                try:
                    event = following.result()
                except StopAsyncIteration:
                    return
                following = None
                yield event
        finally:
            if following is not None and not following.done():
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await following
            await stream.aclose()  # type: ignore[attr-defined]


async def set_phase(kube: KubeHarness, execution: str, phase: str, **status: Any) -> None:
    await kube.client.patch(
        *WORKFLOWS, names.namespace(execution), names.workflow(execution), {"status": {"phase": phase, **status}}
    )


async def events(client: Client) -> list[tuple[str, str]]:
    stored = await stream_messages(client, "JETFLOW_EXECUTIONS", "jetflow.execution.>")
    return [
        (headers["Nats-Msg-Id"], body["execution"]) for headers, body in stored if "due" not in headers["Nats-Msg-Id"]
    ]


async def test_phase_changes_become_one_event_each_in_order_across_a_disconnect(
    engine: Runtime, kube: KubeHarness, client: Client
) -> None:
    if kube.emulator is None:
        pytest.skip("drives workflow phases by patching the emulator's objects")
    from engine.dispatch.manifests import manifests
    from tests.support.plans import two_cluster_plan

    executions = ["bk-42-a", "bk-42-b"]
    for execution in executions:
        await due_execution(engine, execution)
        await ExecutionRecord.get_pymongo_collection().update_one({"_id": execution}, {"$set": {"state": "dispatched"}})
        for manifest in manifests(two_cluster_plan(execution)):
            await kube.client.create(manifest)

    unplugged = Unplugged(kube.client)
    reporter = Reporter(Transitions(engine.telemetry.meter.create_counter("t")), engine.publisher, engine.clock)
    watcher = Watcher(unplugged, reporter, peer_id="local", timeout=30, retry=0.1)
    await watcher.start()
    try:
        assert await eventually(lambda: len(watcher.phases) == 2), "condition not reached"
        await set_phase(kube, "bk-42-a", "Running")
        assert await eventually(lambda: _has(client, "bk-42-a:running")), "condition not reached"
        await set_phase(kube, "bk-42-a", "Running", progress="1/3")  # same phase: nothing to say
        await set_phase(kube, "bk-42-b", "Running")
        assert await eventually(lambda: _has(client, "bk-42-b:running")), "condition not reached"

        unplugged.pulled.set()  # the connection breaks ...
        assert await eventually(lambda: not unplugged.pulled.is_set()), "condition not reached"
        await set_phase(kube, "bk-42-a", "Succeeded")  # ... and the phase changes meanwhile
        assert await eventually(lambda: _has(client, "bk-42-a:succeeded")), "condition not reached"
        await set_phase(kube, "bk-42-b", "Failed", message="Step exceeded its deadline")
        assert await eventually(lambda: _has(client, "bk-42-b:timed_out")), "condition not reached"
    finally:
        await watcher.stop()
    assert unplugged.watches >= 2

    # A new leader's watcher knows nothing and lists everything again: what it reports again is
    # dropped by the deterministic event ids, so the streams hold nothing new.
    watcher.phases.clear()
    await watcher.start()
    assert await eventually(lambda: len(watcher.phases) == 2), "condition not reached"
    await asyncio.sleep(0.3)
    await watcher.stop()

    assert await events(client) == [
        ("bk-42-a:running", "bk-42-a"),
        ("bk-42-b:running", "bk-42-b"),
        ("bk-42-a:succeeded", "bk-42-a"),
        ("bk-42-b:timed_out", "bk-42-b"),
    ]
    states = {e: (await ExecutionRecord.get(e)).state for e in executions}  # type: ignore[union-attr]
    assert states == {"bk-42-a": ExecutionState.SUCCEEDED, "bk-42-b": ExecutionState.TIMED_OUT}


async def _has(client: Client, msg_id: str) -> bool:
    return any(found == msg_id for found, _ in await events(client))
