"""Several Kubernetes clusters in one test (one kmock per peer), or the real one for all of them.

The `kube` fixture of tests/support/kube.py gives one cluster; a federation test needs one per peer.
Requires the `_namespaces_are_objects` fixture (kmock's namespace path patch) to be active.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from engine.kube.connect import connect
from engine.kube.kinds import KINDS
from engine.settings import Settings
from tests import servers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.support.kube import KubeHarness


@asynccontextmanager
async def cluster(config: Path) -> AsyncIterator[KubeHarness]:
    """A kmock cluster whose kubeconfig is written to `config` (in an existing folder), or the real one."""
    # Imported here: tests/support/kube.py is a pytest plugin, which must not be imported before pytest loads it.
    from tests.support.kube import KubeHarness, kubeconfig

    if servers.EXTERNAL_KUBECONFIG:
        settings = Settings(kubeconfig=Path(servers.EXTERNAL_KUBECONFIG), _env_file=None)
        emulator = None
        client = await connect(settings)
        assert client is not None
        try:
            yield KubeHarness(client, settings, emulator)
        finally:
            await client.close()
        return

    import kmock

    async with kmock.KubernetesEmulator() as emu, kmock.Server(emu) as server:
        for spec in KINDS.values():
            group, _, version = spec.api_version.rpartition("/")
            emu.resources[kmock.resource(group, version, spec.plural)] = kmock.ResourceInfo(
                kind=spec.kind, namespaced=spec.namespaced
            )
        settings = Settings(kubeconfig=kubeconfig(config, str(server.url).rstrip("/")), _env_file=None)
        client = await connect(settings)
        assert client is not None
        try:
            yield KubeHarness(client, settings, emu)
        finally:
            await client.close()
