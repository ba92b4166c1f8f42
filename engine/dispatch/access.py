"""The namespace of one execution and the least rights its workflow's pods need.

Argo's emissary executor, running as the workflow's ServiceAccount, reports each step's outputs
through `workflowtaskresults` (create, patch) and, for older controllers and the pod-status fallback,
reads and patches its own pod (get, watch, patch). Nothing else: no secrets list, no pod creation.
The namespace carries `multicluster-scheduler=enabled` only when a step must run on another cluster,
since Admiralty only looks at pods in namespaces so labelled. Admiralty creates the delegate pods of
those steps in a namespace of the same name on the remote cluster, as the same ServiceAccount: the
peer owning that cluster builds the same objects from a `Scope` (engine/dispatch/remote.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

SERVICE_ACCOUNT = "jetflow-workflow"
ROLE = "jetflow-workflow-executor"
ADMIRALTY_NAMESPACE_LABEL = "multicluster-scheduler"
#: Namespace annotation on the dispatching cluster: the peers that run remote steps and hold a namespace
#: of the same name (comma-separated), so the janitor can release theirs before deleting its own.
REMOTE_PEERS = "jetflow.io/remote-peers"

EXECUTOR_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "patch"]},
]


@dataclass(frozen=True, slots=True)
class Scope:
    """Where one execution's objects live on one cluster, and the labels and annotations they carry.

    The dispatching peer builds it from its plan; a peer that runs remote steps builds it from the
    `namespace.prepare` request, so both clusters get the same ServiceAccount and rights.
    """

    namespace: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels of the Namespace alone (Admiralty's, on the dispatching cluster)."""
    namespace_annotations: Mapping[str, str] = field(default_factory=dict)
    """Extra annotations of the Namespace alone (the peers that run remote steps)."""


def _meta(scope: Scope, name: str, *, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = scope.namespace
    meta["labels"] = dict(scope.labels)
    meta["annotations"] = dict(scope.annotations)
    return meta


def namespace(scope: Scope) -> dict[str, Any]:
    meta = _meta(scope, scope.namespace, namespaced=False)
    meta["labels"].update(scope.namespace_labels)
    meta["annotations"].update(scope.namespace_annotations)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(scope: Scope) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(scope, SERVICE_ACCOUNT)}


def role(scope: Scope) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(scope, ROLE),
        "rules": EXECUTOR_RULES,
    }


def role_binding(scope: Scope) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(scope, ROLE),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": scope.namespace}],
    }


def objects(scope: Scope) -> list[dict[str, Any]]:
    """The namespace and the workflow's identity and rights in it, in the order they must be created."""
    return [namespace(scope), service_account(scope), role(scope), role_binding(scope)]
