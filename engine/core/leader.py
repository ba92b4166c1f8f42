"""Leader lease in a NATS KV bucket whose entries expire: which replica does a feature's leader work now.

The leader creates the key (only possible when it is absent) and refreshes it every third of the
TTL with a revision-checked update; if it dies, the bucket's max age removes the key and a standby
replica's `create` succeeds within about one TTL. A leader that stops cleanly deletes the key, so the
hand-over is immediate. A leader whose update fails (it was too slow and lost the key) steps down
at once. A leader whose `elected` callback fails (MongoDB down while loading its state) resigns:
it cleans up, releases the key and keeps campaigning, instead of holding a lease it does not serve.

The bucket has as many replicas as the streams (or `JETFLOW_LEASE_REPLICAS`): on a NATS cluster with R3
streams, an R1 bucket would make the node holding it a single point of failure for every leader. A
bucket created with other replicas (by an older version) is updated to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Protocol

from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.errors import Error as JetStreamError

from engine.core.background import Background

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue
    from opentelemetry.metrics import CallbackOptions, Meter, Observation

log = logging.getLogger(__name__)

BUCKET = "jetflow_leases"


class LeaderLease:
    def __init__(self, js: JetStreamContext, key: str, holder: str, ttl: float, replicas: int = 1) -> None:
        self._js = js
        self._key = key
        self._holder = holder.encode()
        self._ttl = ttl
        self._replicas = replicas
        self._revision: int | None = None
        self._kv: KeyValue | None = None
        self._stopped = asyncio.Event()

    @property
    def held(self) -> bool:
        return self._revision is not None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            try:
                kv = await self._js.key_value(BUCKET)
            except BucketNotFoundError:
                kv = await self._js.create_key_value(bucket_config(self._ttl, self._replicas))
            else:
                await self._follow_replicas()
            self._kv = kv
        return self._kv

    async def _follow_replicas(self) -> None:
        stream = f"KV_{BUCKET}"
        config = (await self._js.stream_info(stream)).config
        if config.num_replicas != self._replicas:
            log.info("lease bucket %s: %s replicas → %d", BUCKET, config.num_replicas, self._replicas)
            config.num_replicas = self._replicas
            await self._js.update_stream(config)

    async def run(self, elected: Callable[[], Awaitable[None]], deposed: Callable[[], Awaitable[None]]) -> None:
        """Campaign until stopped; call `elected` on winning the lease and `deposed` on losing it."""
        while not self._stopped.is_set():
            try:
                kv = await self._bucket()
                if self._revision is None:
                    with contextlib.suppress(KeyWrongLastSequenceError):
                        self._revision = await kv.create(self._key, self._holder)
                        log.info("won the %s lease", self._key)
                        await elected()
                else:
                    self._revision = await kv.update(self._key, self._holder, last=self._revision)
            except (KeyWrongLastSequenceError, NotFoundError):
                await self._lose(deposed)
            except (JetStreamError, OSError, TimeoutError) as error:
                log.warning("lease %s: %s", self._key, error)
                if self.held:
                    await self._lose(deposed)
            except Exception:
                log.exception("lease %s: the leader's work failed to start; resigning", self._key)
                await self._resign(deposed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._ttl / 3)

    async def _lose(self, deposed: Callable[[], Awaitable[None]]) -> None:
        if self._revision is not None:
            self._revision = None
            log.warning("lost the %s lease", self._key)
            await deposed()

    async def _resign(self, deposed: Callable[[], Awaitable[None]]) -> None:
        revision = self._revision
        try:
            await self._lose(deposed)
        except Exception:
            log.exception("lease %s: stepping down failed", self._key)
        if revision is not None and self._kv is not None:
            with contextlib.suppress(JetStreamError, OSError, TimeoutError):
                await self._kv.delete(self._key, last=revision)

    async def stop(self) -> None:
        """Stop campaigning; release the lease so a standby takes over at once."""
        self._stopped.set()
        if self._revision is not None and self._kv is not None:
            with contextlib.suppress(JetStreamError, OSError, TimeoutError):
                await self._kv.delete(self._key, last=self._revision)
            self._revision = None


def bucket_config(ttl: float, replicas: int) -> KeyValueConfig:
    """The leases' bucket: one value per key, entries expire after `ttl` (a dead leader's lease)."""
    return KeyValueConfig(bucket=BUCKET, ttl=ttl, history=1, storage=StorageType.FILE, replicas=replicas)


class Leader(Protocol):
    """Work only one replica of a peer may do at a time (fire, dispatch, evaluate, sweep)."""

    async def lead(self) -> None:
        """This replica won the lease: start the leader's work."""
        ...

    async def depose(self) -> None:
        """The lease is lost or given up: stop the leader's work (called when not leading too)."""
        ...


class Leadership:
    """Campaign for one lease on behalf of a `Leader`, and stop in the one order every leader follows.

    Stopping ends the campaign, then stops the leader's work, then releases the lease: a standby can
    win the lease only once this replica's work is over, so no two leaders' work ever overlaps.
    """

    def __init__(
        self, js: JetStreamContext, key: str, holder: str, ttl: float, leader: Leader, *, replicas: int = 1
    ) -> None:
        self.key = key
        self.holder = holder
        self._lease = LeaderLease(js, key, holder, ttl, replicas)
        self._leader = leader
        self._campaign = Background(f"{key}-lease", self._run)

    async def _run(self) -> None:
        await self._lease.run(self._leader.lead, self._leader.depose)

    @property
    def held(self) -> bool:
        return self._lease.held

    def start(self) -> None:
        _campaigns.append(self)
        self._campaign.start()

    async def stop(self) -> None:
        await self._campaign.stop()
        await self._leader.depose()
        await self._lease.stop()
        if self in _campaigns:
            _campaigns.remove(self)


#: Every leadership of this process that campaigns now (tests run several engines in one process).
_campaigns: list[Leadership] = []
_gauges: set[int] = set()


def _observe_leaders(_: CallbackOptions) -> list[Observation]:
    from opentelemetry.metrics import Observation

    return [
        Observation(1 if campaign.held else 0, {"lease": campaign.key, "replica": campaign.holder})
        for campaign in _campaigns
    ]


def declare_leader_gauge(meter: Meter) -> None:
    """`jetflow_leader{lease, replica}`: 1 while the replica (its instance name, as `jetflow.ctl.health`'s
    `leaders` names it) holds the lease, 0 while it campaigns. Declared once per meter."""
    if id(meter) in _gauges:
        return
    _gauges.add(id(meter))
    meter.create_observable_gauge(
        "jetflow.leader", [_observe_leaders], description="1 while this replica holds the lease, else 0."
    )
