"""Dead letters: what could not be processed, kept with the reason, the original bytes and headers.

A dead letter is published on `jetflow.dlq.<original subject>` with an id derived from the original
message (its `Nats-Msg-Id`, else its stream position, else a digest of a core request), so recording
the same poison message twice yields one record, and an operator can replay it after a fix.

A dead letter always fits one NATS message, whatever the size of what it records: a body (base64 grows
it by a third) that would make it too large is kept as its first `EXCERPT` bytes, and headers, reason
and error are bounded too, with `truncated` set. Otherwise recording a body between about 750 KB and the
server's 1 MB limit would fail every time, and the message could never be settled.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine.bus.publisher import MSG_ID
from schemas.deadletter import DeadLetter
from schemas.subjects import dead_letter

if TYPE_CHECKING:
    from collections.abc import Mapping

    from engine.bus.publisher import Publisher
    from engine.core.errors import DeadLetterCode
    from engine.telemetry import Instruments

log = logging.getLogger(__name__)

#: Bytes of a body kept in a dead letter that cannot hold all of it.
EXCERPT = 64 * 1024
#: Characters of each of `reason` and `error`, and of all headers together, that a dead letter keeps.
TEXT_MAX = 4096
HEADERS_MAX = 16 * 1024
#: Room left in a dead letter's NATS message for the headers the publisher adds and the JSON around `data`.
_MARGIN = 4096


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message came from: enough to identify it for deduplication and replay."""

    subject: str
    body: bytes
    headers: Mapping[str, str]
    stream: str | None = None
    sequence: int | None = None
    deliveries: int = 1
    label: str = ""
    """Bounded-cardinality subject for metrics (the consumer's filter, e.g. jetflow.metric.sample.*)."""


def dead_letter_id(origin: Origin) -> str:
    msg_id = origin.headers.get(MSG_ID)
    if msg_id:
        key = f"{origin.subject}|{msg_id}"
    elif origin.stream is not None and origin.sequence is not None:
        key = f"{origin.stream}|{origin.sequence}"
    else:
        key = origin.subject + "|" + hashlib.sha256(origin.body).hexdigest()
    return "dlq-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def build_dead_letter(
    origin: Origin, code: DeadLetterCode, reason: str, error: str = "", *, limit: int = 1024 * 1024
) -> DeadLetter:
    """The dead letter of `origin`; its JSON stays under `limit` bytes (the largest message it may be)."""
    headers, cut = _bounded_headers(origin.headers)
    error = error or reason
    cut = cut or len(reason) > TEXT_MAX or len(error) > TEXT_MAX
    letter = DeadLetter(
        id=dead_letter_id(origin),
        subject=origin.subject,
        stream=origin.stream,
        sequence=origin.sequence,
        code=code,
        reason=reason[:TEXT_MAX],
        error=error[:TEXT_MAX],
        data="",
        size=len(origin.body),
        truncated=True,
        headers=headers,
        deliveries=max(1, origin.deliveries),
        at=datetime.now(UTC),
    )
    room = (limit - _MARGIN - len(letter.model_dump_json())) * 3 // 4  # base64 takes 4 bytes for every 3
    body = origin.body if len(origin.body) <= room else origin.body[: max(0, min(EXCERPT, room))]
    truncated = cut or len(body) < len(origin.body)
    return letter.model_copy(update={"data": base64.b64encode(body).decode(), "truncated": truncated})


def _bounded_headers(headers: Mapping[str, str]) -> tuple[dict[str, str], bool]:
    """The headers, as long as they fit in HEADERS_MAX together (Nats-Msg-Id first: replay needs it)."""
    kept: dict[str, str] = {}
    used = 0
    texts = [(name, value) for name, value in headers.items() if isinstance(value, str)]
    for name, value in sorted(texts, key=lambda item: item[0] != MSG_ID):
        used += len(name) + len(value) + 8
        if used > HEADERS_MAX:
            return kept, True
        kept[name] = value
    return kept, False


class DeadLetters:
    def __init__(self, publisher: Publisher, instruments: Instruments, *, limit: int = 1024 * 1024) -> None:
        self._publisher = publisher
        self._instruments = instruments
        self._limit = limit
        """Largest dead letter in bytes: the NATS server's max_payload, or the DLQ stream's max_msg_size."""

    async def record(self, origin: Origin, code: DeadLetterCode, reason: str, error: str = "") -> DeadLetter:
        letter = build_dead_letter(origin, code, reason, error, limit=self._limit)
        published = await self._publisher.publish(dead_letter(origin.subject), letter)
        if not published.duplicate:
            self._instruments.dead_letters.add(1, {"subject": origin.label or origin.subject, "code": code})
        log.warning("dead-lettered %s (%s): %s", origin.subject, code, reason)
        return letter
