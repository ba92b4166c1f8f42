"""The names and labels jetflow gives Kubernetes objects, derived from execution ids.

Names are deterministic, so a replayed `execution.due` or credential request addresses the same
objects (409 Already Exists means done). Execution ids may hold characters Kubernetes refuses
('_', ':', uppercase) and may be longer than a DNS label; such ids are folded to a valid label and
a short hash of the original keeps two different ids from folding onto one name.
"""

from __future__ import annotations

import hashlib
import re

LABEL_MAX = 63
_INVALID = re.compile(r"[^a-z0-9-]+")
_DIGEST = 8

#: Labels on every object jetflow creates; the watcher selects workflows by `MANAGED_BY`.
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "jetflow"
EXECUTION = "jetflow.io/execution"
BOOKING = "jetflow.io/booking"
PEER = "jetflow.io/peer"
STORAGE = "jetflow.io/storage"
#: Namespace label on a remote peer's cluster: which peer's workflow the namespace serves (the peer whose link
#: its namespace prepare or its first credential Secret came over); only that peer may change what is in it.
REQUESTED_BY = "jetflow.io/requested-by"
#: Prefix of the labels that name the nodes a workflow's steps are placed on (`node.jetflow.io/<node>: "true"`),
#: so the throttle can find jetflow's workloads on one node.
NODE_PREFIX = "node.jetflow.io/"

#: Keys of a storage credential Secret, read by the workflow's steps as environment variables.
S3_ACCESS_KEY = "AWS_ACCESS_KEY_ID"
S3_SECRET_KEY = "AWS_SECRET_ACCESS_KEY"
S3_SESSION_TOKEN = "AWS_SESSION_TOKEN"
S3_ENDPOINT = "S3_ENDPOINT"
S3_BUCKET = "S3_BUCKET"
S3_PREFIX = "S3_PREFIX"


def label(value: str, *, prefix: str = "", limit: int = LABEL_MAX) -> str:
    """`prefix + value` as a DNS-1123 label of at most `limit` characters, deterministic and collision-safe."""
    raw = prefix + value
    folded = _INVALID.sub("-", raw.lower()).strip("-")
    if folded == raw and len(folded) <= limit:
        return folded
    digest = hashlib.sha256(raw.encode()).hexdigest()[:_DIGEST]
    head = folded[: limit - _DIGEST - 1].rstrip("-")
    return f"{head}-{digest}" if head else digest


def namespace(execution: str) -> str:
    """The namespace of one execution: every object of the execution lives in it."""
    return label(execution, prefix="jf-")


def workflow(execution: str) -> str:
    """The Argo Workflow of one execution (inside its namespace)."""
    return label(execution, prefix="jf-")


def node_label(node: str) -> str:
    """The label key marking a workflow with a step on `node`."""
    return NODE_PREFIX + label(node)


def storage_secret(storage: str) -> str:
    """The Secret holding an execution's credentials for one storage resource (inside its namespace)."""
    return label(storage, prefix="s3-")
