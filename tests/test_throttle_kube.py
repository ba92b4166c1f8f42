"""The throttle's Kubernetes action on jetflow's own workloads: suspend the workflows on a tainted node, resume them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from engine.kube import names
from engine.throttle.kube import SUSPENDED_FOR, KubeNodeActions
from engine.throttle.policy import Change
from schemas.throttle import ThrottleLevel

if TYPE_CHECKING:
    from tests.support.kube import KubeHarness

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
TAINTED, NORMAL = ThrottleLevel.TAINTED, ThrottleLevel.NORMAL


def workflow(name: str, nodes: list[str], *, phase: str = "Running", suspend: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": name,
            "namespace": f"jf-{name}",
            "labels": {names.MANAGED_BY: names.MANAGER, **{names.node_label(node): "true" for node in nodes}},
        },
        "spec": {"entrypoint": "main", **({"suspend": True} if suspend else {})},
        "status": {"phase": phase},
    }


async def test_workflows_on_a_tainted_node_are_suspended_and_resumed_only_by_jetflow(kube: KubeHarness) -> None:
    if kube.emulator is None:
        pytest.skip("needs kmock: a real cluster's workflows are not the test's to suspend")
    for manifest in (
        workflow("one", ["edge-1"]),
        workflow("both", ["edge-1", "edge-2"]),
        workflow("done", ["edge-1"], phase="Succeeded"),
        workflow("theirs", ["edge-1"], suspend=True),
        workflow("elsewhere", ["edge-9"]),
    ):
        assert await kube.client.create(manifest)
    actions = KubeNodeActions(kube.client, taint=False, suspend=True)

    def change(node: str, level: ThrottleLevel, previous: ThrottleLevel) -> Change:
        return Change(node, level, previous, T0, "test", f"{node}:{level}")

    def state(name: str) -> tuple[bool, str | None]:
        stored = kube.object("argoproj.io/v1alpha1", "Workflow", f"jf-{name}", name)
        assert stored is not None
        return bool(stored["spec"].get("suspend")), (stored["metadata"].get("annotations") or {}).get(SUSPENDED_FOR)

    await actions.apply(change("edge-1", TAINTED, NORMAL))
    await actions.apply(change("edge-1", TAINTED, NORMAL))  # replayed: nothing more
    assert state("one") == (True, "edge-1")
    assert state("both") == (True, "edge-1")
    assert state("done") == (False, None)
    assert state("theirs") == (True, None)
    assert state("elsewhere") == (False, None)
    patches = len(kube.requests(methods=("patch",)))
    assert patches == 2

    await actions.apply(change("edge-2", TAINTED, NORMAL))
    assert state("both") == (True, "edge-1,edge-2")
    await actions.apply(change("edge-1", NORMAL, TAINTED))
    assert state("one") == (False, None)
    assert state("both") == (True, "edge-2")  # still held by edge-2
    assert state("theirs") == (True, None)  # not ours to resume
    await actions.apply(change("edge-2", NORMAL, TAINTED))
    assert state("both") == (False, None)
    assert len(kube.requests(methods=("patch",))) == patches + 4  # both, one, both, both
