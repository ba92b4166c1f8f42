"""The record of a message jetflow could not process, published on `jetflow.dlq.<original subject>`.

It keeps the original bytes and headers so an operator can replay the message after a fix, and a
reason sentence so nobody needs the logs to learn what was wrong.
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
    data: str = Field(description="The original body, base64.")
    headers: dict[str, str] = Field(default_factory=dict, description="The original headers.")
    deliveries: int = Field(ge=1, description="How many times it was delivered before it was given up.")
    at: Instant = Field(description="When it was dead-lettered.")
