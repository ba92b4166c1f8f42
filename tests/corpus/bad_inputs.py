"""The bad-input corpus: one `Case` per kind of bad input, on every subject jetflow consumes, with the
answer the README documents for it.

* On a stream subject the answer is a dead letter (`DeadLetter`: its code and words of its reason) and,
  for a command with a usable id, its outcome event too (`Outcome`: a booking `rejected`, a credential
  `failed`); a command whose body is fine but that the engine refuses gets its outcome event only.
* On `jetflow.ctl` it is a JSON reply (`Reply`): a 4xx error naming the problem, or the command's own
  refusal (`status` rejected / failed with its code).
* On `jetflow.peer` it is a `PeerReply` with status error, its code and reason.

Bodies are built when the corpus is (times relative to `now`). Each case names its own ids after the
case, so its answer can be told apart from every other's. Grow it by appending a case; the driver
(`drive.py`) and both of its users pick it up as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import subjects
from schemas.booking import MAX_RESOURCES

NODE = "corpus-node"
"""A compute resource with room for every booking of the corpus and of the valid traffic."""
SINGLE = "corpus-single"
"""A compute resource of capacity 1, held by `HELD`: a booking overlapping it conflicts."""
STORAGE = "corpus-store"
WORKFLOW = "corpus-wf"
HELD = "corpus-held"
REJECTED = "corpus-rejected"
DECIDED = "corpus-decided"
CANCELLED = "corpus-cancelled"
"""A confirmed booking the corpus cancels with an id holding dots, again and again."""
DOTTED = "cancel.dot.1"

RESOURCES: list[dict[str, Any]] = [
    {"id": NODE, "kind": "compute", "capacity": 100_000},
    {"id": SINGLE, "kind": "compute", "capacity": 1},
    {"id": STORAGE, "kind": "storage", "capacity": 100},
]
WORKFLOWS: list[dict[str, Any]] = [{"id": WORKFLOW, "steps": [{"name": "s", "image": "alpine:3.20"}]}]

BOOKING_DLQ_SUBJECTS = (subjects.BOOKING_REQUEST, subjects.BOOKING_CANCEL)
SAMPLE = subjects.metric_sample(NODE)
PEER_ISSUE = subjects.peer("local", "credential", "issue")
PEER_STORE = subjects.peer("local", "secret", "store")
PEER_DELETE = subjects.peer("local", "secret", "delete")
PEER_PREPARE = subjects.peer("local", "namespace", "prepare")


@dataclass(frozen=True, slots=True)
class Outcome:
    """The outcome event a command must get: on `subject`, naming `command`, with `code` (unless empty: a
    `cancelled` event has none) and `words` in its reason."""

    subject: str
    command: str
    code: str
    words: str = ""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead letter of the message itself (found by its stream and sequence), and maybe its outcome."""

    code: str
    words: str = ""
    outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A request/reply answer. With `error` (the default) a 4xx error: `Nats-Service-Error-Code` 400 and
    `error.code`/`error.reason`; without, the reply's own `status`, `code` and `reason` (a command's
    refusal on ctl, or a `PeerReply`)."""

    code: str
    words: str = ""
    status: str = "error"
    error: bool = True


type Expect = DeadLetter | Outcome | Reply


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    subject: str
    body: bytes
    expect: Expect
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def stream(self) -> bool:
        """Published durably (answered by a dead letter or an event), not requested (answered by a reply)."""
        return not self.subject.startswith((subjects.CTL_PREFIX, subjects.PEER_PREFIX))


def data(value: Any) -> bytes:
    return json.dumps(value).encode()


def spliced(value: dict[str, Any], fields: bytes) -> bytes:
    """`value` as JSON with `fields` written by hand at its end (NaN and the like are not JSON)."""
    return data(value)[:-1] + b", " + fields + b"}"


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def padded(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON of exactly `size` bytes: a label pads it."""
    labels = body.get("labels", {}) | {"pad": ""}
    labels["pad"] = "x" * (size - len(data(body | {"labels": labels})))
    encoded = data(body | {"labels": labels})
    assert len(encoded) == size
    return encoded


