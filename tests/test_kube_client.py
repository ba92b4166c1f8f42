"""The Kubernetes client against kmock (or a real cluster with JETFLOW_TEST_KUBECONFIG): create is
idempotent (409 = done), delete tolerates 404, get/patch/list/watch address core and custom objects."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from engine.core.errors import PermanentError
from engine.dispatch.phases import outcome, phase
from engine.kube.folder import FolderKube
from engine.kube.kinds import kind_of
from schemas.execution import ExecutionState

if TYPE_CHECKING:
    from tests.support.kube import KubeHarness


def _namespace(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"t": "1"}}}


def _secret(namespace: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s3-store", "namespace": namespace},
        "stringData": {"AWS_ACCESS_KEY_ID": "k"},
    }


async def test_create_twice_is_created_then_done(kube: KubeHarness) -> None:
    ns = f"jf-t-{uuid.uuid4().hex[:6]}"
    try:
        assert await kube.client.create(_namespace(ns)) is True
        assert await kube.client.create(_namespace(ns)) is False
        assert await kube.client.create(_secret(ns)) is True
        assert await kube.client.create(_secret(ns)) is False
        secret = await kube.client.get("v1", "Secret", ns, "s3-store")
        assert secret is not None
        assert secret["metadata"]["name"] == "s3-store"
        if kube.emulator is not None:
            assert kube.requests() == [
                ("POST", "/api/v1/namespaces"),
                ("POST", "/api/v1/namespaces"),
                ("POST", f"/api/v1/namespaces/{ns}/secrets"),
                ("POST", f"/api/v1/namespaces/{ns}/secrets"),
            ]
            assert kube.object("v1", "Namespace", None, ns) is not None
    finally:
        await kube.client.delete("v1", "Namespace", None, ns)


async def test_delete_tolerates_already_gone_and_patch_merges(kube: KubeHarness) -> None:
    ns = f"jf-t-{uuid.uuid4().hex[:6]}"
    assert await kube.client.create(_namespace(ns)) is True
    patched = await kube.client.patch("v1", "Namespace", None, ns, {"metadata": {"labels": {"extra": "yes"}}})
    assert patched is not None
    assert patched["metadata"]["labels"]["extra"] == "yes"
    assert await kube.client.delete("v1", "Namespace", None, ns) is True
    if kube.emulator is not None:  # a real namespace terminates for a while before it is gone
        assert await kube.client.delete("v1", "Namespace", None, ns) is False
        assert await kube.client.get("v1", "Namespace", None, ns) is None
        assert await kube.client.patch("v1", "Namespace", None, ns, {"metadata": {}}) is None


async def test_workflow_custom_resource_listed_and_watched_by_label(kube: KubeHarness) -> None:
    ns = f"jf-t-{uuid.uuid4().hex[:6]}"
    await kube.client.create(_namespace(ns))
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "jf-w", "namespace": ns, "labels": {"app.kubernetes.io/managed-by": "jetflow"}},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "alpine:3.20"}}]},
    }
    try:
        assert await kube.client.create(workflow) is True
        items, _ = await kube.client.list(
            "argoproj.io/v1alpha1", "Workflow", label_selector="app.kubernetes.io/managed-by=jetflow"
        )
        assert ("jf-w", ns) in {(i["metadata"]["name"], i["metadata"]["namespace"]) for i in items}
        stream = kube.client.watch(
            "argoproj.io/v1alpha1", "Workflow", label_selector="app.kubernetes.io/managed-by=jetflow", timeout=5
        )
        first = await asyncio.wait_for(anext(aiter(stream)), 5)
        assert first["type"] == "ADDED"
        assert first["object"]["metadata"]["name"] == "jf-w"
        await stream.aclose()  # type: ignore[attr-defined]
    finally:
        await kube.client.delete("v1", "Namespace", None, ns)


async def test_unknown_kind_and_missing_namespace_are_permanent(kube: KubeHarness) -> None:
    with pytest.raises(PermanentError, match="does not handle"):
        await kube.client.create({"apiVersion": "v1", "kind": "Gizmo", "metadata": {"name": "x"}})
    with pytest.raises(PermanentError, match=r"needs metadata\.namespace"):
        await kube.client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})
    assert kind_of("rbac.authorization.k8s.io/v1", "Role").path("ns", "r") == (
        "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles/r"
    )


async def test_folder_mode_writes_yaml_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = FolderKube(tmp_path / "manifests")
    assert "NOTHING reaches a cluster" in caplog.text
    assert await folder.create(_namespace("jf-a")) is True
    assert await folder.create(_secret("jf-a")) is True
    assert await folder.create(_secret("jf-a")) is False
    secret = tmp_path / "manifests" / "jf-a" / "secret-s3-store.yaml"
    assert secret.read_text().startswith("apiVersion: v1")
    assert secret.stat().st_mode & 0o777 == 0o600  # live keys: this user only
    assert (tmp_path / "manifests" / "_cluster" / "namespace-jf-a.yaml").stat().st_mode & 0o077 != 0
    assert await folder.delete("v1", "Namespace", None, "jf-a") is True
    assert not (tmp_path / "manifests" / "jf-a" / "secret-s3-store.yaml").exists()
    assert await folder.delete("v1", "Namespace", None, "jf-a") is False


def _workflow(namespace: str, deadline: int) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": namespace, "namespace": namespace},
        "spec": {"activeDeadlineSeconds": deadline, "entrypoint": "main"},
    }


@pytest.mark.timeout(30)
async def test_folder_mode_fails_a_workflow_at_its_deadline_as_a_cluster_that_runs_nothing(tmp_path: Path) -> None:
    # Otherwise executions stay `dispatched` for ever and hold their resource's dispatch slots.
    folder = FolderKube(tmp_path / "manifests")
    assert await folder.create(_workflow("jf-short", 1)) is True
    assert await folder.create(_workflow("jf-long", 3600)) is True
    events = [event async for event in folder.watch("argoproj.io/v1alpha1", "Workflow", timeout=3)]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("MODIFIED", "jf-short")]
    state, reason = outcome(events[0]["object"]) or (None, "")
    assert state is ExecutionState.TIMED_OUT
    assert "nothing ran" in reason
    assert "activeDeadlineSeconds 1" in reason
    # Written down: after a restart the ended one is listed ended, the other is still waiting.
    items, _ = await FolderKube(tmp_path / "manifests").list("argoproj.io/v1alpha1", "Workflow")
    assert {item["metadata"]["name"]: phase(item) for item in items} == {"jf-long": "", "jf-short": "Failed"}


@pytest.mark.timeout(30)
async def test_folder_mode_lists_a_workflow_whose_deadline_passed_while_nothing_watched(tmp_path: Path) -> None:
    await FolderKube(tmp_path / "manifests").create(_workflow("jf-gone-by", 1))
    await asyncio.sleep(1.2)  # the engine was stopped meanwhile
    restarted = FolderKube(tmp_path / "manifests")
    (item,), _ = await restarted.list("argoproj.io/v1alpha1", "Workflow")
    assert phase(item) == "Failed"
    assert (outcome(item) or (None, ""))[0] is ExecutionState.TIMED_OUT
    assert [e async for e in restarted.watch("argoproj.io/v1alpha1", "Workflow", timeout=1.5)] == []  # once
    assert await restarted.delete("argoproj.io/v1alpha1", "Workflow", "jf-gone-by", "jf-gone-by") is True


@pytest.mark.parametrize("kubeconfig", [None, "/etc/jetflow/one:/etc/jetflow/two"])
def test_the_default_kubeconfig_is_the_kubernetes_clients_own(kubeconfig: str | None) -> None:
    # engine/kube/connect.py reads kubectl's default itself (no import of the client at start): it must stay
    # the one the kubernetes client computes, in a process started with the same environment.
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | (
        {"KUBECONFIG": kubeconfig} if kubeconfig else {}
    )
    probe = (
        "from pathlib import Path\n"
        "from kubernetes.aio.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION as d\n"
        "from engine.kube.connect import default_kubeconfig\n"
        "print(default_kubeconfig() == Path(str(d).split(':')[0]).expanduser(), default_kubeconfig())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split()[0] == "True", done.stdout
    expected = "/etc/jetflow/one" if kubeconfig else str(Path("~/.kube/config").expanduser())
    assert done.stdout.split()[1] == expected
