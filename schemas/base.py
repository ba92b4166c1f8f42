"""The envelope every jetflow message shares.

Why a shared base: every message crossing NATS carries an `id` that is its idempotency key (also sent
as the `Nats-Msg-Id` header) and a `schema_version`, so consumers can refuse what they do not
understand instead of guessing. Models are frozen and forbid unknown fields: a typo in a field name is
an error reported to the sender, never silently dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

#: Characters allowed in ids: they become NATS header values, MongoDB keys and parts of
#: Kubernetes names (after normalisation), so keep them boring.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$"

MessageId = Annotated[str, Field(pattern=ID_PATTERN, description="Idempotency key, also sent as Nats-Msg-Id.")]


def _require_tz(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a timezone, for example 2026-12-01T10:00:00Z")
    return value.astimezone(UTC)


#: A timezone-aware instant, normalised to UTC. Naive timestamps are refused: their meaning
#: depends on the sender's clock settings.
Instant = Annotated[datetime, AfterValidator(_require_tz)]


def _storable_key(value: str) -> str:
    if "\x00" in value:
        raise ValueError(f"key {value!r} contains the NUL character, which no stored document can hold in a key")
    return value


#: A key of a free-form mapping (labels, env, custom readings). It becomes a key of a stored document,
#: which cannot hold the NUL character: refused with the message, rather than by the store, for good, after
#: a booking has claimed its resources or a sample has entered a node's window.
MapKey = Annotated[str, AfterValidator(_storable_key), WithJsonSchema({"type": "string"})]


class Part(BaseModel):
    """A nested part of a message (a step, a conflict): frozen and closed, but no id of its own.

    Numbers are finite: NaN and infinity (and a literal too large for a float, which parses as infinity)
    are refused in every field, so a poison reading never reaches a comparison, a sum or the store.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class Message(Part):
    """Base of every message: frozen, closed to unknown fields, versioned."""

    id: MessageId
    schema_version: Literal[1] = Field(default=1, description="Bumped only by a breaking change, with a new model.")