class Corpus:
    """Builds the bodies of one corpus, all relative to one `now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC).replace(microsecond=0)

    def at(self, minutes: float) -> str:
        return (self.now + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")

    def request(self, booking_id: object, minute: int = 0, **fields: Any) -> dict[str, Any]:
        """A valid booking request (but for a `booking_id` that is not a string), two hours or more ahead and
        `minute` minutes more."""
        body = {
            "id": booking_id,
            "workflow": WORKFLOW,
            "resources": [NODE],
            "start": self.at(120 + minute),
            "end": self.at(121 + minute),
        }
        return body | fields

    def padded(self, booking_id: str, size: int, minute: int = 0) -> bytes:
        """A booking request of exactly `size` bytes, otherwise valid."""
        return padded(self.request(booking_id, minute), size)

    def sample(self, sample_id: str, **fields: Any) -> dict[str, Any]:
        body = {"id": sample_id, "node": NODE, "at": self.at(-1), "cpu": 10, "memory": 10, "disk": 10, "load": 0.1}
        return body | fields

    def credential(self, request_id: str, **fields: Any) -> dict[str, Any]:
        body = {
            "id": request_id,
            "execution": f"{request_id}-exec",
            "storage": STORAGE,
            "bucket": "corpus-bucket",
            "access": "read",
            "compute": NODE,
            "expires_at": self.at(60),
        }
        return body | fields

    def due(self, event_id: str, **fields: Any) -> dict[str, Any]:
        body = {
            "id": event_id,
            "execution": f"{event_id}-exec",
            "booking": event_id,
            "at": self.at(0),
            "workflow": WORKFLOW,
            "resources": [NODE],
            "planned_at": self.at(0),
            "window_end": self.at(1),
        }
        return body | fields


# --- what each kind is answered with --------------------------------------------------------------
# An outcome's `command` left empty is the id the case's body names (filled in by `on`).

MALFORMED, SCHEMA, UNKNOWN_FIELD, PERMANENT = "malformed_json", "schema", "unknown_field", "permanent"
NOT_JSON = "not valid JSON"
NOT_FINITE = "NaN and Infinity are not JSON numbers"
DEEP = "nests deeper than 200 levels"
KUBE = "not a valid Kubernetes name"
NUL_KEY = "contains the NUL character"
ZONE = "must carry a timezone"
TOO_MANY = f"at most {MAX_RESOURCES} items"
NOTHING = f"booking '{REJECTED}' was rejected; there is nothing to cancel"


def dead(code: str, words: str = "") -> DeadLetter:
    """A dead letter only: the body names no usable id, or the command has no outcome event of its own."""
    return DeadLetter(code, words)


def refused(code: str, words: str) -> DeadLetter:
    """A booking request that fails its schema but names a usable id: dead letter and `rejected` (invalid)."""
    return DeadLetter(code, words, Outcome(subjects.BOOKING_REJECTED, "", "invalid", words))


def refused_credential(code: str, words: str) -> DeadLetter:
    """A credential request that fails its schema but names a usable id: dead letter and `failed` (invalid)."""
    return DeadLetter(code, words, Outcome(subjects.CREDENTIAL_FAILED, "", "invalid", words))


def rejected(code: str, words: str) -> Outcome:
    """A well-formed booking request the engine refuses: its `rejected` event, no dead letter."""
    return Outcome(subjects.BOOKING_REJECTED, "", code, words)


def failed(code: str, words: str) -> Outcome:
    """A well-formed credential request the engine refuses: its `failed` event, no dead letter."""
    return Outcome(subjects.CREDENTIAL_FAILED, "", code, words)


def error(code: str, words: str = "", status: str = "error") -> Reply:
    """A 4xx JSON error (a ctl command refused for its body says `status` rejected / failed too)."""
    return Reply(code, words, status=status)


def answered(status: str, code: str = "", words: str = "") -> Reply:
    """A reply that is the command's own outcome, or a `PeerReply`: `status`, `code` and `reason`."""
    return Reply(code, words, status=status, error=False)


type Row = tuple[str, bytes | dict[str, Any], Expect] | tuple[str, bytes | dict[str, Any], Expect, dict[str, str]]


def on(subject: str, rows: list[Row]) -> list[Case]:
    """The cases of one subject, from (name, body, answer[, headers]) rows."""
    cases = []
    for name, body, expect, *headers in rows:
        raw = body if isinstance(body, bytes) else data(body)
        cases.append(Case(name, subject, raw, _for(expect, _named_id(raw)), headers[0] if headers else {}))
    return cases


