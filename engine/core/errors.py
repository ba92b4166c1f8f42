"""The two kinds of failure a handler can raise on purpose.

A permanent error means retrying is useless (bad input, an impossible request): the message is
answered or dead-lettered with the reason, then acknowledged. A temporary error means the world is
not ready yet (a server is down): the message is redelivered after a delay. Anything else is treated
as temporary until `max_deliver` is reached, then dead-lettered; it never crashes the loop.
"""

from __future__ import annotations

from schemas.deadletter import DeadLetterCode

__all__ = ["DeadLetterCode", "PermanentError", "TemporaryError"]


class PermanentError(Exception):
    """Retrying cannot help: reject with this reason."""

    def __init__(self, reason: str, *, code: DeadLetterCode = "permanent") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code: DeadLetterCode = code


class TemporaryError(Exception):
    """Try again later: redeliver after `delay` seconds (or the consumer's backoff when None)."""

    def __init__(self, reason: str, *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
