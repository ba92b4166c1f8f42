"""`jetflow.ctl.health`: is this replica able to do its work, and how far behind is it?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nats.errors import Error as NatsError

from engine.streams import STREAMS

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from engine.core.store import Store


async def health_report(js: JetStreamContext, store: Store, *, version: str, peer: str) -> dict[str, Any]:
    streams: dict[str, Any] = {}
    consumers: dict[str, Any] = {}
    nats_ok = True
    try:
        for spec in STREAMS:
            info = await js.stream_info(spec.name)
            state = info.state
            streams[spec.name] = {"messages": state.messages, "bytes": state.bytes, "consumers": state.consumer_count}
            for consumer in await js.consumers_info(spec.name):
                consumers[consumer.name] = {
                    "stream": spec.name,
                    "pending": consumer.num_pending,
                    "ack_pending": consumer.num_ack_pending,
                    "redelivered": consumer.num_redelivered,
                }
    except NatsError as error:
        nats_ok = False
        streams["error"] = str(error)
    store_ok = await store.ping()
    return {
        "status": "ok" if nats_ok and store_ok else "degraded",
        "version": version,
        "peer": peer,
        "nats": {"jetstream": nats_ok},
        "store": {"reachable": store_ok},
        "streams": streams,
        "consumers": consumers,
    }
