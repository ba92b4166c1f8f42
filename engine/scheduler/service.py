"""The firing replica's work: keep APScheduler's jobs in step with the store, and fire them.

Only executions planned within `horizon` seconds are loaded as jobs (memory stays bounded however
many executions are booked); a refill every `refill` seconds, and a nudge on `jetflow.scheduler.refresh`
(published when a booking is confirmed, cancelled, paused or resumed), keep the window current. A
nudge names its booking and reloads only that booking's executions, so a burst of N bookings costs
N small reads, not N reads of the whole horizon.
APScheduler 3.11 (stable; 4.0 is still alpha) with its default in-memory job store: no job store
is shared between processes, MongoDB is the only truth. Each periodic refill also records `missed` the paused
executions whose window has ended, so their resource claims do not outlive them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from opentelemetry import trace

from engine.core.background import Background
from engine.executions.advance import advance
from engine.executions.bookings import BookingRecord
from engine.executions.states import UNFIRED, UNFIRED_NAMES
from engine.executions.store import ExecutionRecord
from engine.scheduler.horizon import Horizon
from engine.scheduler.policy import Fire, decide
from engine.telemetry import context_of
from schemas import subjects
from schemas.execution import ExecutionDue, ExecutionHeld, ExecutionMissed, ExecutionState

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opentelemetry.metrics import Counter, Histogram

    from engine.bus.publisher import Publisher
    from engine.core.clock import Clock
    from engine.core.gate import ThrottleGate
    from engine.executions.store import Transitions
    from engine.scheduler.policy import CatchUp

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

#: Extra condition of the firing compare-and-set: a paused execution is never fired.
NOT_PAUSED = {"paused": {"$ne": True}}
WINDOW_ENDED_PAUSED = "its window ended while its booking was paused"
#: Paused executions expired per refill; the rest wait for the next one (bounded memory and queries).
PASS_SIZE = 500
#: Every this many periodic refills, one reads the whole horizon again; the others read only the
#: stretch that entered it since the last one (a full read of 10,000 executions keeps the store busy
#: long enough to make fires late).
FULL_EVERY = 10
#: Executions read per query by id (the embedded store refuses very long `$in` lists).
READ_CHUNK = 200
#: Runs of one instant's timer job that may overlap (see `start`).
TIMER_INSTANCES = 1_000
#: Timer jobs added between two yields to the event loop.
YIELD_EVERY = 500


def pending_query(
    until: datetime, *, entered_since: datetime | None = None, booking: str | None = None
) -> dict[str, Any]:
    """The unpaused executions left to fire before `until`: all of them, those planned since
    `entered_since` (a periodic pass), or those of one `booking`."""
    query: dict[str, Any] = {"state": {"$in": UNFIRED_NAMES}, "paused": {"$ne": True}, "planned_at": {"$lt": until}}
    if entered_since is not None:
        query["planned_at"] = {"$gte": entered_since, "$lt": until}
    if booking is not None:
        query["booking"] = booking
    return query


def timer_id(instant: datetime) -> str:
    """The APScheduler job that fires the executions planned at `instant`."""
    return f"at:{instant.isoformat()}"


def due_event(record: ExecutionRecord, *, at: datetime) -> ExecutionDue:
    """`record` fired at `at`; its id is the same however often it is published."""
    return ExecutionDue(
        id=f"{record.id}:due",
        execution=record.id,
        booking=record.booking,
        at=at,
        workflow=record.workflow,
        resources=record.resources,
        planned_at=record.planned_at,
        window_end=record.window_end,
    )


class Scheduler:
    def __init__(
        self,
        *,
        publisher: Publisher,
        transitions: Transitions,
        clock: Clock,
        gate: ThrottleGate,
        catch_up: CatchUp,
        grace: float,
        horizon: float,
        refill: float,
        announce_window: float,
        lateness: Histogram,
        outcomes: Counter,
    ) -> None:
        self._publisher = publisher
        self._transitions = transitions
        self._clock = clock
        self._gate = gate
        self._catch_up: CatchUp = catch_up
        self._grace = grace
        self._horizon = horizon
        self._refill_every = refill
        self._announce_window = announce_window
        self._lateness = lateness
        self._outcomes = outcomes
        self._horizon_store = Horizon(publisher=publisher, transitions=transitions)
        self._aps: AsyncIOScheduler | None = None
        self._planned: dict[str, str] = {}
        """Execution → booking of every execution waiting for its timer."""
        self._timers: dict[datetime, dict[str, ExecutionRecord]] = {}
        """Planned instant → the executions its one timer job fires (a cron second of 80 bookings is one job)."""
        self._instant_of: dict[str, datetime] = {}
        self._changed: set[str] = set()
        """Bookings nudged since the last refill: only their executions are read again."""
        self._full = False
        self._loaded_until: datetime | None = None
        """End of the horizon at the last refill: a periodic pass reads only what entered it since."""
        self._fired: dict[str, datetime] = {}
        """Executions fired in this leadership, so a refill that read them just before cannot re-add them."""
        self._held: dict[str, ExecutionRecord] = {}
        self._unannounced: dict[str, ExecutionDue] = {}
        """Due events not published yet: the execution fired, the publish failed."""
        self._refiller = Background("scheduler-refill", self._refill_loop)
        self._refill_now = asyncio.Event()

    @property
    def active(self) -> bool:
        return self._aps is not None

    def status(self) -> dict[str, Any]:
        return {"leader": self.active, "jobs": len(self._planned), "held": sorted(self._held)}

    async def start(self) -> None:
        """Become the firing replica: load the horizon, fire what is due (catch-up), keep refilling."""
        # An instant's timer may be armed again while its first run still awaits the store (a booking
        # confirmed right at that second): both runs must go ahead, each firing its own group. With
        # APScheduler's default of one running instance per job id, the second was skipped, for good.
        self._aps = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": TIMER_INSTANCES},
        )
        self._aps.start()
        await self.refill()
        await self._announce_recent()
        self._refiller.start()

    async def stop(self) -> None:
        await self._refiller.stop()
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        self._planned.clear()
        self._timers.clear()
        self._instant_of.clear()
        self._fired.clear()
        self._held.clear()
        self._unannounced.clear()  # the dispatcher still finds them due in the store
        self._changed.clear()
        self._loaded_until = None

    def nudge(self, booking: str | None = None) -> None:
        """The executions of `booking` changed in the store (confirmed, cancelled, paused…): reload just
        those soon; with no booking, reload the whole horizon. A standby ignores it: it loads everything
        when it becomes the leader."""
        if self._aps is None:
            return
        if booking is None:
            self._full = True
        else:
            self._changed.add(booking)
        self._refill_now.set()

    async def _refill_loop(self) -> None:
        passes = 0
        while True:
            periodic = False
            try:
                await asyncio.wait_for(self._refill_now.wait(), self._refill_every)
            except TimeoutError:
                periodic = True
                passes += 1
            self._refill_now.clear()
            full, self._full = (periodic and passes % FULL_EVERY == 0) or self._full, False
            changed, self._changed = self._changed, set()
            try:
                if periodic and not full:
                    await self._refill_slice(changed)
                else:
                    await self.refill(None if full else changed)
            except Exception:
                self._full = True  # what was asked for is not lost: the next pass reads everything
                log.exception("scheduler refill failed; retrying in %ss", self._refill_every)

    async def _refill_slice(self, changed: set[str]) -> int:
        """A periodic pass: what entered the horizon since the last one, what was just stored, and the
        nudged bookings; the paused executions whose window ended are recorded missed as on a full pass."""
        since = self._loaded_until
        if since is None:
            return await self.refill(None)
        added = await self.refill(changed, entered_since=since)
        await self._expire_paused()
        return added

    async def refill(self, bookings: set[str] | None = None, *, entered_since: datetime | None = None) -> int:
        """Add a job for every pending execution planned within the horizon; drop jobs gone from it.

        With no argument, the whole horizon is read again (a full pass), and the paused executions whose
        window ended are recorded `missed`. With `bookings` (nudged since the last pass) only their state is
        checked: the executions the horizon store just wrote are armed as written, a cancelled or paused
        booking's jobs are dropped, and only a resumed one's executions are read again. With
        `entered_since` (a periodic pass), also what entered the horizon since then.
        """
        if self._aps is None:
            return 0
        until = self._clock.now() + timedelta(seconds=self._horizon)
        full = bookings is None and entered_since is None
        if not full and not bookings and entered_since is None:
            return 0
        stored = await self._horizon_store.store(
            until, at=self._clock.now(), bookings=bookings if entered_since is None else None
        )
        if full:
            self._loaded_until = until
            documents, current = await self._read_pending(pending_query(until))
            for stale in set(self._planned) - current:  # cancelled or paused since loaded
                self._disarm(stale)
            added = await self._arm_all(ExecutionRecord.model_validate(document) for document in documents)
        else:
            added = 0
            if entered_since is not None:
                documents, _ = await self._read_pending(pending_query(until, entered_since=entered_since))
                added += await self._arm_all(ExecutionRecord.model_validate(document) for document in documents)
            fresh = (record for records in stored.values() for record in records)
            added += await self._arm_all(record for record in fresh if record.planned_at < until and not record.paused)
            added += await self._recheck_bookings(bookings or set(), stored, until)
            if entered_since is not None:
                self._loaded_until = until
        horizon_start = self._clock.now() - timedelta(seconds=self._horizon)
        self._fired = {key: planned for key, planned in self._fired.items() if planned > horizon_start}
        await self._recheck_held()
        await self._announce_again()
        if full:
            await self._expire_paused()
        return added

    async def _arm_all(self, records: Iterable[ExecutionRecord]) -> int:
        """Arm each of `records` not loaded, held or fired yet; returns how many were armed."""
        added = 0
        for record in records:
            if record.id in self._planned or record.id in self._held or record.id in self._fired:
                continue
            if record.state == ExecutionState.HELD:
                self._held[record.id] = record
                continue
            if record.state not in UNFIRED:
                continue
            self._arm(record)
            added += 1
            if added % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the timers due meanwhile fire on time
        return added

    async def _recheck_bookings(
        self, bookings: set[str], stored: dict[str, list[ExecutionRecord]], until: datetime
    ) -> int:
        """Bring the jobs of the nudged `bookings` in line with their booking record: none for a cancelled
        or paused booking; a resumed one's executions read again (by booking: the rare, small read)."""
        if not bookings:
            return 0
        collection = BookingRecord.get_pymongo_collection()
        states: dict[str, dict[str, Any]] = {}
        for chunk in itertools.batched(sorted(bookings), READ_CHUNK, strict=False):
            query = {"_id": {"$in": list(chunk)}}
            for document in await collection.find(query, {"status": 1, "paused": 1, "stored_count": 1}).to_list():
                states[str(document["_id"])] = document
        loaded: dict[str, list[str]] = {}
        for execution, booking in self._planned.items():
            if booking in bookings:
                loaded.setdefault(booking, []).append(execution)
        added = 0
        for booking in sorted(bookings):
            state = states.get(booking)
            if state is None or state.get("status") != "confirmed" or state.get("paused"):
                for execution in loaded.get(booking, []):
                    self._disarm(execution)
            elif not loaded.get(booking) and not stored.get(booking) and state.get("stored_count", 0):
                documents, _ = await self._read_pending(pending_query(until, booking=booking), by_id=False)
                added += await self._arm_all(ExecutionRecord.model_validate(document) for document in documents)
        return added

    async def _read_pending(
        self, query: dict[str, Any], *, by_id: bool = True
    ) -> tuple[list[dict[str, Any]], set[str]]:
        """The documents `query` matches that are not loaded yet, and the ids of all it matches.

        `by_id` (the passes over the horizon, which match mostly what is loaded already): the ids first,
        then only the new documents, READ_CHUNK at a time. Decoding and validating 10,000 loaded
        executions on the event loop on every pass would make the fires around it late.
        """
        collection = ExecutionRecord.get_pymongo_collection()
        if not by_id:
            documents = await collection.find(query).to_list()
            return documents, {str(document["_id"]) for document in documents}
        listed = await collection.find(query, {"_id": 1}).to_list()
        ids = [str(document["_id"]) for document in listed]
        new = [key for key in ids if key not in self._planned and key not in self._held and key not in self._fired]
        documents = []
        for chunk in itertools.batched(new, READ_CHUNK, strict=False):
            documents += await collection.find({**query, "_id": {"$in": list(chunk)}}).to_list()
        return documents, set(ids)

    async def _expire_paused(self) -> None:
        """A paused execution whose window ended can never run: record it missed and free its claims,
        instead of leaving it scheduled (and its slots booked) until someone resumes the booking."""
        now = self._clock.now()
        # window_end > planned_at, so the (state, planned_at) index bounds this to past, pending executions.
        query = {
            "state": {"$in": UNFIRED_NAMES},
            "planned_at": {"$lt": now},
            "paused": True,
            "window_end": {"$lte": now},
        }
        documents = await ExecutionRecord.get_pymongo_collection().find(query).limit(PASS_SIZE).to_list()
        for document in documents:
            await self._miss(ExecutionRecord.model_validate(document), WINDOW_ENDED_PAUSED, now)

    def _arm(self, record: ExecutionRecord) -> None:
        """Fire `record` at its planned instant, with the timer job of that instant (one per instant)."""
        assert self._aps is not None
        self._planned[record.id] = record.booking
        if (group := self._timers.get(record.planned_at)) is None:
            group = self._timers[record.planned_at] = {}
            # The injected clock may differ from the wall clock APScheduler sleeps on (tests): translate.
            run_date = datetime.now(UTC) + (record.planned_at - self._clock.now())
            self._aps.add_job(
                self._fire_instant,
                DateTrigger(run_date=run_date),
                args=[record.planned_at],
                id=timer_id(record.planned_at),
                replace_existing=True,
            )
        group[record.id] = record
        self._instant_of[record.id] = record.planned_at

    def _disarm(self, execution: str) -> None:
        """`execution` is not to be fired by its timer any more (cancelled, paused)."""
        self._planned.pop(execution, None)
        instant = self._instant_of.pop(execution, None)
        group = self._timers.get(instant) if instant is not None else None
        if instant is None or group is None:
            return
        group.pop(execution, None)
        if not group:
            del self._timers[instant]
            if self._aps is not None:
                with contextlib.suppress(Exception):
                    self._aps.remove_job(timer_id(instant))

    async def _fire_instant(self, instant: datetime) -> None:
        """The timer of `instant` fired: fire its executions, all stamped with this moment."""
        group = self._timers.pop(instant, {})
        now = self._clock.now()
        for execution in group:
            self._instant_of.pop(execution, None)
        firing = (self._fire(record, now=now) for record in group.values())
        fired = await asyncio.gather(*firing, return_exceptions=True)
        for record, outcome in zip(group.values(), fired, strict=True):
            if isinstance(outcome, BaseException):
                log.error("firing execution %s failed", record.id, exc_info=outcome)

    async def _fire(self, record: ExecutionRecord, *, now: datetime | None = None) -> None:
        """Fire `record`, in the trace of the request that booked it."""
        with _tracer.start_as_current_span(
            "jetflow.scheduler fire", context=context_of(record.trace), attributes={"jetflow.execution": record.id}
        ):
            await self._fire_now(record, now=now)

    async def _fire_now(self, record: ExecutionRecord, *, now: datetime | None = None) -> None:
        self._planned.pop(record.id, None)
        self._fired[record.id] = record.planned_at
        now = now or self._clock.now()
        verdict = decide(record.planned_at, record.window_end, now, catch_up=self._catch_up, grace=self._grace)
        if not isinstance(verdict, Fire):
            await self._miss(record, verdict.reason, now)
            return
        blocked = self._gate.blocked(record.resources)
        if blocked is not None:
            await self._hold(record, *blocked, now=now)
            return
        # Idempotency guard: the job holds a copy of the record; a pause that landed since is in the store.
        result = await advance(self._transitions, record.id, ExecutionState.DUE, at=now, unless=NOT_PAUSED)
        if not result.moved:
            stored = result.stored
            # Idempotency guard: `due` already set (a previous leader died before publishing) still
            # needs its event; the deterministic id makes a second publish a no-op.
            if not result.reached:
                self._fired.pop(record.id, None)  # not fired (paused, cancelled): a refill may load it again
                if stored is not None and not (stored.paused and stored.state in UNFIRED_NAMES):
                    self._transitions.refused(record.id, ExecutionState.DUE)
                return
        self._lateness.record(verdict.lateness)
        self._outcomes.add(1, {"outcome": "due"})
        due = due_event(record, at=now)
        try:
            await self._publisher.publish(subjects.EXECUTION_DUE, due, causation=record.id)
        except Exception:
            # Due in the store but not announced: sent again by the next refill (same id, so at most once).
            self._unannounced[due.id] = due
            raise

    async def _announce_recent(self) -> None:
        """A new leader publishes again the due events of what was fired within the duplicate window:
        a leader that died (or lost its lease) between the compare-and-set and the publish left an
        execution due in the store and unannounced. JetStream drops the copies of those it did publish."""
        since = self._clock.now() - timedelta(seconds=self._announce_window)
        query = {"state": str(ExecutionState.DUE), "planned_at": {"$gte": since}}
        documents = await ExecutionRecord.get_pymongo_collection().find(query).limit(PASS_SIZE).to_list()
        for document in documents:
            record = ExecutionRecord.model_validate(document)
            self._unannounced[f"{record.id}:due"] = due_event(record, at=record.updated_at)
        await self._announce_again()

    async def _announce_again(self) -> None:
        """Publish the due events whose publish failed when they fired (NATS was down or too slow)."""
        for key, due in list(self._unannounced.items()):
            try:
                await self._publisher.publish(subjects.EXECUTION_DUE, due, causation=due.execution)
            except Exception as error:
                log.warning("due event %s still not published (%r); the next refill tries again", key, error)
                return
            del self._unannounced[key]

    async def _miss(self, record: ExecutionRecord, reason: str, now: datetime) -> None:
        self._held.pop(record.id, None)
        if (await advance(self._transitions, record.id, ExecutionState.MISSED, at=now, reason=reason)).moved:
            self._outcomes.add(1, {"outcome": "missed"})
            missed = ExecutionMissed(
                id=f"{record.id}:missed", execution=record.id, booking=record.booking, at=now, reason=reason
            )
            await self._publisher.publish(subjects.EXECUTION_MISSED, missed, causation=record.id)

    async def _hold(self, record: ExecutionRecord, resource: str, reason: str, *, now: datetime) -> None:
        self._fired.pop(record.id, None)
        self._held[record.id] = record.model_copy(update={"state": ExecutionState.HELD})
        if record.state == ExecutionState.HELD:
            return
        result = await advance(
            self._transitions, record.id, ExecutionState.HELD, at=now, reason=reason, unless=NOT_PAUSED
        )
        if not result.moved:
            if not result.reached or (result.stored is not None and result.stored.paused):
                self._held.pop(record.id, None)  # paused or moved on since it was loaded: not ours to hold
            return
        self._outcomes.add(1, {"outcome": "held"})
        held = ExecutionHeld(
            id=f"{record.id}:held",
            execution=record.id,
            booking=record.booking,
            at=now,
            reason=reason,
            resource=resource,
        )
        await self._publisher.publish(subjects.EXECUTION_HELD, held, causation=record.id)

    async def release(self, resource: str) -> None:
        """The throttle released `resource`: fire what waited for it (if nothing else holds it back)."""
        await self._recheck_held(resource)

    async def _recheck_held(self, resource: str | None = None) -> None:
        for record in list(self._held.values()):
            if resource is not None and resource not in record.resources:
                continue
            now = self._clock.now()
            if now >= record.window_end or self._gate.blocked(record.resources) is None:
                self._held.pop(record.id, None)
                await self._fire(record)
