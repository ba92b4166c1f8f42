"""Core NATS request/reply between peers on `jetflow.peer.<peer id>.>`: never a stream, never stored.

Every instance answers its own peer's subjects in a queue group (one replica answers each request);
a request to a peer that does not answer within `peer_timeout` (or that nobody serves) is a
`PeerUnavailable`. Requests route through these subjects even when the peer is this one, so the
outcome does not depend on which peer's replica consumed the credential request.

Who asks is the link's to say, not the message's. A request of peer X crosses X's leaf link into the
account `peer-X` of our server, whose service import (engine/embedded/natsconf.py) delivers it to our
engine as `jetflow.peer.<us>.from.<X>.<family>.<verb>`: the sender token is written by our nats-server,
and X cannot write another (a `from.<C>` X puts in the subject itself arrives as `from.<X>.from.<C>…`,
which nobody serves). Requests without that token come from clients of our own account (this peer's
engine, its operators) and are trusted as today. A request whose body names a `requester` other than
the link it came over is refused (`forbidden`) before it does anything.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import ValidationError

from schemas import subjects
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


async def listen(
    nc: Client, peer_id: str, family: str, verb: str, cb: Callable[[Msg], Awaitable[None]]
) -> list[Subscription]:
    """Subscribe `cb`, in `peer_id`'s queue group, to `jetflow.peer.<peer_id>.<family>.<verb>` as local
    clients ask it and as every linked peer's requests arrive (`….from.<sender>.<family>.<verb>`)."""
    group = queue(peer_id)
    return [
        await nc.subscribe(subjects.peer(peer_id, family, verb), queue=group, cb=cb),
        await nc.subscribe(subjects.peer_from(peer_id, family, verb), queue=group, cb=cb),
    ]


def forged(request: BaseModel, sender: str | None) -> PeerReply | None:
    """The refusal of a request that came over `sender`'s link naming another peer as its requester."""
    named = getattr(request, "requester", None)
    if sender is None or named is None or named == sender:
        return None
    reason = (
        f"peer {sender} cannot ask in peer {named}'s name: the requester is the peer whose link a request came over"
    )
    return PeerReply(status="error", code="forbidden", reason=reason)


async def serve[M: BaseModel](
    nc: Client, peer_id: str, family: str, verb: str, model: type[M], answer: Callable[[M], Awaitable[PeerReply]]
) -> list[Subscription]:
    """Answer requests to `peer_id` on `<family>.<verb>` (`listen`); a body that is not a `model` gets an error
    reply, and one naming a requester other than its link is refused."""

    async def without_sender(request: M, _sender: str | None) -> PeerReply:
        return await answer(request)

    return await serve_from(nc, peer_id, family, verb, model, without_sender)


async def serve_from[M: BaseModel](
    nc: Client,
    peer_id: str,
    family: str,
    verb: str,
    model: type[M],
    answer: Callable[[M, str | None], Awaitable[PeerReply]],
) -> list[Subscription]:
    """`serve`, handing `answer` the sender too: the linked peer whose link the request came over, or None for
    a client of this peer's own server. For requests whose body names no requester (a Secret's store and
    delete), where the answer decides what that sender may do."""

    async def on_request(msg: Msg) -> None:
        try:
            # pydantic's parser: bounded nesting and no NaN, so a poison body gets an answer like any other.
            request = model.model_validate_json(msg.data)
        except ValidationError as error:
            reply = PeerReply(status="error", code="schema", reason=f"invalid {model.__name__}: {error}")
        else:
            reply = await _answer(request, msg.subject, answer)
        await msg.respond(reply.model_dump_json(exclude_none=True).encode())

    return await listen(nc, peer_id, family, verb, on_request)


async def _answer[M: BaseModel](
    request: M, subject: str, answer: Callable[[M, str | None], Awaitable[PeerReply]]
) -> PeerReply:
    sender = subjects.peer_sender(subject)
    if (refused := forged(request, sender)) is not None:
        log.warning("refused a request on %s: %s", subject, refused.reason)
        return refused
    try:
        return await answer(request, sender)
    except Exception as error:
        # The requester turns this into a failed event; the loop keeps serving.
        log.exception("peer request on %s failed", subject)
        return PeerReply(status="error", code="unexpected", reason=f"{type(error).__name__}: {error}")
