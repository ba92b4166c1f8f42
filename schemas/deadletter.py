"""The record of a message jetflow could not process, published on `jetflow.dlq.<original subject>`.

It keeps the original bytes and headers so an operator can replay the message after a fix, and a
reason sentence so nobody needs the logs to learn what was wrong. A body too large to be copied into a
dead letter that still fits a NATS message is kept as an excerpt (`truncated`); its `stream` and
`sequence` still name the original, which can be read from its stream while the stream keeps it.
"""

from typing import Literal

from pydantic import Field

from schemas.base import Instant, Message

DeadLetterCode = Literal[
    "malformed_json", "schema", "unknown_field", "oversized", "content_type", "permanent", "exhausted", "unexpected"
]


class DeadLetter(Message):
    """One unprocessable message, with why."""

    subject: str = Field(description="The subject the message arrived on.")
    stream: str | None = Field(default=None, description="Its stream, for a JetStream message.")
    sequence: int | None = Field(default=None, ge=1, description="Its stream sequence, for a JetStream message.")
    code: DeadLetterCode = Field(description="Why, for programs.")
    reason: str = Field(description="Why, for humans: a sentence naming the problem.")
    error: str = Field(description="The detail behind the reason (validation errors, exception text).")
    data: str = Field(description="The original body, base64 (its first bytes only when `truncated`).")
    size: int | None = Field(default=None, ge=0, description="Size of the original body in bytes.")
    truncated: bool = Field(
        default=False,
        description="True when `data` (or `headers`, `reason`, `error`) holds only the start of the original: "
        "the whole would not fit a NATS message. Read the original at `stream`/`sequence`.",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="The original headers.")
    deliveries: int = Field(ge=1, description="How many times it was delivered before it was given up.")
    at: Instant = Field(description="When it was dead-lettered.")