def _named_id(raw: bytes) -> str:
    """The `id` a body names, read leniently (Python's parser takes NaN and deep nesting): whom its outcome names."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return ""
    return str(value.get("id", "")) if isinstance(value, dict) else ""


def _for(expect: Expect, command: str) -> Expect:
    if isinstance(expect, Outcome) and not expect.command:
        return replace(expect, command=command)
    if isinstance(expect, DeadLetter) and expect.outcome is not None:
        return replace(expect, outcome=_for(expect.outcome, command))  # type: ignore[arg-type]
    return expect


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def corpus(now: datetime, max_payload: int = 256 * 1024) -> list[Case]:
    """Every case, its bodies dated from `now`; `max_payload` is the engine's JETFLOW_MAX_PAYLOAD."""
    c = Corpus(now)

    def bk(name: str, **fields: Any) -> dict[str, Any]:
        """A booking request named after its case (`bk-<name>`): valid but for `fields`."""
        return c.request(f"bk-{name}", **fields)

    def sized(name: str, size: int) -> bytes:
        return c.padded(f"bk-{name}", size)

    def deep(body: dict[str, Any], depth: int = 50_000) -> bytes:
        return spliced(body, b'"x": ' + nested(depth))

    ancient = {"start": "2001-01-01T00:00:00Z", "end": "2001-01-02T00:00:00Z"}
    cases = on(subjects.BOOKING_REQUEST, [
        # not JSON at all: no usable id, so a dead letter only
        ("not-json", b"{broken", dead(MALFORMED, NOT_JSON)),
        ("empty-body", b"", dead(MALFORMED, NOT_JSON)),
        ("whitespace-body", b"  \n\t ", dead(MALFORMED, NOT_JSON)),
        ("truncated-json", data(bk("truncated"))[:-7], dead(MALFORMED, NOT_JSON)),
        ("trailing-garbage", data(bk("trailing")) + b" x", dead(MALFORMED, "trailing characters")),
        ("two-objects", data(bk("two")) * 2, dead(MALFORMED, "trailing characters")),
        ("non-utf8", b'{"id": "bk-\xff\xfe"}', dead(MALFORMED, NOT_JSON)),
        ("utf16-body", data(bk("utf16")).decode().encode("utf-16"), dead(MALFORMED, NOT_JSON)),
        ("single-quotes", b"{'id': 'bk-quotes'}", dead(MALFORMED, NOT_JSON)),
        ("comment", b'{"id": "bk-comment" /* hi */}', dead(MALFORMED, NOT_JSON)),
        ("lone-surrogate", spliced(bk("surrogate"), b'"requester": "\\ud800"'), dead(MALFORMED, NOT_JSON)),
        ("json-array", b"[]", dead(SCHEMA, "must be a JSON object, got list")),
        ("json-string", b'"bk-string"', dead(SCHEMA, "must be a JSON object, got str")),
        ("json-number", b"42", dead(SCHEMA, "must be a JSON object, got int")),
        ("json-null", b"null", dead(SCHEMA, "must be a JSON object, got NoneType")),
        ("json-true", b"true", dead(SCHEMA, "must be a JSON object, got bool")),
        # nesting and non-finite numbers: refused while parsing, at once
        ("nested-50000", deep(bk("deep")), dead(MALFORMED, DEEP)),
        ("nested-201", deep(bk("201"), 201), dead(MALFORMED, DEEP)),
        ("deep-array-body", nested(1000), dead(MALFORMED, DEEP)),
        ("deep-objects", b'{"a":' * 300 + b"1" + b"}" * 300, dead(MALFORMED, DEEP)),
        ("nan", spliced(bk("nan"), b'"duration": NaN'), dead(MALFORMED, NOT_FINITE)),
        ("infinity", spliced(bk("inf"), b'"duration": Infinity'), dead(MALFORMED, NOT_FINITE)),
        ("minus-infinity", spliced(bk("minf"), b'"duration": -Infinity'), dead(MALFORMED, NOT_FINITE)),
        ("number-1e999", spliced(bk("1e999"), b'"duration": 1e999'), refused(SCHEMA, "field 'duration'")),
        # sizes above JETFLOW_MAX_PAYLOAD, up to NATS's own limit (a body of exactly it is valid traffic)
        ("over-max-payload-by-1", sized("over", max_payload + 1), refused("oversized", f"{max_payload + 1} bytes")),
        ("size-300k", sized("300k", 300_000), refused("oversized", "payload is 300000 bytes")),
        ("size-700k", sized("700k", 700_000), refused("oversized", "payload is 700000 bytes")),
        ("size-900k", sized("900k", 900_000), refused("oversized", "payload is 900000 bytes")),
        ("size-1040k", sized("1040k", 1_040_000), refused("oversized", "payload is 1040000 bytes")),
        # missing fields, wrong types
        ("missing-id", without(bk("x"), "id"), dead(SCHEMA, "field 'id': Field required")),
        ("missing-workflow", without(bk("no-wf"), "workflow"), refused(SCHEMA, "field 'workflow': Field required")),
        ("missing-resources", without(bk("no-r"), "resources"), refused(SCHEMA, "field 'resources': Field required")),
        ("missing-start", without(bk("no-start"), "start"), refused(SCHEMA, "field 'start': Field required")),
        ("missing-end", without(bk("no-end"), "end"), refused(SCHEMA, "field 'end': Field required")),
        ("empty-resources", bk("no-resources", resources=[]), refused(SCHEMA, "at least 1 item")),
        ("resources-string", bk("r-string", resources=NODE), refused(SCHEMA, "field 'resources'")),
        ("start-number", bk("start-int", start=10**18), refused(SCHEMA, "field 'start'")),
        ("workflow-number", bk("wf-int", workflow=7), refused(SCHEMA, "field 'workflow'")),
        ("labels-list", bk("labels-list", labels=["a"]), refused(SCHEMA, "field 'labels'")),
        ("label-number", bk("label-int", labels={"team": 7}), refused(SCHEMA, "field 'labels.team'")),
        ("label-nested", bk("label-obj", labels={"team": {}}), refused(SCHEMA, "field 'labels.team'")),
        ("label-key-nul", bk("label-nul", labels={"a\x00b": "x"}), refused(SCHEMA, NUL_KEY)),
        ("requester-object", bk("requester", requester={}), refused(SCHEMA, "field 'requester'")),
        ("schema-version-2", bk("v2", schema_version=2), refused(SCHEMA, "field 'schema_version'")),
        ("duration-words", bk("d-words", duration="long"), refused(SCHEMA, "field 'duration'")),
        ("duration-negative", bk("d-neg", duration=-5), refused(SCHEMA, "duration must be positive")),
        ("duration-zero", bk("d-zero", duration=0), refused(SCHEMA, "duration must be positive")),
        ("id-number", c.request(7), dead(SCHEMA, "field 'id'")),
        ("id-null", c.request(None), dead(SCHEMA, "field 'id'")),
        # extra fields: refused (a typo is an error, never dropped)
        ("unknown-field", bk("colour", colour="red"), refused(UNKNOWN_FIELD, "for BookingRequest: colour")),
        ("many-unknown-fields", bk("extras", **{f"x{i}": i for i in range(40)}), refused(UNKNOWN_FIELD, "30 more")),
        # windows, cron, times
        ("end-before-start", bk("backwards", start=c.at(130), end=c.at(125)), refused(SCHEMA, "must be after start")),
        ("end-equals-start", bk("empty", start=c.at(130), end=c.at(130)), refused(SCHEMA, "must be after start")),
        ("naive-start", bk("naive", start="2030-01-01T10:00:00"), refused(SCHEMA, "must carry a timezone")),
        ("start-words", bk("tomorrow", start="tomorrow"), refused(SCHEMA, "field 'start'")),
        ("start-month-13", bk("month-13", start="2030-13-01T10:00:00Z"), refused(SCHEMA, "field 'start'")),
        ("cron-four-fields", bk("cron-4", cron="* * * *"), refused(SCHEMA, "has 4 fields")),
        ("cron-seven-fields", bk("cron-7", cron="* * * * * * *"), refused(SCHEMA, "has 7 fields")),
        ("cron-words", bk("cron-words", cron="a b c d e"), rejected("invalid", "cron")),
        ("cron-minute-61", bk("cron-61", cron="61 * * * *"), rejected("invalid", "61")),
        ("cron-never", bk("cron-none", cron="0 0 30 2 *"), rejected("invalid", "no occurrence")),  # 30 February
        ("cron-too-many", bk("cron-limit", cron="* * * * * *", end=c.at(120 + 2880)), rejected("limit", "more than")),
        ("start-in-past", bk("past", start=c.at(-60), end=c.at(10)), rejected("invalid", "in the past")),
        ("window-in-past", bk("ancient", **ancient), rejected("invalid", "past")),
        ("window-too-long", bk("decade", end=c.at(120 + 60 * 24 * 3650)), rejected("limit", "exceeds the maximum")),
        # resources
        ("resource-twice", bk("twice", resources=[NODE, NODE]), refused(SCHEMA, f"listed more than once: {NODE}")),
        ("resources-257", bk("r257", resources=[f"r-{i}" for i in range(257)]), refused(SCHEMA, TOO_MANY)),
        ("resources-500", bk("r500", resources=[f"r-{i}" for i in range(500)]), refused(SCHEMA, TOO_MANY)),
        ("resources-huge-array", bk("r40k", resources=["a"] * 40_000), refused(SCHEMA, TOO_MANY)),
        ("unknown-resource", bk("unknown-r", resources=[NODE, "no-node"]), rejected("unknown_resource", "no-node")),
        ("unknown-workflow", bk("unknown-wf", workflow="no-such-wf"), rejected("unknown_workflow", "no-such-wf")),
        ("conflict", bk("conflict", resources=[SINGLE]), rejected("conflict", f"held by booking {HELD}")),
        # ids and names
        ("id-spaces", c.request("bad id with spaces"), dead(SCHEMA, KUBE)),  # not a usable event id either
        ("id-dots", c.request("bk.with.dots"), refused(SCHEMA, "contains '.'")),
        ("id-uppercase", c.request("BK-UPPER"), refused(SCHEMA, "contains 'B'")),
        ("id-64-chars", c.request("bk-" + "a" * 61), refused(SCHEMA, "it has 64 characters")),
        ("id-colon", c.request("bk:colon"), refused(SCHEMA, "contains ':'")),
        ("id-trailing-dash", c.request("bk-dash-"), refused(SCHEMA, "must start and end")),
        ("id-300-chars", c.request("b" * 300), dead(SCHEMA, "it has 300 characters")),
        ("id-empty", c.request(""), dead(SCHEMA, "it is empty")),
        ("id-emoji", c.request("bk-🚀"), dead(SCHEMA, KUBE)),
        ("id-zero-width", c.request("bk-\u200bzw"), dead(SCHEMA, KUBE)),
        ("id-nul", c.request("bk-\x00nul"), dead(SCHEMA, KUBE)),
        ("workflow-umlaut", bk("umlaut", workflow="wörkflow"), refused(SCHEMA, f"'wörkflow' is {KUBE}")),
        ("resource-name-slash", bk("slash", resources=["corpus/node"]), refused(SCHEMA, "contains '/'")),
        # headers
        ("content-type-xml", bk("xml"), refused("content_type", "'application/xml' is not JSON"),
         {"Content-Type": "application/xml"}),
        ("content-type-html", bk("html"), refused("content_type", "not JSON"), {"Content-Type": "text/html"}),
        ("content-type-garbled", bk("garbled"), refused("content_type", "not JSON"), {"Content-Type": "\x01\x02?"}),
        ("huge-header-bad-body", b"{broken", dead(MALFORMED, NOT_JSON), {"X-Huge": "h" * 60_000}),
        ("garbled-traceparent-bad-body", b"{broken", dead(MALFORMED, NOT_JSON),
         {"traceparent": "00-garbage-garbage-zz", "tracestate": "=,=,="}),
        ("long-msg-id-bad-body", b"[]", dead(SCHEMA, "must be a JSON object"), {"Nats-Msg-Id": "m" * 2000}),
    ])  # fmt: skip

    cases += on(subjects.BOOKING_CANCEL, [
        ("cancel-not-json", b"cancel it", dead(MALFORMED, NOT_JSON)),
        ("cancel-missing-booking", {"id": "c-missing"}, dead(SCHEMA, "field 'booking': Field required")),
        ("cancel-booking-number", {"id": "c-number", "booking": 7}, dead(SCHEMA, "field 'booking'")),
        ("cancel-unknown-field", {"id": "c-extra", "booking": HELD, "force": True}, dead(UNKNOWN_FIELD, "force")),
        ("cancel-id-spaces", {"id": "c 1", "booking": HELD}, dead(SCHEMA, "field 'id'")),
        ("cancel-unknown", {"id": "c-unknown", "booking": "bk-nobody"}, dead(PERMANENT, "unknown booking 'bk-nobody'")),
        ("cancel-rejected", {"id": "c-rejected", "booking": REJECTED}, dead(PERMANENT, NOTHING)),
        ("cancel-nan", b'{"id": "c-nan", "booking": NaN}', dead(MALFORMED, NOT_FINITE)),
        # a cancel id with dots (allowed by the id pattern) round-trips: a repeat is recognised, not dead-lettered
        ("cancel-dotted-id", {"id": DOTTED, "booking": CANCELLED}, Outcome(subjects.BOOKING_CANCELLED, CANCELLED, "")),
        ("cancel-reason-number", {"id": "c-reason", "booking": HELD, "reason": 7}, dead(SCHEMA, "field 'reason'")),
    ])  # fmt: skip

    cases += on(subjects.RESOURCE_UPSERT, [
        ("resource-not-json", b"<resource/>", dead(MALFORMED, NOT_JSON)),
        ("resource-capacity-zero", {"id": "r-zero", "capacity": 0}, dead(SCHEMA, "field 'capacity'")),
        ("resource-capacity-words", {"id": "r-words", "capacity": "lots"}, dead(SCHEMA, "field 'capacity'")),
        ("resource-capacity-1e999", b'{"id": "r-1e999", "capacity": 1e999}', dead(SCHEMA, "field 'capacity'")),
        ("resource-kind", {"id": "r-kind", "kind": "spaceship"}, dead(SCHEMA, "field 'kind'")),
        ("resource-public-key", {"id": "r-key", "public_key": "abc"}, dead(SCHEMA, "X25519")),
        ("resource-uppercase", {"id": "R-UPPER"}, dead(SCHEMA, KUBE)),
        ("resource-unknown-field", {"id": "r-extra", "colour": "red"}, dead(UNKNOWN_FIELD, "colour")),
        ("resource-empty-peer", {"id": "r-peer", "peer": ""}, dead(SCHEMA, "field 'peer'")),
        ("resource-label-key-nul", {"id": "r-nul", "labels": {"\x00": "x"}}, dead(SCHEMA, NUL_KEY)),
    ])  # fmt: skip

    step = {"name": "a", "image": "alpine:3.20"}
    cycle = [step | {"depends": ["b"]}, step | {"name": "b", "depends": ["a"]}]
    c2d = {"inputs": STORAGE, "outputs": STORAGE}
    cases += on(subjects.WORKFLOW_UPSERT, [
        ("workflow-not-json", b"steps: []", dead(MALFORMED, NOT_JSON)),
        ("workflow-no-steps", {"id": "w-empty", "steps": []}, dead(SCHEMA, "at least 1 item")),
        ("workflow-cycle", {"id": "w-cycle", "steps": cycle}, dead(SCHEMA, "dependency cycle: a -> b -> a")),
        ("workflow-unknown-dependency", {"id": "w-ghost", "steps": [step | {"depends": ["ghost"]}]},
         dead(SCHEMA, "unknown step(s): ghost")),
        ("workflow-duplicate-steps", {"id": "w-twice", "steps": [step, step]}, dead(SCHEMA, "duplicate step names: a")),
        ("workflow-self-dependency", {"id": "w-self", "steps": [step | {"depends": ["a"]}]}, dead(SCHEMA, "on itself")),
        ("workflow-no-image", {"id": "w-image", "steps": [{"name": "a"}]}, dead(SCHEMA, "field 'steps.0.image'")),
        ("workflow-blank-image", {"id": "w-blank", "steps": [step | {"image": " "}]}, dead(SCHEMA, "steps.0.image")),
        ("workflow-reserved-step", {"id": "w-c2d", "steps": [step | {"name": "publish"}], "compute_to_data": c2d},
         dead(SCHEMA, "reserved by compute_to_data")),
        ("workflow-step-name", {"id": "w-name", "steps": [step | {"name": "Step_1"}]}, dead(SCHEMA, KUBE)),
        ("workflow-gpu-negative", {"id": "w-gpu", "steps": [step | {"resources": {"gpu": -1}}]}, dead(SCHEMA, "gpu")),
        ("workflow-env-key-nul", {"id": "w-env", "steps": [step | {"env": {"A\x00": "1"}}]}, dead(SCHEMA, NUL_KEY)),
    ])  # fmt: skip

    sample = c.sample
    cases += on(SAMPLE, [
        ("sample-not-json", b"cpu=10", dead(MALFORMED, NOT_JSON)),
        ("sample-load-infinity", spliced(sample("s-inf"), b'"load": Infinity'), dead(MALFORMED, NOT_FINITE)),
        ("sample-load-nan", spliced(sample("s-nan"), b'"load": NaN'), dead(MALFORMED, NOT_FINITE)),
        ("sample-load-1e999", spliced(sample("s-1e999"), b'"load": 1e999'), dead(SCHEMA, "finite number")),
        ("sample-custom-nan", spliced(sample("s-cnan"), b'"custom": {"temp": NaN}'), dead(MALFORMED, NOT_FINITE)),
        ("sample-custom-words", sample("s-cwords", custom={"temp": "hot"}), dead(SCHEMA, "custom.temp")),
        ("sample-custom-key-nul", sample("s-cnul", custom={"t\x00": 1}), dead(SCHEMA, NUL_KEY)),
        ("sample-nested-50000", deep(sample("s-deep")), dead(MALFORMED, DEEP)),
        ("sample-cpu-150", sample("s-cpu", cpu=150), dead(SCHEMA, "field 'cpu'")),
        ("sample-memory-negative", sample("s-mem", memory=-1), dead(SCHEMA, "field 'memory'")),
        ("sample-load-negative", sample("s-load", load=-0.5), dead(SCHEMA, "field 'load'")),
        ("sample-missing-at", without(sample("s-at"), "at"), dead(SCHEMA, "field 'at'")),
        ("sample-naive-at", sample("s-naive", at="2030-01-01T10:00:00"), dead(SCHEMA, "timezone")),
        ("sample-wrong-node", sample("s-other", node="someone-else"), dead(PERMANENT, "for node 'someone-else'")),
        ("sample-from-the-future", sample("s-future", at=c.at(60 * 24)), dead(PERMANENT, "in the future")),
        ("sample-unknown-field", sample("s-extra", temperature=20), dead(UNKNOWN_FIELD, "temperature")),
        ("sample-oversized", sample("s-big", custom={f"m{i}": i for i in range(30_000)}), dead("oversized", "limit")),
    ])  # fmt: skip

    cred = c.credential
    cases += on(subjects.CREDENTIAL_REQUEST, [
        ("credential-not-json", b"give me keys", dead(MALFORMED, NOT_JSON)),
        ("credential-bucket", cred("cr-bucket", bucket="Bad_Bucket"), refused_credential(SCHEMA, "bucket name")),
        ("credential-bucket-ip", cred("cr-ip", bucket="10.0.0.1"), refused_credential(SCHEMA, "bucket name")),
        ("credential-access", cred("cr-access", access="admin"), refused_credential(SCHEMA, "field 'access'")),
        ("credential-missing-storage", without(cred("cr-nostore"), "storage"), refused_credential(SCHEMA, "storage")),
        ("credential-naive-expiry", cred("cr-naive", expires_at="2030-01-01T10:00"), refused_credential(SCHEMA, ZONE)),
        ("credential-id-spaces", cred("cr spaces"), dead(SCHEMA, "field 'id'")),
        ("credential-unknown-storage", cred("cr-unknown", storage="no-store"), failed("unknown_storage", "no-store")),
        ("credential-storage-is-compute", cred("cr-kind", storage=NODE), failed("unknown_storage", NODE)),
        ("credential-compute-is-storage", cred("cr-compute", compute=STORAGE), failed("unknown_compute", STORAGE)),
        ("credential-expired", cred("cr-expired", expires_at=c.at(-5)), failed("expired", "already past")),
        ("credential-no-expiry", without(cred("cr-noexp"), "expires_at"), failed("unknown_execution", "no expires_at")),
    ])  # fmt: skip

    due = c.due
    cases += on(subjects.EXECUTION_DUE, [
        ("due-not-json", b"due!", dead(MALFORMED, NOT_JSON)),
        ("due-missing-fields", {"id": "due-missing", "execution": "x"}, dead(SCHEMA, "Field required")),
        ("due-unknown-execution", due("due-unknown"), dead(PERMANENT, "unknown execution 'due-unknown-exec'")),
        ("due-nested", deep(due("due-deep"), 5000), dead(MALFORMED, DEEP)),
    ])  # fmt: skip
    cases += on(subjects.EXECUTION_DISPATCHED, [("dispatched-not-json", b"\x00\x01", dead(MALFORMED, NOT_JSON))])
    cases += on(subjects.EXECUTION_SUCCEEDED, [("succeeded-array", b"[1, 2]", dead(SCHEMA, "must be a JSON object"))])
    failed_at = {"id": "failed-1", "execution": "x", "booking": "y", "at": "soon", "reason": "r"}
    cases += on(subjects.EXECUTION_FAILED, [("failed-bad-at", failed_at, dead(SCHEMA, "field 'at'"))])
    cases += on(subjects.EXECUTION_CANCELLED, [("cancelled-nan", b'{"id": NaN}', dead(MALFORMED, NOT_FINITE))])

    ctl = subjects.ctl
    cases += on(ctl("booking", "request"), [
        ("ctl-request-not-json", b"{broken", error(MALFORMED, NOT_JSON)),
        ("ctl-request-empty", b"", error(MALFORMED, NOT_JSON)),
        ("ctl-request-array", b"[]", error(SCHEMA, "must be a JSON object")),
        ("ctl-request-invalid", bk("ctl-invalid", end=c.at(100)), error(SCHEMA, "must be after start", "rejected")),
        ("ctl-request-nan", spliced(bk("ctl-nan"), b'"duration": NaN'), error(MALFORMED, NOT_FINITE)),
        ("ctl-request-nested", deep(bk("ctl-deep")), error(MALFORMED, DEEP)),
        ("ctl-request-900k", sized("ctl-900k", 900_000), error("oversized", "payload is 900000 bytes", "rejected")),
        ("ctl-request-xml", bk("ctl-xml"), error("content_type", "not JSON", "rejected"), {"Content-Type": "text/xml"}),
        ("ctl-request-resources-257", bk("ctl-257", resources=[f"r-{i}" for i in range(257)]),
         error(SCHEMA, TOO_MANY, "rejected")),
        ("ctl-request-resources-500", bk("ctl-500", resources=[f"r-{i}" for i in range(500)]),
         error(SCHEMA, TOO_MANY, "rejected")),
        ("ctl-request-label-key-nul", bk("ctl-nul", labels={"\x00": ""}), error(SCHEMA, NUL_KEY, "rejected")),
        ("ctl-request-unknown-resource", bk("ctl-unknown", resources=["no-such-node"]),
         answered("rejected", "unknown_resource", "no-such-node")),
        ("ctl-request-past", bk("ctl-past", start=c.at(-60), end=c.at(10)), answered("rejected", "invalid", "past")),
        ("ctl-request-conflict", bk("ctl-conflict", resources=[SINGLE]), answered("rejected", "conflict", HELD)),
        # a copy of a decided booking with another body is answered with the decision, which it cannot unsay
        ("ctl-request-changed-copy", c.request(DECIDED, minute=500, labels={"changed": "yes"}), answered("confirmed")),
    ])  # fmt: skip
    cases += on(ctl("booking", "cancel"), [
        ("ctl-cancel-unknown", {"id": "c-ctl-1", "booking": "bk-nobody"}, error(PERMANENT, "unknown booking 'bk-no")),
        ("ctl-cancel-rejected", {"id": "c-ctl-2", "booking": REJECTED}, error(PERMANENT, NOTHING)),
        ("ctl-cancel-not-json", b"cancel", error(MALFORMED, NOT_JSON)),
        ("ctl-cancel-dotted-id", {"id": DOTTED, "booking": CANCELLED}, answered("cancelled")),
        ("ctl-cancel-dotted-id-again", {"id": DOTTED, "booking": CANCELLED}, answered("cancelled")),
        ("ctl-cancel-missing-booking", {"id": "c-ctl-3"}, error(SCHEMA, "field 'booking'")),
    ])  # fmt: skip
    cases += on(ctl("booking", "get"), [
        ("ctl-get-unknown", {"id": "bk-nobody"}, error(PERMANENT, "unknown booking 'bk-nobody'")),
        ("ctl-get-missing-id", {}, error(SCHEMA, "field 'id': Field required")),
        ("ctl-get-id-too-long", {"id": "x" * 201}, error(SCHEMA, "at most 200 characters")),
        ("ctl-get-id-number", {"id": 7}, error(SCHEMA, "field 'id'")),
        ("ctl-get-extra", {"id": HELD, "verbose": True}, error(UNKNOWN_FIELD, "verbose")),
    ])  # fmt: skip
    cases += on(ctl("booking", "list"), [
        ("ctl-list-status", {"status": "maybe"}, error(SCHEMA, "field 'status'")),
        ("ctl-list-limit-zero", {"limit": 0}, error(SCHEMA, "field 'limit'")),
        ("ctl-list-limit-huge", {"limit": 10**9}, error(SCHEMA, "field 'limit'")),
        ("ctl-list-limit-words", {"limit": "ten"}, error(SCHEMA, "field 'limit'")),
        ("ctl-list-cursor-number", {"cursor": 7}, error(SCHEMA, "field 'cursor'")),
        ("ctl-list-content-type", {}, error("content_type", "not JSON"), {"Content-Type": "image/png"}),
    ])  # fmt: skip
    cases += on(ctl("execution", "list"), [
        ("ctl-executions-after-words", {"after": "yesterday"}, error(SCHEMA, "field 'after'")),
        ("ctl-executions-cursor-list", {"cursor": ["a"]}, error(SCHEMA, "field 'cursor'")),
    ])  # fmt: skip
    cases += on(ctl("execution", "get"), [
        ("ctl-execution-get-unknown", {"id": "nope-20300101t000000"}, error(PERMANENT, "unknown execution")),
    ])  # fmt: skip
    cases += on(ctl("execution", "cancel"), [
        ("ctl-execution-cancel-unknown", {"execution": "nope-1"}, error(PERMANENT, "unknown execution")),
        ("ctl-execution-cancel-missing", {}, error(SCHEMA, "field 'execution'")),
    ])  # fmt: skip
    cases += on(ctl("schedule", "pause"), [
        ("ctl-pause-unknown", {"booking": "bk-nobody"}, error(PERMANENT, "bk-nobody")),
        ("ctl-pause-empty", b"", error(SCHEMA, "field 'booking': Field required")),
        ("ctl-pause-wrong-field", {"id": HELD}, error(UNKNOWN_FIELD, "BookingRef: id")),
    ])  # fmt: skip
    cases += on(ctl("schedule", "upcoming"), [("ctl-upcoming-limit", {"limit": -1}, error(SCHEMA, "field 'limit'"))])
    cases += on(ctl("resource", "get"), [
        ("ctl-resource-get-unknown", {"id": "no-such-node"}, error(PERMANENT, "no-such-node")),
        ("ctl-resource-get-empty-id", {"id": ""}, error(SCHEMA, "field 'id'")),
        ("ctl-resource-get-900k", b'{"id": "' + b"x" * 900_000 + b'"}', error("oversized", "900010 bytes")),
    ])  # fmt: skip
    cases += on(ctl("resource", "list"), [("ctl-resource-list-extra", {"page": 2}, error(UNKNOWN_FIELD, "page"))])
    cases += on(ctl("workflow", "get"), [
        ("ctl-workflow-get-unknown", {"id": "no-such-wf"}, error(PERMANENT, "no-such-wf")),
        ("ctl-workflow-get-nested", b'{"id": ' + nested(300) + b"}", error(MALFORMED, DEEP)),
    ])  # fmt: skip
    cases += on(ctl("credential", "request"), [
        ("ctl-credential-invalid", cred("cr-ctl-bad", access="root"), error(SCHEMA, "field 'access'", "failed")),
        ("ctl-credential-not-json", b"keys?", error(MALFORMED, NOT_JSON)),
        ("ctl-credential-unknown-storage", cred("cr-ctl-unknown", storage="no-such-store"),
         answered("failed", "unknown_storage", "no-such-store")),
    ])  # fmt: skip
    cases += on(ctl("credential", "get"), [("ctl-credential-get-unknown", {"id": "cr-x"}, error(PERMANENT, "cr-x"))])
    cases += on(ctl("dlq", "get"), [
        ("ctl-dlq-get-zero", {"seq": 0}, error(SCHEMA, "field 'seq'")),
        ("ctl-dlq-get-words", {"seq": "first"}, error(SCHEMA, "field 'seq'")),
        ("ctl-dlq-get-unknown", {"seq": 10**9}, error(PERMANENT, "1000000000")),
    ])  # fmt: skip
    cases += on(ctl("dlq", "replay"), [("ctl-dlq-replay-unknown", {"seq": 10**9}, error(PERMANENT, "1000000000"))])
    cases += on(ctl("dlq", "list"), [("ctl-dlq-list-empty-subject", {"subject": ""}, error(SCHEMA, "field 'subject'"))])

    secret = {"id": "p-ns", "execution": "e", "storage": STORAGE, "namespace": "NS!", "name": "n", "sealed": "x"}
    cases += on(PEER_ISSUE, [
        ("peer-issue-not-json", b"keys please", answered("error", SCHEMA, "IssueCredential")),
        ("peer-issue-missing", {"id": "p-1"}, answered("error", SCHEMA, "request")),
        ("peer-issue-nested", nested(50_000), answered("error", SCHEMA, "IssueCredential")),
        ("peer-issue-nan", spliced({"id": "p-nan", "request": cred("p-nan")}, b'"expires_at": NaN'),
         answered("error", SCHEMA, "IssueCredential")),
        ("peer-issue-900k", b'{"id": "' + b"x" * 900_000 + b'"}', answered("error", SCHEMA, "IssueCredential")),
    ])  # fmt: skip
    cases += on(PEER_STORE, [
        ("peer-store-missing", {"id": "p-store"}, answered("error", SCHEMA, "StoreSecret")),
        ("peer-store-bad-namespace", secret | {"expires_at": c.at(10)}, answered("error", SCHEMA, "namespace")),
    ])  # fmt: skip
    cases += on(PEER_DELETE, [("peer-delete-array", b"[]", answered("error", SCHEMA, "DeleteSecret"))])
    cases += on(PEER_PREPARE, [("peer-prepare-empty", b"", answered("error", SCHEMA, "PrepareNamespace"))])
    return cases


