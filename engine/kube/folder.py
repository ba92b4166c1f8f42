"""`Kube` without a cluster: every manifest becomes a YAML file in a folder, nothing reaches Kubernetes.

For trying jetflow on a laptop (`jetflow up` without a kubeconfig) and for reviewing exactly what
dispatch would create. The folder mirrors the API: `<namespace or _cluster>/<kind>-<name>.yaml`; a
create of an existing file is "already exists" (False) like a 409, so replays behave as on a cluster.

Nothing ever runs, but a deadline still passes: the folder is a cluster that can run nothing, and on
such a cluster Argo fails a workflow once its `activeDeadlineSeconds` (the execution window) is over.
So a Workflow file gets the `creationTimestamp` the API server would stamp, and when its deadline has
passed, `list` and `watch` report it `Failed` with a message naming the deadline (written into its file,
so a restart sees it ended): the execution ends `timed_out` and gives its dispatch slot and claims back.
Without that, every execution would stay `dispatched` for ever and, once
`JETFLOW_DISPATCH_MAX_PER_RESOURCE` of them held a resource, nothing more would be dispatched to it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from engine.core.clock import SystemClock
from engine.kube.client import describe
from engine.kube.kinds import WORKFLOW, kind_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from pathlib import Path

    from engine.core.clock import Clock
    from engine.kube.client import Manifest

log = logging.getLogger(__name__)
_CLUSTER = "_cluster"
_WAKE = 1.0
"""Seconds the watch sleeps at most between two looks for passed deadlines (a workflow may be created
while it sleeps)."""


class FolderKube:
    def __init__(self, folder: Path, clock: Clock | None = None) -> None:
        self.folder = folder
        self._clock = clock or SystemClock()
        self._deadlines: dict[Path, datetime] = {}
        """Workflow file → when its activeDeadlineSeconds pass, for those not ended yet."""
        folder.mkdir(parents=True, exist_ok=True)
        log.warning(
            "KUBERNETES OFF: manifests are written to %s, NOTHING reaches a cluster and no workflow runs "
            "(set JETFLOW_KUBECONFIG or run in a pod to dispatch for real)",
            folder.resolve(),
        )

    def _file(self, api_version: str, kind: str, namespace: str | None, name: str) -> Path:
        spec = kind_of(api_version, kind)
        folder = self.folder / (namespace if spec.namespaced and namespace else _CLUSTER)
        return folder / f"{kind.lower()}-{name}.yaml"

    async def create(self, manifest: Mapping[str, Any]) -> bool:
        meta = manifest.get("metadata", {})
        path = self._file(manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"])
        if path.exists():  # Idempotency guard: same deterministic name, like a 409.
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = dict(manifest)
        if _is_workflow(stored):
            stamp = self._clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")  # as the API server stamps it
            stored["metadata"] = {**meta, "creationTimestamp": stamp}
        text = yaml.safe_dump(stored, sort_keys=False)
        await asyncio.to_thread(_write, path, text, secret=manifest["kind"] == "Secret")
        self._track(path, stored)
        log.info("wrote %s to %s", describe(manifest), path)
        return True

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        path = self._file(api_version, kind, namespace, name)
        if not path.exists():
            return False
        path.unlink()
        self._deadlines.pop(path, None)
        if kind == "Namespace":  # a namespace takes its objects with it, as on a cluster
            for child in sorted((self.folder / name).glob("*.yaml")):
                child.unlink()
                self._deadlines.pop(child, None)
        return True

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Manifest | None:
        path = self._file(api_version, kind, namespace, name)
        if not path.exists():
            return None
        loaded: Manifest = yaml.safe_load(path.read_text())
        return loaded

    async def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> Manifest | None:
        current = await self.get(api_version, kind, namespace, name)
        if current is None:
            return None
        merged = _merge(current, patch)
        self._file(api_version, kind, namespace, name).write_text(yaml.safe_dump(merged, sort_keys=False))
        return merged

    async def list(
        self, api_version: str, kind: str, *, label_selector: str | None = None
    ) -> tuple[list[Manifest], str | None]:
        pattern = f"*/{kind.lower()}-*.yaml"
        items = []
        for path in sorted(self.folder.glob(pattern)):
            item: Manifest = yaml.safe_load(path.read_text())
            if item.get("apiVersion") != api_version:
                continue
            self._track(path, item)
            items.append(self._finish(path) or item)
        return items, None

    async def watch(
        self,
        api_version: str,
        kind: str,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout: float = 300.0,
    ) -> AsyncIterator[Manifest]:
        """Nothing runs, so the only change is a workflow's deadline passing: a MODIFIED event each."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            now = self._clock.now()
            for path in [path for path, at in self._deadlines.items() if at <= now]:
                if (finished := self._finish(path)) is not None and finished.get("apiVersion") == api_version:
                    yield {"type": "MODIFIED", "object": finished}
            left = end - loop.time()
            if left <= 0:
                return
            upcoming = min(self._deadlines.values(), default=None)
            until = (upcoming - self._clock.now()).total_seconds() if upcoming else _WAKE
            await asyncio.sleep(max(0.0, min(left, _WAKE, until)))

    def _track(self, path: Path, manifest: Manifest) -> None:
        """Remember when a workflow not ended yet reaches its deadline."""
        if not _is_workflow(manifest) or (manifest.get("status") or {}).get("phase"):
            return
        seconds = (manifest.get("spec") or {}).get("activeDeadlineSeconds")
        created = (manifest.get("metadata") or {}).get("creationTimestamp")
        if isinstance(seconds, int) and isinstance(created, str):
            started = datetime.fromisoformat(created.replace("Z", "+00:00"))
            self._deadlines.setdefault(path, started + timedelta(seconds=seconds))

    def _finish(self, path: Path) -> Manifest | None:
        """The workflow in `path` marked failed at its deadline, if that passed (None: not yet, or gone)."""
        deadline = self._deadlines.get(path)
        if deadline is None or deadline > self._clock.now():
            return None
        del self._deadlines[path]
        if not path.exists():
            return None
        workflow: Manifest = yaml.safe_load(path.read_text())
        seconds = workflow["spec"]["activeDeadlineSeconds"]
        workflow["status"] = {
            "phase": "Failed",
            "startedAt": workflow["metadata"]["creationTimestamp"],
            "finishedAt": deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "message": f"no cluster, so nothing ran: its deadline passed (activeDeadlineSeconds {seconds}); "
            f"manifests only, in {self.folder}",
        }
        path.write_text(yaml.safe_dump(workflow, sort_keys=False))
        log.info("%s reached its deadline without a cluster: nothing ran", describe(workflow))
        return workflow

    async def close(self) -> None:
        return None


def _is_workflow(manifest: Mapping[str, Any]) -> bool:
    return (manifest.get("apiVersion"), manifest.get("kind")) == (WORKFLOW.api_version, WORKFLOW.kind)


def _merge(target: Manifest, patch: Mapping[str, Any]) -> Manifest:
    """RFC 7386 JSON merge patch: None deletes a key, dicts merge, anything else replaces."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def _write(path: Path, text: str, *, secret: bool) -> None:
    # A Secret's file holds live keys (kubectl-apply-able): readable by this user only, from the first byte.
    mode = 0o600 if secret else 0o644
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
