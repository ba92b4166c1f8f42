"""Where each kind of object lives in the Kubernetes API, so one generic client can address them all.

jetflow only ever handles a handful of kinds, known in advance; a fixed table avoids API discovery
(a round trip per group at start, and one more thing a test server must emulate). A manifest's
`apiVersion` + `kind` pick the REST path; adding a kind is one line here.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.errors import PermanentError


@dataclass(frozen=True, slots=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path of the collection (name None) or of one object."""
        root = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced:
            if namespace is None:
                if name is not None:
                    raise PermanentError(f"{self.kind} {name!r} needs a namespace")
                return f"{root}/{self.plural}"  # across all namespaces: list and watch
            root = f"{root}/namespaces/{namespace}"
        return f"{root}/{self.plural}" if name is None else f"{root}/{self.plural}/{name}"


KINDS: dict[tuple[str, str], Kind] = {
    (k.api_version, k.kind): k
    for k in (
        Kind("v1", "Namespace", "namespaces", namespaced=False),
        Kind("v1", "Node", "nodes", namespaced=False),
        Kind("v1", "ServiceAccount", "serviceaccounts", namespaced=True),
        Kind("v1", "Secret", "secrets", namespaced=True),
        Kind("v1", "ConfigMap", "configmaps", namespaced=True),
        Kind("v1", "Pod", "pods", namespaced=True),
        Kind("rbac.authorization.k8s.io/v1", "Role", "roles", namespaced=True),
        Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", namespaced=True),
        Kind("argoproj.io/v1alpha1", "Workflow", "workflows", namespaced=True),
    )
}

WORKFLOW = KINDS["argoproj.io/v1alpha1", "Workflow"]
NAMESPACE = KINDS["v1", "Namespace"]


def kind_of(api_version: str, kind: str) -> Kind:
    try:
        return KINDS[api_version, kind]
    except KeyError:
        raise PermanentError(f"jetflow does not handle {api_version} {kind}") from None
