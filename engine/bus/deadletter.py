"""Dead letters: what could not be processed, kept with the reason, the original bytes and headers.

A dead letter is published on `jetflow.dlq.<original subject>` with an id derived from the original
message (its `Nats-Msg-Id`, else its stream position, else a digest of a core request), so recording
the same poison message twice yields one record, and an operator can replay it after a fix.
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


def build_dead_letter(origin: Origin, code: DeadLetterCode, reason: str, error: str = "") -> DeadLetter:
    return DeadLetter(
        id=dead_letter_id(origin),
        subject=origin.subject,
        stream=origin.stream,
        sequence=origin.sequence,
        code=code,
        reason=reason,
        error=error or reason,
        data=base64.b64encode(origin.body).decode(),
        headers={k: v for k, v in origin.headers.items() if isinstance(v, str)},
        deliveries=origin.deliveries,
        at=datetime.now(UTC),
    )


class DeadLetters:
    def __init__(self, publisher: Publisher, instruments: Instruments) -> None:
        self._publisher = publisher
        self._instruments = instruments

    async def record(self, origin: Origin, code: DeadLetterCode, reason: str, error: str = "") -> DeadLetter:
        letter = build_dead_letter(origin, code, reason, error)
        published = await self._publisher.publish(dead_letter(origin.subject), letter)
        if not published.duplicate:
            self._instruments.dead_letters.add(1, {"subject": origin.label or origin.subject, "code": code})
        log.warning("dead-lettered %s (%s): %s", origin.subject, code, reason)
        return letter
