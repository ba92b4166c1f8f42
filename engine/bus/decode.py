"""Bytes in, a schema model or a precise rejection out; pure, so every bad-input case is testable.

The rejection carries a dead-letter code and a sentence a human can act on ("field 'end': ..."),
which is both the `jetflow.ctl` error reply and the reason in the dead-letter record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from schemas.base import ID_PATTERN

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from pydantic import BaseModel

    from engine.core.errors import DeadLetterCode

ID = re.compile(ID_PATTERN)

#: Content types accepted for JSON bodies. No header at all (the `nats` CLI's default) is accepted too.
JSON_CONTENT_TYPES = frozenset({"application/json", "text/json", "text/plain"})


@dataclass(frozen=True, slots=True)
class Rejection:
    code: DeadLetterCode
    reason: str


#: Called with the body and the rejection of a command that failed its schema, after its dead letter:
#: publishes the command's own outcome event when it has one (a booking is `rejected`), and returns it.
type OnInvalid = Callable[[bytes, Rejection], Awaitable[dict[str, Any] | None]]


def decode[M: BaseModel](
    model: type[M], body: bytes, headers: Mapping[str, str] | None, *, max_payload: int
) -> M | Rejection:
    if len(body) > max_payload:
        return Rejection("oversized", f"payload is {len(body)} bytes; the limit is {max_payload} bytes")
    content_type = (headers or {}).get("content-type") or (headers or {}).get("Content-Type")
    if content_type and content_type.split(";")[0].strip().lower() not in JSON_CONTENT_TYPES:
        return Rejection("content_type", f"content type '{content_type}' is not JSON (send application/json)")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return Rejection("malformed_json", f"body is not valid JSON: {error}")
    if not isinstance(data, dict):
        return Rejection("schema", f"body must be a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        return _rejection(model, error)


def claimed_id(body: bytes) -> str | None:
    """The `id` a body that failed its schema still names, when it is usable as an event id."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and ID.fullmatch(value) else None


def _rejection(model: type[BaseModel], error: ValidationError) -> Rejection:
    problems = error.errors(include_url=False, include_input=False)
    unknown = [".".join(str(p) for p in e["loc"]) for e in problems if e["type"] == "extra_forbidden"]
    if unknown:
        return Rejection("unknown_field", f"unknown field(s) for {model.__name__}: {', '.join(unknown)}")
    parts = []
    for problem in problems:
        where = ".".join(str(p) for p in problem["loc"]) or "body"
        parts.append(f"field '{where}': {problem['msg']}")
    return Rejection("schema", f"invalid {model.__name__}: " + "; ".join(parts))
