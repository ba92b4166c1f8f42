"""`jetflow.ctl.health`: is this replica able to do its work, and how far behind is it?

Health answers within a bound whatever NATS or the store does: each is asked at the same time and
given `timeout` seconds. A frozen store (a stopped process keeps its socket open, so nothing fails, it
just never answers) or a dead one is then reported unreachable, `degraded`, in about that time, instead
of holding the reply past the requester's own timeout.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from nats.errors import Error as NatsError
from nats.js.errors import BucketNotFoundError, KeyDeletedError, KeyNotFoundError, NoKeysError

from engine.core.leader import BUCKET
from engine.streams import STREAMS

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from engine.core.store import Store


async def health_report(
    js: JetStreamContext, store: Store, *, version: str, peer: str, timeout: float = 0.8
) -> dict[str, Any]:
    (nats, streams, consumers, leaders), reachable = await asyncio.gather(
        _jetstream(js, timeout), _store(store, timeout)
    )
    nats_ok, store_ok = nats["jetstream"], reachable["reachable"]
    return {
        "status": "ok" if nats_ok and store_ok else "degraded",
        "version": version,
        "peer": peer,
        "unreachable": [part for part, ok in (("nats", nats_ok), ("store", store_ok)) if not ok],
        "nats": nats,
        "store": reachable,
        "streams": streams,
        "consumers": consumers,
        "leaders": leaders,
    }


async def _jetstream(
    js: JetStreamContext, timeout: float
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, str]]:
    streams: dict[str, Any] = {}
    consumers: dict[str, Any] = {}
    leaders: dict[str, str] = {}
    try:
        async with asyncio.timeout(timeout):
            for spec in STREAMS:
                info = await js.stream_info(spec.name)
                state = info.state
                streams[spec.name] = {
                    "messages": state.messages,
                    "bytes": state.bytes,
                    "consumers": state.consumer_count,
                }
                for consumer in await js.consumers_info(spec.name):
                    consumers[consumer.name] = {
                        "stream": spec.name,
                        "pending": consumer.num_pending,
                        "ack_pending": consumer.num_ack_pending,
                        "redelivered": consumer.num_redelivered,
                    }
            leaders = await _leaders(js)
    except TimeoutError:
        error = f"JetStream did not answer within {timeout:g}s"
    except NatsError as failure:
        error = str(failure) or type(failure).__name__
    else:
        return {"jetstream": True}, streams, consumers, leaders
    streams["error"] = error
    return {"jetstream": False, "error": error}, streams, consumers, leaders


async def _leaders(js: JetStreamContext) -> dict[str, str]:
    """Lease name (scheduler, dispatch, ...) → the instance holding it now, from the leases bucket."""
    try:
        kv = await js.key_value(BUCKET)
        keys = await kv.keys()
    except (BucketNotFoundError, NoKeysError):
        return {}
    leaders: dict[str, str] = {}
    for key in sorted(keys):
        try:
            entry = await kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):  # expired (or handed over) since it was listed
            continue
        if entry.value:
            leaders[key] = entry.value.decode(errors="replace")
    return leaders


async def _store(store: Store, timeout: float) -> dict[str, Any]:
    try:
        async with asyncio.timeout(timeout):
            if await store.ping():
                return {"reachable": True}
            error = "the store could not be reached or refused a ping"
    except TimeoutError:
        error = f"the store did not answer within {timeout:g}s"
    return {"reachable": False, "error": error}
