"""The dispatcher: due executions, within the limits, become Kubernetes objects and `dispatched` events.

One replica dispatches at a time (the `dispatch` lease), so the limits are exact without a
distributed counter; the queue of waiting executions is the store's executions in state `due`,
oldest first, so a restart or a new leader loses nothing. A pass runs when woken (an `execution.due`
arrived, an execution ended or was cancelled, a throttle command changed a limit) and every
`dispatch_refill` seconds.

Dispatching one execution: load its workflow and resources from the catalog, build the manifests
(pure), create them in order (409 = an earlier attempt did it), then move `due → dispatched` by
compare-and-set and publish `jetflow.execution.dispatched` (`<execution>:dispatched`). A crash at any
point is repaired by the next pass: creates answer 409, the event id deduplicates. A federated
workflow's remote peers prepare the same namespace on their clusters before the Workflow exists
(engine/dispatch/remote.py); while one does not answer, the execution waits and the others go on.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from engine.core.background import Background
from engine.core.errors import PermanentError, TemporaryError
from engine.dispatch import limits
from engine.dispatch.manifests import manifests
from engine.dispatch.plan import DispatchConfig, Plan
from engine.dispatch.remote import PeerNotReady
from engine.executions.advance import advance
from engine.executions.states import FINAL
from engine.executions.store import ExecutionRecord
from engine.kube import kinds
from engine.telemetry import context_of
from schemas import subjects
from schemas.execution import ExecutionDispatched, ExecutionState

if TYPE_CHECKING:
    from datetime import datetime

    from engine.bus.publisher import Publisher
    from engine.catalog.store import Catalog
    from engine.core.clock import Clock
    from engine.core.gate import ThrottleGate
    from engine.core.settings import PeerSettings
    from engine.dispatch.remote import RemoteNamespaces
    from engine.dispatch.report import Reporter
    from engine.dispatch.settings import DispatchSettings
    from engine.executions.store import Transitions
    from engine.kube.client import Kube

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

ACTIVE = [str(ExecutionState.DISPATCHED), str(ExecutionState.RUNNING)]
#: Due executions considered per pass; the rest wait for the next one (bounded memory and queries).
PASS_SIZE = 500
#: Seconds between two passes at the least.
WAKE_GAP = 0.25
WINDOW_ENDED = "its window ended while it waited for a dispatch slot"


async def load_plan(catalog: Catalog, record: ExecutionRecord, config: DispatchConfig, *, now: datetime) -> Plan:
    """The builders' input for one execution, from the catalog; unknown names are permanent errors."""
    workflow = await catalog.workflow(record.workflow)
    if workflow is None:
        raise PermanentError(f"unknown workflow '{record.workflow}'")
    wanted = set(record.resources) | {step.resource for step in workflow.steps if step.resource}
    resources = await catalog.resources(sorted(wanted))
    if missing := sorted(wanted - set(resources)):
        raise PermanentError(f"unknown resource(s): {', '.join(missing)}")
    return Plan(
        execution=record.id,
        booking=record.booking,
        workflow=workflow,
        resources=resources,
        planned_at=record.planned_at,
        window_end=record.window_end,
        now=now,
        config=config,
    )


