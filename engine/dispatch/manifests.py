"""Every manifest of one execution, in the order they must be created.

The namespace first (everything else lives in it), then the ServiceAccount and its rights, and the
Workflow last: once it exists Argo starts pods that need the ServiceAccount. Deletion only needs the
namespace: Kubernetes removes what it holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.dispatch import access, workflow

if TYPE_CHECKING:
    from engine.dispatch.plan import Plan


def manifests(plan: Plan) -> list[dict[str, Any]]:
    return [*access.objects(plan.scope()), workflow.build(plan)]
