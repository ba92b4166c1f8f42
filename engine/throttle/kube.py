"""NodeActions on Kubernetes, each behind its own setting: taint a `tainted` node, suspend jetflow's work on it.

* Taint (`JETFLOW_THROTTLE_KUBE_TAINT`): a `tainted` node gets a NoSchedule taint with the key
  `jetflow.io/throttle`, removed on release. Only jetflow's own taint is ever added or removed; other taints
  are kept. Taints are a list, which a JSON merge patch replaces whole, so the node is read first and written
  with its taints plus or minus ours.
* Suspend (`JETFLOW_THROTTLE_KUBE_SUSPEND`): the original orchestrator scaled down every deployment in the
  cluster; jetflow touches only the workloads it placed on that node. Those are Argo Workflows, labelled
  `node.jetflow.io/<node>` by dispatch: a running one is suspended (Argo schedules no new step; running pods
  finish) and resumed on release. The annotation `jetflow.io/suspended-for` lists the tainted nodes holding
  it, so a workflow on two tainted nodes resumes only when both are released, and a workflow someone else
  suspended is left alone.

Applying the same change twice is a no-op (nothing is patched when the cluster already matches). A node
Kubernetes does not know is skipped: samples may come from machines outside the cluster.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from engine.kube import names
from schemas.throttle import ThrottleLevel

if TYPE_CHECKING:
    from engine.kube.client import Kube, Manifest
    from engine.throttle.policy import Change

log = logging.getLogger(__name__)

TAINT_KEY = "jetflow.io/throttle"
SUSPENDED_FOR = "jetflow.io/suspended-for"
WORKFLOW = ("argoproj.io/v1alpha1", "Workflow")
FINISHED = frozenset({"Succeeded", "Failed", "Error"})


class KubeNodeActions:
    def __init__(self, kube: Kube, *, taint: bool = True, suspend: bool = False) -> None:
        self._kube = kube
        self._taint = taint
        self._suspend = suspend

    async def apply(self, change: Change) -> None:
        if self._taint:
            await self._set_taint(change)
        if self._suspend:
            await self._set_suspended(change)

    async def _set_taint(self, change: Change) -> None:
        node = await self._kube.get("v1", "Node", None, change.node)
        if node is None:
            log.info("node %s is not in the cluster; no taint to change", change.node)
            return
        taints: list[dict[str, Any]] = list(node.get("spec", {}).get("taints") or [])
        others = [taint for taint in taints if taint.get("key") != TAINT_KEY]
        wanted = others
        if change.level == ThrottleLevel.TAINTED:
            wanted = [*others, {"key": TAINT_KEY, "value": str(change.level), "effect": "NoSchedule"}]
        if wanted == taints:
            return  # Idempotency guard: already as this change wants it.
        await self._kube.patch("v1", "Node", None, change.node, {"spec": {"taints": wanted}})

    async def _set_suspended(self, change: Change) -> None:
        key = names.node_label(change.node)
        workflows, _ = await self._kube.list(*WORKFLOW, label_selector=f"{key}=true")
        for workflow in workflows:
            if (patch := _suspension(workflow, key, change.node, change.level == ThrottleLevel.TAINTED)) is None:
                continue
            meta = workflow["metadata"]
            await self._kube.patch(*WORKFLOW, meta.get("namespace"), meta["name"], patch)
            log.info(
                "%s workflow %s/%s (node %s)",
                "suspended" if patch.get("spec") else "annotated",
                meta.get("namespace"),
                meta["name"],
                change.node,
            )


def _suspension(workflow: Manifest, key: str, node: str, tainted: bool) -> dict[str, Any] | None:
    """The merge patch that makes `workflow` match `node`'s level, or None when nothing is to change."""
    meta = workflow.get("metadata", {})
    if (meta.get("labels") or {}).get(key) != "true":  # a server that ignored the label selector
        return None
    if (workflow.get("status") or {}).get("phase") in FINISHED:
        return None
    holders = {n for n in (meta.get("annotations") or {}).get(SUSPENDED_FOR, "").split(",") if n}
    if not holders and (workflow.get("spec") or {}).get("suspend"):
        return None  # suspended by someone else: theirs to resume
    wanted = holders | {node} if tainted else holders - {node}
    if wanted == holders:
        return None  # Idempotency guard: already as this change wants it.
    patch: dict[str, Any] = {"metadata": {"annotations": {SUSPENDED_FOR: ",".join(sorted(wanted)) or None}}}
    if not holders:
        patch["spec"] = {"suspend": True}
    elif not wanted:
        patch["spec"] = {"suspend": None}  # merge patch: remove the field, Argo resumes
    return patch
