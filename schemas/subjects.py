"""The subject contract: every NATS subject jetflow reads or writes, spelled in one place.

Other systems and operators publish to and subscribe on these names, so they are public API (see
docs/architecture.md). Subjects that carry a variable token are built by functions that refuse a token
which would change the subject's shape (a '.', or a wildcard).
"""

BOOKING_REQUEST = "jetflow.booking.request"
BOOKING_CANCEL = "jetflow.booking.cancel"
BOOKING_CONFIRMED = "jetflow.booking.confirmed"
BOOKING_REJECTED = "jetflow.booking.rejected"
BOOKING_CANCELLED = "jetflow.booking.cancelled"

EXECUTION_DUE = "jetflow.execution.due"
EXECUTION_HELD = "jetflow.execution.held"
EXECUTION_MISSED = "jetflow.execution.missed"
EXECUTION_DISPATCHED = "jetflow.execution.dispatched"
EXECUTION_RUNNING = "jetflow.execution.running"
EXECUTION_SUCCEEDED = "jetflow.execution.succeeded"
EXECUTION_FAILED = "jetflow.execution.failed"
EXECUTION_TIMED_OUT = "jetflow.execution.timed_out"
EXECUTION_CANCELLED = "jetflow.execution.cancelled"

RESOURCE_UPSERT = "jetflow.resource.upsert"
RESOURCE_REMOVE = "jetflow.resource.remove"
WORKFLOW_UPSERT = "jetflow.workflow.upsert"

METRIC_SAMPLE_PREFIX = "jetflow.metric.sample"
THROTTLE_COMMAND_PREFIX = "jetflow.throttle.command"

CREDENTIAL_REQUEST = "jetflow.credential.request"
CREDENTIAL_ISSUED = "jetflow.credential.issued"
CREDENTIAL_FAILED = "jetflow.credential.failed"

#: Core request/reply between peers (never in a stream): `jetflow.peer.<peer id>.<family>.<verb>`.
PEER_PREFIX = "jetflow.peer"
#: The token before the sender in a peer request that came over a leaf link:
#: `jetflow.peer.<us>.from.<sender>.<family>.<verb>`, written by our nats-server, never by the sender.
PEER_FROM = "from"

#: The public catalog a peer offers the peers it is linked to: `jetflow.public.resource.<id>`, one message per
#: public resource (a tombstone once it is removed or made private), in the owner's stream JETFLOW_PUBLIC_<id>.
PUBLIC_RESOURCE_PREFIX = "jetflow.public.resource"
#: Where an owner's JetStream pushes its public catalog to a linked reader: `jetflow.public.deliver.<owner>.<reader>`.
PUBLIC_DELIVER_PREFIX = "jetflow.public.deliver"
#: The read-only copy of the other peers' public catalogs: `jetflow.federated.<owner>.resource.<id>`, in the
#: stream JETFLOW_FEDERATED, which only sources (no subject of its own: nothing local can publish into it).
FEDERATED_PREFIX = "jetflow.federated"

DLQ_PREFIX = "jetflow.dlq"
CTL_PREFIX = "jetflow.ctl"
#: Core-NATS nudge: "due or cancelled executions changed, run a dispatch pass" (in no stream).
DISPATCH_WAKE = "jetflow.dispatch.wake"
#: Core-NATS nudge: "the pending executions changed, reload the horizon" (in no stream; carries a booking id).
SCHEDULER_REFRESH = "jetflow.scheduler.refresh"


def _token(value: str) -> str:
    if not value or any(c in value for c in ".*> \t\r\n"):
        raise ValueError(f"{value!r} cannot be a subject token: it must be non-empty, without '.', '*', '>' or spaces")
    return value


def metric_sample(node: str) -> str:
    """Where the agent on `node` publishes its samples."""
    return f"{METRIC_SAMPLE_PREFIX}.{_token(node)}"


def throttle_command(node: str) -> str:
    """Where the agent on `node` reads the latest throttle command."""
    return f"{THROTTLE_COMMAND_PREFIX}.{_token(node)}"


