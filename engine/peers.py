"""Core NATS request/reply between peers on `jetflow.peer.<peer id>.>`: never a stream, never stored.

Every instance answers its own peer's subjects in a queue group (one replica answers each request);
a request to a peer that does not answer within `peer_timeout` (or that nobody serves) is a
`PeerUnavailable`. Requests route through these subjects even when the peer is this one, so the
outcome does not depend on which peer's replica consumed the credential request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import ValidationError

from schemas.peer import PeerReply

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from pydantic import BaseModel

    from schemas.base import Message

log = logging.getLogger(__name__)


NO_CLUSTER = PeerReply(status="error", code="no_cluster", reason="this peer has no Kubernetes cluster configured")


def queue(peer_id: str) -> str:
    """The queue group of one peer's instances: one replica answers each request to that peer."""
    return f"jetflow-peer-{peer_id}"


class PeerUnavailable(Exception):
    """The peer did not answer in time, or nobody serves its subject."""


class PeerTimeout(PeerUnavailable):
    """The peer did not answer in time: unlike no responders, the request may have reached it and taken effect."""


class PeerClient:
    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout

    async def ask(self, subject: str, message: Message) -> PeerReply:
        try:
            reply = await self._nc.request(subject, message.model_dump_json().encode(), timeout=self._timeout)
        except NoRespondersError:
            raise PeerUnavailable(f"nobody answers on {subject}") from None
        except (TimeoutError, NatsTimeoutError):
            raise PeerTimeout(f"no answer on {subject} within {self._timeout:g}s") from None
        try:
            return PeerReply.model_validate_json(reply.data)
        except ValidationError:
            return PeerReply(status="error", code="bad_reply", reason=f"unreadable answer on {subject}")


async def serve[M: BaseModel](
    nc: Client, subject: str, queue: str, model: type[M], answer: Callable[[M], Awaitable[PeerReply]]
) -> Subscription:
    """Answer requests on `subject`; a body that is not a `model` gets an error reply."""

    async def on_request(msg: Msg) -> None:
        try:
            # pydantic's parser: bounded nesting and no NaN, so a poison body gets an answer like any other.
            request = model.model_validate_json(msg.data)
        except ValidationError as error:
            reply = PeerReply(status="error", code="schema", reason=f"invalid {model.__name__}: {error}")
        else:
            try:
                reply = await answer(request)
            except Exception as error:
                # The requester turns this into a failed event; the loop keeps serving.
                log.exception("peer request on %s failed", subject)
                reply = PeerReply(status="error", code="unexpected", reason=f"{type(error).__name__}: {error}")
        await msg.respond(reply.model_dump_json(exclude_none=True).encode())

    return await nc.subscribe(subject, queue=queue, cb=on_request)