class Dispatcher:
    def __init__(
        self,
        *,
        kube: Kube,
        catalog: Catalog,
        transitions: Transitions,
        reporter: Reporter,
        publisher: Publisher,
        clock: Clock,
        gate: ThrottleGate,
        settings: DispatchSettings,
        peer: PeerSettings,
        remote: RemoteNamespaces,
    ) -> None:
        self._kube = kube
        self._catalog = catalog
        self._transitions = transitions
        self._reporter = reporter
        self._publisher = publisher
        self._clock = clock
        self._gate = gate
        self._settings = settings
        self._config = DispatchConfig.from_settings(settings, peer)
        self._wake = asyncio.Event()
        self._runner = Background("dispatcher", self._loop)
        self._remote = remote
        self.waiting: dict[str, str] = {}
        self.blocked: dict[str, str] = {}
        """Executions this leader could not dispatch yet because a remote peer is not ready, with why."""
        self.dispatched = 0

    # --- the pass loop (leader only) -------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    @property
    def active(self) -> bool:
        return self._runner.running

    async def start(self) -> None:
        self._runner.start()

    async def stop(self) -> None:
        await self._runner.stop()
        self.waiting, self.blocked = {}, {}  # a deposed replica reports nothing stale

    async def _loop(self) -> None:
        # hera takes seconds to import: in a thread, not on the event loop at the first dispatch.
        await asyncio.to_thread(importlib.import_module, "hera.workflows")
        woken = False
        while True:
            self._wake.clear()
            try:
                await self.run_pass(woken=woken)
            except TemporaryError as error:
                log.warning("dispatch pass stopped, retried in %gs: %s", self._settings.refill, error)
            except Exception:
                log.exception("dispatch pass failed; retried in %gs", self._settings.refill)
            try:
                await asyncio.wait_for(self._wake.wait(), self._settings.refill)
                woken = True
            except TimeoutError:
                woken = False
            # Wakes that come in a burst (ten due executions a second) make one pass, not ten: a pass
            # reads up to PASS_SIZE due executions, and at the running limit every pass reads them all again.
            await asyncio.sleep(WAKE_GAP)

    async def decide(
        self,
        *,
        exclude: frozenset[str] = frozenset(),
        only: frozenset[str] | None = None,
        active: list[list[str]] | None = None,
    ) -> limits.Decision[ExecutionRecord]:
        """Read the queue and the slots in use from the store (two queries) and apply the limits; no writes.

        `exclude` leaves executions out of the queue, `only` keeps just those (the blocked ones, which
        are given the slots left once the others had theirs); `active`: the slots in use, if just read.
        """
        collection = ExecutionRecord.get_pymongo_collection()
        if active is None:
            active = await self._active()
        query: dict[str, Any] = {"state": str(ExecutionState.DUE)}
        if only is not None:
            query["_id"] = {"$in": sorted(only)}
        due_docs = await collection.find(query).sort([("planned_at", 1), ("_id", 1)]).limit(PASS_SIZE).to_list()
        queue = [record for doc in due_docs if (record := ExecutionRecord.model_validate(doc)).id not in exclude]
        now = self._clock.now()
        decision = limits.choose(
            [record for record in queue if now < record.window_end],
            active,
            self._gate,
            max_running=self._settings.max_running,
            max_per_resource=self._settings.max_per_resource,
        )
        return replace(decision, expired=[record for record in queue if now >= record.window_end])

    async def run_pass(self, *, woken: bool = False) -> None:
        """Dispatch what the limits allow; executions blocked by a remote peer get only the slots left.

        A `woken` pass (a due event, say) at the running limit stops after counting the slots: nothing can be
        dispatched, and reading the whole queue on every wake at the limit kept the store busy enough to
        slow every other command. The periodic pass still reads it (waiting reasons, windows that ended).
        """
        active = await self._active()
        if woken and len(active) >= self._settings.max_running:
            return
        decision = await self.decide(exclude=frozenset(self.blocked), active=active)
        for execution, reason in decision.waiting.items():
            if self.waiting.get(execution) != reason:
                log.info("execution %s waits: %s", execution, reason)
        self.waiting = dict(decision.waiting)
        await self._apply(decision)
        if self.blocked:
            retry = await self.decide(only=frozenset(self.blocked))
            still_due = {record.id for record in retry.dispatch} | set(retry.waiting)
            self.blocked = {execution: why for execution, why in self.blocked.items() if execution in still_due}
            await self._apply(retry)

    async def _active(self) -> list[list[str]]:
        """The resources of every execution holding a slot (dispatched or running)."""
        collection = ExecutionRecord.get_pymongo_collection()
        active = await collection.find({"state": {"$in": ACTIVE}}, {"resources": 1}).to_list()
        return [list(doc.get("resources", [])) for doc in active]

    async def _apply(self, decision: limits.Decision[ExecutionRecord]) -> None:
        for record in decision.expired:
            # Its window ended while it waited: missed now, not left listed as waiting.
            self.blocked.pop(record.id, None)
            await self._reporter.report(record.id, record.booking, ExecutionState.MISSED, WINDOW_ENDED)
        for record in decision.dispatch:
            await self.dispatch(record)

    # --- one execution --------------------------------------------------------------------------

    async def plan(self, record: ExecutionRecord) -> Plan:
        return await load_plan(self._catalog, record, self._config, now=self._clock.now())

    async def dispatch(self, record: ExecutionRecord) -> None:
        """Create `record`'s objects in the cluster, in the trace of the request that booked it."""
        with _tracer.start_as_current_span(
            "jetflow.dispatch", context=context_of(record.trace), attributes={"jetflow.execution": record.id}
        ):
            await self._dispatch(record)

    async def _dispatch(self, record: ExecutionRecord) -> None:
        now = self._clock.now()
        if now >= record.window_end:
            self.blocked.pop(record.id, None)
            await self._reporter.report(record.id, record.booking, ExecutionState.MISSED, WINDOW_ENDED)
            return
        try:
            plan = await self.plan(record)
            namespace, *others = manifests(plan)
            if not await self._kube.create(namespace):
                # The credentials feature may have created the namespace first, without what only
                # dispatch knows (Admiralty's label, the remote peers): make sure they are there.
                meta = namespace["metadata"]
                patch = {"metadata": {"labels": meta["labels"], "annotations": meta["annotations"]}}
                await self._kube.patch("v1", "Namespace", None, plan.namespace, patch)
            await self._remote.prepare(plan)  # after our namespace, which lists the peers to release later
            for manifest in others:
                await self._kube.create(manifest)
        except PeerNotReady as error:
            if self.blocked.get(record.id) != str(error):
                log.warning("execution %s waits: %s", record.id, error)
            self.blocked[record.id] = str(error)
            return
        except PermanentError as error:
            self.blocked.pop(record.id, None)
            log.warning("execution %s cannot be dispatched: %s", record.id, error.reason)
            await self._reporter.report(record.id, record.booking, ExecutionState.FAILED, error.reason)
            return
        result = await advance(self._transitions, record.id, ExecutionState.DISPATCHED, at=now)
        if not result.moved:
            stored = result.stored
            # Idempotency guard: dispatched earlier but the event may be lost; otherwise it moved on.
            if not result.reached:
                self.blocked.pop(record.id, None)
                if stored is not None and stored.state in FINAL:
                    # Cancelled while its objects were being created: the cancel handler found no
                    # Workflow to delete yet, so the one just created is removed here.
                    await self._kube.delete(
                        kinds.WORKFLOW.api_version, kinds.WORKFLOW.kind, plan.namespace, plan.workflow_name
                    )
                return
        self.waiting.pop(record.id, None)
        self.blocked.pop(record.id, None)
        self.dispatched += 1
        event = ExecutionDispatched(
            id=f"{record.id}:dispatched",
            execution=record.id,
            booking=record.booking,
            at=now,
            namespace=plan.namespace,
            workflow_name=plan.workflow_name,
        )
        await self._publisher.publish(subjects.EXECUTION_DISPATCHED, event, causation=record.id)

    async def accept(self, execution: str) -> None:
        """An `execution.due` arrived: check it is known, and wake the dispatching replica."""
        if await ExecutionRecord.get(execution) is None:
            raise PermanentError(f"unknown execution '{execution}'")
        self.wake()

    async def cancel(self, execution: str) -> bool:
        """Stop a cancelled execution's workflow; its namespace goes with the finished ones."""
        from engine.kube import names

        deleted = await self._kube.delete(
            kinds.WORKFLOW.api_version, kinds.WORKFLOW.kind, names.namespace(execution), names.workflow(execution)
        )
        self.wake()  # a slot may have freed
        return deleted

    def status(self) -> dict[str, Any]:
        return {"leader": self.active, "dispatched": self.dispatched, "blocked": self.blocked}