def dead_letter(subject: str) -> str:
    """Where a message that could not be processed on `subject` is kept, with the reason."""
    return f"{DLQ_PREFIX}.{subject}"


def ctl_health() -> str:
    """The one ctl subject without a family: `jetflow.ctl.health`."""
    return f"{CTL_PREFIX}.health"


def ctl(family: str, verb: str) -> str:
    """A request/reply operator endpoint, for example `ctl("booking", "request")`."""
    return f"{CTL_PREFIX}.{_token(family)}.{_token(verb)}"


def peer(peer_id: str, family: str, verb: str) -> str:
    """A request/reply subject answered by the instances of one peer, e.g. `peer("b", "credential", "issue")`."""
    return f"{PEER_PREFIX}.{_token(peer_id)}.{_token(family)}.{_token(verb)}"


def public_resource(resource_id: str) -> str:
    """The owner's public-catalog subject of one resource: `jetflow.public.resource.<id>`."""
    return f"{PUBLIC_RESOURCE_PREFIX}.{_token(resource_id)}"


def public_deliver(owner: str, reader: str) -> str:
    """Where `owner`'s JetStream pushes its public catalog to `reader`: `jetflow.public.deliver.<owner>.<reader>`."""
    return f"{PUBLIC_DELIVER_PREFIX}.{_token(owner)}.{_token(reader)}"


def public_api(owner: str) -> str:
    """The JetStream API prefix a reader's source of `owner`'s public stream uses: `jetflow.public.api.<owner>`.

    The owner's nats-server maps `<prefix>.CONSUMER.RESET.<its public stream>.reader-<reader>`, the reset of the
    consumer it keeps for that reader, and nothing else, to its `$JS.API` (engine/embedded/natsconf.py).
    """
    return f"jetflow.public.api.{_token(owner)}"


def federated(owner: str) -> str:
    """Every entry of the federated catalog that `owner` publishes: `jetflow.federated.<owner>.>`."""
    return f"{FEDERATED_PREFIX}.{_token(owner)}.>"


def peer_link(peer_id: str, sender: str) -> str:
    """Every request of `sender` to `peer_id` as it reaches `peer_id`'s engine over their leaf link:
    `jetflow.peer.<peer_id>.from.<sender>.>` (the link account's service import maps it there)."""
    return f"{PEER_PREFIX}.{_token(peer_id)}.{PEER_FROM}.{_token(sender)}.>"


def peer_links(peer_id: str) -> str:
    """The requests of every linked peer to `peer_id`: `jetflow.peer.<id>.from.*.>` (what its account exports)."""
    return f"{PEER_PREFIX}.{_token(peer_id)}.{PEER_FROM}.*.>"


def peer_from(peer_id: str, family: str, verb: str, sender: str | None = None) -> str:
    """Where `sender`'s requests (every linked peer's when None) reach `peer_id` over their link:
    `jetflow.peer.<id>.from.<sender or *>.<family>.<verb>`."""
    token = "*" if sender is None else _token(sender)
    return f"{PEER_PREFIX}.{_token(peer_id)}.{PEER_FROM}.{token}.{_token(family)}.{_token(verb)}"


def peer_sender(subject: str) -> str | None:
    """The linked peer a request came from (`jetflow.peer.<us>.from.<sender>.…`), None for a local request."""
    tokens = subject.split(".")
    return tokens[4] if len(tokens) == 7 and tokens[3] == PEER_FROM else None


def booking_claim(peer_id: str) -> str:
    """Where the owner of resources claims them for another peer's booking: `jetflow.peer.<id>.booking.claim`."""
    return peer(peer_id, "booking", "claim")


def booking_release(peer_id: str) -> str:
    """Where that owner releases them again: `jetflow.peer.<id>.booking.release`."""
    return peer(peer_id, "booking", "release")


def booking_free(peer_id: str) -> str:
    """Where that owner gives back one window whose execution ended early: `jetflow.peer.<id>.booking.free`."""
    return peer(peer_id, "booking", "free")
