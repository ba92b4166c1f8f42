"""The message contract: examples that must validate, and bad input refused with a reason that names it."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import subjects
from schemas.base import Message
from schemas.booking import BookingRejected, BookingRequest
from schemas.catalog import Resource, Workflow
from schemas.credentials import CredentialIssued, CredentialRequest
from schemas.deadletter import DeadLetter
from schemas.execution import ExecutionDue
from schemas.metrics import MetricSample
from schemas.registry import INBOUND, MODELS, model_for_subject

RESOURCE = {"id": "node-a", "kind": "compute", "capacity": 200, "peer": "local"}
STEP = {"name": "detect", "image": "alpine:3.20", "command": ["sleep", "5"], "resource": "node-a", "depends": []}
WORKFLOW = {"id": "alpr", "steps": [STEP]}
BOOKING = {
    "id": "bk-42",
    "workflow": "alpr",
    "resources": ["node-a", "minio-b"],
    "start": "2026-12-01T10:00:00Z",
    "end": "2026-12-01T11:00:00Z",
}
AT = "2026-12-01T10:00:00Z"
SAMPLE = {"id": "m-1", "node": "node-a", "at": AT, "cpu": 50, "memory": 20.5, "disk": 0, "load": 1.7}
CREDENTIAL_REQUEST = {
    "id": "cr-1",
    "execution": "ex-1",
    "storage": "minio-b",
    "bucket": "camera.frames-2026",
    "access": "read",
    "compute": "node-a",
}

EXAMPLES: list[tuple[type[Message], dict[str, Any]]] = [
    (Resource, RESOURCE),
    (Workflow, WORKFLOW),
    (BookingRequest, BOOKING),
    (BookingRequest, {**BOOKING, "cron": "0-10 30 14 * * *", "duration": "PT5M"}),
    (
        BookingRejected,
        {
            "id": "bk-42-rejected",
            "booking": "bk-42",
            "code": "conflict",
            "reason": "node-a is booked from 10:30 to 12:00 by bk-7",
            "conflicts": [{"resource": "node-a", "start": AT, "end": "2026-12-01T12:00:00Z", "booking": "bk-7"}],
        },
    ),
    (
        ExecutionDue,
        {
            "id": "ex-1-due",
            "execution": "ex-1",
            "booking": "bk-42",
            "at": AT,
            "workflow": "alpr",
            "resources": ["node-a"],
            "planned_at": AT,
            "window_end": "2026-12-01T11:00:00Z",
        },
    ),
    (MetricSample, SAMPLE),
    (CredentialRequest, CREDENTIAL_REQUEST),
    (
        CredentialIssued,
        {
            "id": "cr-1-issued",
            "request": "cr-1",
            "execution": "ex-1",
            "storage": "minio-b",
            "secret": {"namespace": "jf-bk-42", "name": "storage-minio-b"},
            "expires_at": AT,
        },
    ),
    (
        DeadLetter,
        {
            "id": "dlq-1",
            "subject": subjects.BOOKING_REQUEST,
            "code": "schema",
            "reason": "field 'end' is missing",
            "error": "end: Field required",
            "data": "e30=",
            "deliveries": 1,
            "at": AT,
        },
    ),
]


@pytest.mark.parametrize(("model", "payload"), EXAMPLES, ids=lambda value: getattr(value, "__name__", ""))
def test_example_validates_and_survives_a_json_round_trip(model: type[Message], payload: dict[str, Any]) -> None:
    message = model.model_validate(payload)
    assert model.model_validate_json(message.model_dump_json()) == message


def test_keys_the_store_can_hold_are_kept_exactly() -> None:
    labels = {"app.kubernetes.io/name": "alpr", "$where": "x", "": "empty", "grüße 東京": "🚀"}
    request = BookingRequest.model_validate({**BOOKING, "labels": labels})
    assert request.labels == labels


def test_instants_are_normalised_to_utc() -> None:
    booking = BookingRequest.model_validate({**BOOKING, "start": "2026-12-01T11:00:00+02:00"})
    assert booking.start == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert booking.start.tzinfo is UTC


def test_duration_accepts_seconds_and_iso_8601() -> None:
    assert BookingRequest.model_validate({**BOOKING, "duration": 90}).duration == timedelta(seconds=90)
    assert BookingRequest.model_validate({**BOOKING, "duration": "PT10M"}).duration == timedelta(minutes=10)


def _cyclic(*edges: tuple[str, str]) -> dict[str, Any]:
    steps = {name for edge in edges for name in edge}
    return {
        **WORKFLOW,
        "steps": [
            {"name": name, "image": "alpine:3.20", "depends": [dep for step, dep in edges if step == name]}
            for name in sorted(steps)
        ],
    }


NUL_KEY = "contains the NUL character, which no stored document can hold in a key"
REFUSED: list[tuple[str, type[Message], dict[str, Any], tuple[str, ...]]] = [
    ("unknown field", Resource, {**RESOURCE, "capacty": 3}, ("capacty", "Extra inputs are not permitted")),
    ("naive timestamp", BookingRequest, {**BOOKING, "start": "2026-12-01T10:00:00"}, ("must carry a timezone",)),
    (
        "end before start",
        BookingRequest,
        {**BOOKING, "end": "2026-12-01T09:00:00Z"},
        ("end 2026-12-01T09:00:00+00:00 must be after start 2026-12-01T10:00:00+00:00",),
    ),
    (
        "duplicate resource",
        BookingRequest,
        {**BOOKING, "resources": ["node-a", "minio-b", "node-a"]},
        ("more than once: node-a",),
    ),
    ("no resource", BookingRequest, {**BOOKING, "resources": []}, ("resources", "at least 1 item")),
    ("7-field cron", BookingRequest, {**BOOKING, "cron": "0 0 30 14 * * *"}, ("has 7 fields", "expected 5")),
    ("zero duration", BookingRequest, {**BOOKING, "duration": 0}, ("duration must be positive",)),
    (
        "invalid kube name",
        Resource,
        {**RESOURCE, "id": "Node_A"},
        ("'Node_A' is not a valid Kubernetes name", "it contains 'N', '_', 'A'"),
    ),
    ("kube name too long", Resource, {**RESOURCE, "id": "a" * 64}, ("64 characters, at most 63",)),
    ("capacity 0", Resource, {**RESOURCE, "capacity": 0}, ("capacity", "greater than or equal to 1")),
    ("absurd capacity", Resource, {**RESOURCE, "capacity": 10**9}, ("capacity", "less than or equal to 100000")),
    ("bad public key", Resource, {**RESOURCE, "public_key": "c2hvcnQ="}, ("X25519 public key",)),
    (
        "missing image",
        Workflow,
        {**WORKFLOW, "steps": [{"name": "detect"}]},
        ("steps.0.image", "Field required"),
    ),
    ("no steps", Workflow, {**WORKFLOW, "steps": []}, ("steps", "at least 1 item")),
    ("duplicate step", Workflow, {**WORKFLOW, "steps": [STEP, STEP]}, ("duplicate step names: detect",)),
    (
        "unknown dependency",
        Workflow,
        {**WORKFLOW, "steps": [{"name": "detect", "image": "alpine:3.20", "depends": ["fetch"]}]},
        ("step 'detect' depends on unknown step(s): fetch",),
    ),
    ("self dependency", Workflow, _cyclic(("a", "a")), ("step 'a' depends on itself",)),
    ("cycle a->b->a", Workflow, _cyclic(("a", "b"), ("b", "a")), ("dependency cycle: a -> b -> a",)),
    (
        "longer cycle",
        Workflow,
        _cyclic(("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")),
        ("dependency cycle: a -> b -> c -> a",),
    ),
    (
        "bad bucket",
        CredentialRequest,
        {**CREDENTIAL_REQUEST, "bucket": "Frames"},
        ("'Frames' is not a valid bucket name",),
    ),
    ("percent over 100", MetricSample, {**SAMPLE, "cpu": 101}, ("cpu", "less than or equal to 100")),
    # A key no stored document can hold: refused here, not by the store after the booking claimed its resources.
    ("NUL in a label key", BookingRequest, {**BOOKING, "labels": {"a\x00b": "x"}}, (NUL_KEY, "'a\\x00b'")),
    ("NUL in a resource label key", Resource, {**RESOURCE, "labels": {"\x00": "x"}}, (NUL_KEY,)),
    ("NUL in an env name", Workflow, {**WORKFLOW, "steps": [{**STEP, "env": {"A\x00": "1"}}]}, (NUL_KEY,)),
    ("NUL in a custom metric", MetricSample, {**SAMPLE, "custom": {"temp\x00": 1}}, (NUL_KEY,)),
]


@pytest.mark.parametrize(
    ("model", "payload", "fragments"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_bad_input_is_refused_with_a_reason(
    model: type[Message], payload: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_messages_and_their_parts_are_frozen() -> None:
    workflow = Workflow.model_validate(WORKFLOW)
    with pytest.raises(ValidationError, match="frozen"):
        workflow.id = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        workflow.steps[0].image = "busybox"  # type: ignore[misc]


def test_every_model_is_registered_once_and_every_inbound_subject_has_a_model() -> None:
    assert len(set(MODELS.values())) == len(MODELS)
    assert set(INBOUND.values()) <= set(MODELS.values())
    assert model_for_subject(subjects.BOOKING_REQUEST) is BookingRequest
    assert model_for_subject(subjects.metric_sample("node-a")) is MetricSample
    assert model_for_subject(subjects.METRIC_SAMPLE_PREFIX + ".a.b") is None
    assert model_for_subject(subjects.BOOKING_CONFIRMED) is None


def test_subject_builders() -> None:
    assert subjects.metric_sample("node-a") == "jetflow.metric.sample.node-a"
    assert subjects.throttle_command("node-a") == "jetflow.throttle.command.node-a"
    assert subjects.dead_letter(subjects.BOOKING_REQUEST) == "jetflow.dlq.jetflow.booking.request"
    assert subjects.ctl("booking", "request") == "jetflow.ctl.booking.request"
    with pytest.raises(ValueError, match="cannot be a subject token"):
        subjects.metric_sample("node.a")
