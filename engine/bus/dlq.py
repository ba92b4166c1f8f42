"""The dead-letter queue as operators see it: list, read and replay what `JETFLOW_DLQ` holds.

Dead letters are read straight from their stream by sequence (JetStream's message get, with a subject
filter), so listing needs no consumer and no state: a page's cursor is the next sequence to read.

A replay republishes the original message, its bytes and headers exactly as they arrived, on the
original subject: from the dead letter when it holds the whole body, else from the original stream at
its recorded sequence (a `truncated` dead letter keeps only an excerpt). The original `Nats-Msg-Id` is
kept unless a new one is asked for, so a replay within JetStream's duplicate window is dropped as a
duplicate (the reply says so) and the operator decides whether the message should count twice.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import TYPE_CHECKING, Any

from nats.js.errors import NotFoundError
from pydantic import ValidationError

from engine.bus.publisher import MSG_ID
from engine.core.errors import PermanentError
from engine.streams import DLQ, stream_for
from schemas.deadletter import DeadLetter
from schemas.subjects import DLQ_PREFIX

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from nats.js.api import RawStreamMsg

    from schemas.queries import DeadLetterList, DeadLetterRef, DeadLetterReplay

#: What a listing shows of each dead letter (`dlq.get` has all of it, the body too).
SUMMARY = ("id", "subject", "code", "reason", "at", "stream", "sequence", "size", "truncated", "deliveries")


class DeadLetterQueue:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def list(self, query: DeadLetterList) -> dict[str, Any]:
        """Dead letters in the order they were recorded, from `cursor` (a sequence) on."""
        start = _sequence(query.cursor) if query.cursor else 1
        wanted = f"{DLQ_PREFIX}.{query.subject or '>'}"
        items: list[dict[str, Any]] = []
        while len(items) <= query.limit:
            try:
                raw = await self._js.get_msg(DLQ, start, subject=wanted, next=True)
            except NotFoundError:
                break
            if raw.seq is None:
                break
            if len(items) == query.limit:
                return {"items": items, "next": str(raw.seq)}
            summary = _letter(raw).model_dump(mode="json", include=set(SUMMARY))
            items.append({"seq": raw.seq, **summary})
            start = raw.seq + 1
        return {"items": items, "next": None}

    async def get(self, query: DeadLetterRef) -> dict[str, Any]:
        return {"seq": query.seq, **_letter(await self._read(query.seq)).model_dump(mode="json")}

    async def replay(self, query: DeadLetterReplay) -> dict[str, Any]:
        """Publish the original of dead letter `seq` again, on its original subject."""
        letter = _letter(await self._read(query.seq))
        if stream_for(letter.subject) is None:
            raise PermanentError(
                f"dead letter {query.seq} is a request on {letter.subject}, a core subject no stream keeps: "
                "its requester had the answer; send the request again"
            )
        body, headers = await self._original(query.seq, letter)
        if query.new_id or query.msg_id:
            headers[MSG_ID] = query.msg_id or f"{headers.get(MSG_ID) or letter.id}:replay-{uuid.uuid4().hex[:8]}"
        ack = await self._js.publish(letter.subject, body, headers=headers or None)
        reply: dict[str, Any] = {
            "seq": query.seq,
            "subject": letter.subject,
            "msg_id": headers.get(MSG_ID),
            "stream": ack.stream,
            "sequence": ack.seq,
            "duplicate": bool(ack.duplicate),
        }
        if ack.duplicate:
            reply["detail"] = (
                "JetStream dropped it as a duplicate of the original (same Nats-Msg-Id within the duplicate "
                "window): replay with a new id to have it processed"
            )
        return reply

    async def _read(self, seq: int) -> RawStreamMsg:
        try:
            raw = await self._js.get_msg(DLQ, seq)
        except NotFoundError:
            raise PermanentError(f"no dead letter at {DLQ} sequence {seq}") from None
        if not (raw.subject or "").startswith(f"{DLQ_PREFIX}."):
            raise PermanentError(f"{DLQ} sequence {seq} is not a dead letter")
        return raw

    async def _original(self, seq: int, letter: DeadLetter) -> tuple[bytes, dict[str, str]]:
        """The original body and headers: from the dead letter if it is whole, else from its stream."""
        if not letter.truncated:
            try:
                return base64.b64decode(letter.data, validate=True), dict(letter.headers)
            except binascii.Error:
                raise PermanentError(f"dead letter {seq} holds no readable body") from None
        if letter.stream is None or letter.sequence is None:
            raise PermanentError(f"dead letter {seq} keeps only an excerpt, and names no stream sequence to read")
        try:
            raw = await self._js.get_msg(letter.stream, letter.sequence)
        except NotFoundError:
            raise PermanentError(
                f"dead letter {seq} keeps only an excerpt, and {letter.stream} no longer holds the original "
                f"(sequence {letter.sequence})"
            ) from None
        if raw.subject != letter.subject:
            raise PermanentError(f"{letter.stream} sequence {letter.sequence} is not the original of dead letter {seq}")
        return raw.data or b"", {name: value for name, value in (raw.headers or {}).items() if isinstance(value, str)}


def _letter(raw: RawStreamMsg) -> DeadLetter:
    try:
        return DeadLetter.model_validate_json(raw.data or b"")
    except ValidationError:
        raise PermanentError(f"{DLQ} sequence {raw.seq} does not hold a dead letter") from None


def _sequence(cursor: str) -> int:
    if not cursor.isdigit() or int(cursor) < 1:
        raise PermanentError(f"cursor {cursor!r} is not a `next` of this endpoint")
    return int(cursor)
