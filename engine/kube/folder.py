"""`Kube` without a cluster: every manifest becomes a YAML file in a folder, nothing reaches Kubernetes.

For trying jetflow on a laptop (`jetflow up` without a kubeconfig) and for reviewing exactly what
dispatch would create. The folder mirrors the API: `<namespace or _cluster>/<kind>-<name>.yaml`; a
create of an existing file is "already exists" (False) like a 409, so replays behave as on a cluster.
Nothing ever runs, so the watch yields no event: executions stay `dispatched`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from engine.kube.client import describe
from engine.kube.kinds import kind_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from pathlib import Path

    from engine.kube.client import Manifest

log = logging.getLogger(__name__)
_CLUSTER = "_cluster"


class FolderKube:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
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
        text = yaml.safe_dump(dict(manifest), sort_keys=False)
        await asyncio.to_thread(_write, path, text, secret=manifest["kind"] == "Secret")
        log.info("wrote %s to %s", describe(manifest), path)
        return True

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        path = self._file(api_version, kind, namespace, name)
        if not path.exists():
            return False
        path.unlink()
        if kind == "Namespace":  # a namespace takes its objects with it, as on a cluster
            for child in sorted((self.folder / name).glob("*.yaml")):
                child.unlink()
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
        items = [yaml.safe_load(path.read_text()) for path in sorted(self.folder.glob(pattern))]
        return [item for item in items if item.get("apiVersion") == api_version], None

    async def watch(
        self,
        api_version: str,
        kind: str,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout: float = 300.0,
    ) -> AsyncIterator[Manifest]:
        await asyncio.sleep(timeout)  # nothing ever changes without a cluster
        nothing: list[Manifest] = []
        for event in nothing:
            yield event

    async def close(self) -> None:
        return None


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
