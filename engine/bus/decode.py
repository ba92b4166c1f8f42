"""Bytes in, a schema model or a precise rejection out; pure, so every bad-input case is testable.

The rejection carries a dead-letter code and a sentence a human can act on ("field 'end': ..."),
which is both the `jetflow.ctl` error reply (and the code of `jetflow_ctl_rejected_total`) and, for a
stream message, the reason in its dead-letter record.

Every body of every subject is parsed here, by pydantic's own JSON parser (jiter) rather than the
standard library's: it stops at `MAX_DEPTH` levels of nesting while parsing (the standard parser recurses
until a RecursionError, which would look like a temporary failure and be retried), and it refuses NaN and
Infinity, which are not JSON. A number too large for a float (1e999) parses as infinity and is refused
by the models (`allow_inf_nan=False`). Arrays are bounded by the body size (`max_payload`) and by the
schemas' own `max_length`s, which pydantic checks before validating the items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import from_json

from schemas.base import ID_PATTERN

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from pydantic import BaseModel

    from engine.core.errors import DeadLetterCode

ID = re.compile(ID_PATTERN)

#: Nesting levels the parser accepts (jiter's fixed recursion limit); deeper bodies are malformed.
MAX_DEPTH = 200
#: Validation problems named in a reason; more are counted, so a reason stays short whatever the body.
REASON_PROBLEMS = 10
_POSITION = re.compile(r"line (\d+) column (\d+)$")

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
    data = parse(body)
    if isinstance(data, Rejection):
        return data
    if not isinstance(data, dict):
        return Rejection("schema", f"body must be a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        return _rejection(model, error)
    except RecursionError:  # a validator walking a structure within MAX_DEPTH should never get here
        return Rejection("schema", f"invalid {model.__name__}: the body nests too deeply")


def parse(body: bytes) -> Any:
    """The JSON value of `body`, or a malformed_json rejection naming what is wrong and where."""
    try:
        return from_json(body, allow_inf_nan=False)
    except ValueError as error:
        return Rejection("malformed_json", f"body is not valid JSON: {_explain(body, str(error))}")


def _explain(body: bytes, message: str) -> str:
    if message.startswith("recursion limit exceeded"):
        return f"it nests deeper than {MAX_DEPTH} levels ({message})"
    if (position := _POSITION.search(message)) is not None:
        line, column = int(position[1]), int(position[2])
        lines = body.split(b"\n")
        text = lines[line - 1] if 0 < line <= len(lines) else b""
        # jiter points at the character after the token it could not read: look a little back too.
        around = text[max(0, column - 10) : column + 10]
        if any(word in around for word in (b"NaN", b"Infinity")):
            return f"{message} (NaN and Infinity are not JSON numbers; send a finite number)"
    return message


def claimed_id(body: bytes, key: str = "id") -> str | None:
    """The `id` (or another id field, `key`) a body that failed its schema still names, when it is usable
    as an event id."""
    data = parse(body)
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) and ID.fullmatch(value) else None


def _rejection(model: type[BaseModel], error: ValidationError) -> Rejection:
    problems = error.errors(include_url=False, include_input=False)
    unknown = [".".join(str(p) for p in e["loc"]) for e in problems if e["type"] == "extra_forbidden"]
    if unknown:
        more = f" and {len(unknown) - REASON_PROBLEMS} more" if len(unknown) > REASON_PROBLEMS else ""
        return Rejection(
            "unknown_field", f"unknown field(s) for {model.__name__}: {', '.join(unknown[:REASON_PROBLEMS])}{more}"
        )
    parts = []
    for problem in problems[:REASON_PROBLEMS]:
        where = ".".join(str(p) for p in problem["loc"]) or "body"
        parts.append(f"field '{where}': {problem['msg']}")
    if len(problems) > REASON_PROBLEMS:
        parts.append(f"and {len(problems) - REASON_PROBLEMS} more problem(s)")
    return Rejection("schema", f"invalid {model.__name__}: " + "; ".join(parts))
