"""The Kubernetes Secret that hands storage keys to a workflow's steps: built here, pure.

Its name and namespace come from engine.kube.names (deterministic: a replayed request addresses the
same Secret, and 409 means done); its data keys are the environment variables the steps read.
Annotations carry the request id and the expiry, so an operator can tell which request a Secret answers.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from engine.kube import names

if TYPE_CHECKING:
    from collections.abc import Mapping


def labels(*, execution: str, storage: str, peer: str) -> dict[str, str]:
    return {
        names.MANAGED_BY: names.MANAGER,
        names.EXECUTION: names.label(execution),
        names.STORAGE: storage,
        names.PEER: names.label(peer),
    }


SECRET = ("v1", "Secret")


def namespace_manifest(namespace: str, *, execution: str, peer: str, requester: str | None = None) -> dict[str, Any]:
    """The execution namespace, in case the credentials arrive before dispatch created it.

    Labelled and annotated like dispatch's own (managed-by, execution, peer), so this peer's
    namespace janitor finds it; a 409 when dispatch created it first is the usual case. `requester`: the
    linked peer the Secret came from, who alone may prepare the namespace and change its Secrets later.
    """
    labels = {names.MANAGED_BY: names.MANAGER, names.EXECUTION: names.label(execution), names.PEER: names.label(peer)}
    if requester is not None:
        labels[names.REQUESTED_BY] = names.label(requester)
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace,
            "labels": labels,
            "annotations": {names.EXECUTION: execution},
        },
    }


def secret_manifest(
    *,
    namespace: str,
    name: str,
    execution: str,
    storage: str,
    peer: str,
    request: str,
    expires_at: str,
    values: Mapping[str, str],
) -> dict[str, Any]:
    """An Opaque Secret holding `values` (already keyed by the names.S3_* keys)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels(execution=execution, storage=storage, peer=peer),
            # Annotations, not labels: ids and instants are not valid label values.
            "annotations": {"jetflow.io/request": request, "jetflow.io/expires-at": expires_at},
        },
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    }


def secret_values(
    *, access_key: str, secret_key: str, session_token: str, endpoint: str, bucket: str, prefix: str
) -> dict[str, str]:
    """The Secret's data, keyed as the steps read it."""
    return {
        names.S3_ACCESS_KEY: access_key,
        names.S3_SECRET_KEY: secret_key,
        names.S3_SESSION_TOKEN: session_token,
        names.S3_ENDPOINT: endpoint,
        names.S3_BUCKET: bucket,
        names.S3_PREFIX: prefix,
    }
