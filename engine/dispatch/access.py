"""The namespace of one execution and the least rights its workflow's pods need.

Argo's emissary executor, running as the workflow's ServiceAccount, reports each step's outputs
through `workflowtaskresults` (create, patch) and, for older controllers and the pod-status fallback,
reads and patches its own pod (get, watch, patch). Nothing else: no secrets list, no pod creation.
The namespace carries `multicluster-scheduler=enabled` only when a step must run on another cluster,
since Admiralty only looks at pods in namespaces so labelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.dispatch.plan import Plan

SERVICE_ACCOUNT = "jetflow-workflow"
ROLE = "jetflow-workflow-executor"
ADMIRALTY_NAMESPACE_LABEL = "multicluster-scheduler"

EXECUTOR_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "patch"]},
]


def _meta(plan: Plan, name: str, *, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = plan.namespace
    meta["labels"] = plan.labels()
    meta["annotations"] = plan.annotations()
    return meta


def namespace(plan: Plan) -> dict[str, Any]:
    meta = _meta(plan, plan.namespace, namespaced=False)
    if plan.federated():
        meta["labels"][ADMIRALTY_NAMESPACE_LABEL] = "enabled"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(plan: Plan) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(plan, SERVICE_ACCOUNT)}


def role(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(plan, ROLE),
        "rules": EXECUTOR_RULES,
    }


def role_binding(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(plan, ROLE),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": plan.namespace}],
    }
