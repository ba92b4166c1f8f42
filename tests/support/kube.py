"""A Kubernetes API for tests: kmock (a real HTTP server speaking the Kubernetes API) or a real cluster.

`kube` yields a `KubeHarness`: the engine's own `Kube` client connected through a kubeconfig file
(the same path as production), the settings pointing at it, and the kmock emulator for assertions
(None against a real cluster: set JETFLOW_TEST_KUBECONFIG, and tests skip their kmock-only checks).

kmock 0.8 cannot parse `/api/v1/namespaces[/<name>]` (it reads "namespaces" as the start of a
namespaced path and crashes with 500); `_namespaces_are_objects` teaches its parser that those
two shapes address the cluster-scoped Namespace resource.
"""

from __future__ import annotations

import contextlib
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from engine.kube.connect import connect
from engine.kube.kinds import KINDS
from engine.settings import Settings
from tests import servers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from engine.kube.client import Kube


@dataclass
class KubeHarness:
    client: Kube
    settings: Settings
    """Only the Kubernetes fields; merge into a test's own settings with `with_kube`."""
    emulator: Any | None  # kmock.KubernetesEmulator; None against a real cluster

    def with_kube(self, settings: Settings) -> Settings:
        return settings.replace(kubeconfig=self.settings.kube.kubeconfig, manifests_dir=None)

    def requests(self, *, methods: tuple[str, ...] = ("post", "patch", "delete")) -> list[tuple[str, str]]:
        """(METHOD, path) of every recorded request with one of `methods`, in order (kmock only)."""
        assert self.emulator is not None
        wanted = {m.upper() for m in methods}
        return [
            (r.method.value, r.url.path)
            for r in self.emulator
            if r.method.value in wanted and r.url.path.startswith("/api")
        ]

    def object(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The emulator's stored object, or None (kmock only)."""
        assert self.emulator is not None
        import kmock

        spec = KINDS[api_version, kind]
        group, _, version = api_version.rpartition("/")
        key = (kmock.resource(group, version, spec.plural), namespace if spec.namespaced else None, name)
        if key not in self.emulator.objects or self.emulator.objects[key].deleted:
            return None
        raw: dict[str, Any] = self.emulator.objects[key].raw
        return raw


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kmock", "cluster": {"server": server}}],
                "users": [{"name": "test", "user": {"token": "test"}}],
                "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "test"}}],
                "current-context": "kmock",
            }
        )
    )
    return path


def namespace_aware_parser() -> Any:
    """kmock's path parser, taught that /api/v1/namespaces[/<name>] is the Namespace resource."""
    from kmock._internal import parsing

    original = parsing.parse_path

    def parse_path(path: str) -> Any:
        parts = path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4:
            return parsing.ParsedPath("", "v1", "namespaces", None, parts[3] if len(parts) == 4 else None, None)
        return original(path)

    return parse_path


def declare_kinds(emulator: Any) -> None:
    """Every kind jetflow handles, discoverable and listable before its first object exists."""
    import kmock

    for spec in KINDS.values():
        group, _, version = spec.api_version.rpartition("/")
        emulator.resources[kmock.resource(group, version, spec.plural)] = kmock.ResourceInfo(
            kind=spec.kind, namespaced=spec.namespaced
        )


@pytest.fixture
def _namespaces_are_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    from kmock._internal import parsing

    monkeypatch.setattr(parsing, "parse_path", namespace_aware_parser())


@asynccontextmanager
async def cluster(config: Path) -> AsyncIterator[KubeHarness]:
    """A kmock cluster whose kubeconfig is written to `config`, or the real one (JETFLOW_TEST_KUBECONFIG).

    Needs the `_namespaces_are_objects` fixture (kmock's namespace path patch) to be active. A federation test
    enters one per peer; most tests use the `kube` fixture.
    """
    if servers.EXTERNAL_KUBECONFIG:
        settings = Settings.load(kubeconfig=Path(servers.EXTERNAL_KUBECONFIG), _env_file=None)
        client = await connect(settings.kube)
        assert client is not None
        try:
            yield KubeHarness(client, settings, None)
        finally:
            await client.close()
        return

    import kmock

    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
        declare_kinds(emulator)
        settings = Settings.load(kubeconfig=kubeconfig(config, str(server.url).rstrip("/")), _env_file=None)
        client = await connect(settings.kube)
        assert client is not None
        try:
            yield KubeHarness(client, settings, emulator)
        finally:
            await client.close()


@pytest.fixture
async def kube(tmp_path: Path, _namespaces_are_objects: None) -> AsyncIterator[KubeHarness]:
    async with cluster(tmp_path / "kubeconfig") as harness:
        yield harness


@asynccontextmanager
async def hosting_peer(nats_url: str, peer_id: str, folder: Path) -> AsyncIterator[KubeHarness | None]:
    """Another peer whose cluster runs the remote steps of federated workflows: what its jetflow answers
    on `jetflow.peer.<peer_id>.namespace.prepare|release`, on its own kmock cluster (yielded). Against a
    real cluster (which cannot play two) its objects go to a folder in `folder`, and None is yielded.
    Needs the `_namespaces_are_objects` fixture."""
    import nats

    from engine.dispatch.remote import NamespaceHost, host_namespaces
    from engine.kube.folder import FolderKube

    async with contextlib.AsyncExitStack() as stack:
        harness = (
            None
            if servers.EXTERNAL_KUBECONFIG
            else await stack.enter_async_context(cluster(folder / f"{peer_id}.kubeconfig"))
        )
        host = NamespaceHost(peer_id, harness.client if harness else FolderKube(folder / f"{peer_id}-manifests"))
        nc = await nats.connect(nats_url)
        stack.push_async_callback(nc.close)
        await host_namespaces(nc, host)
        yield harness