def seeds(now: datetime) -> list[dict[str, Any]]:
    """Bookings the corpus refers to, requested over ctl before it is sent: one that holds `SINGLE`, one
    rejected (it starts in the past), one confirmed that a changed copy is sent for, one to cancel."""
    c = Corpus(now)
    return [
        c.request(HELD, resources=[SINGLE]),
        c.request(REJECTED, start=c.at(-120), end=c.at(-60)),
        c.request(DECIDED, minute=500),
        c.request(CANCELLED, minute=600),
    ]


def valid(now: datetime, index: int, max_payload: int = 256 * 1024) -> tuple[str, bytes, dict[str, str]]:
    """The valid booking sent after case `index` (its id, body and headers): each on its own minute, and
    varied in what must still be accepted: no headers at all, a charset, a garbled trace context, unicode
    labels, a body of exactly `max_payload` bytes."""
    c = Corpus(now)
    booking_id = f"ok-{index}"
    body = c.request(booking_id, minute=1000 + index)
    msg_id = {"Nats-Msg-Id": booking_id}
    match index % 6:
        case 1:
            return booking_id, data(body), {}
        case 2:
            return booking_id, data(body), msg_id | {"Content-Type": "application/json; charset=utf-8"}
        case 3:
            return booking_id, data(body), msg_id | {"traceparent": "00-not-a-trace-context"}
        case 4:
            return booking_id, data(body | {"labels": {"note": "grüße, 東京, 🚀", "empty": ""}}), msg_id
        case 5 if index % 30 == 5:
            return booking_id, c.padded(booking_id, max_payload, minute=1000 + index), msg_id
        case _:
            return booking_id, data(body), msg_id
