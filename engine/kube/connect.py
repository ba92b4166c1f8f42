"""Choosing how jetflow reaches Kubernetes, once, at start: a folder, in-cluster, or a kubeconfig.

Order: `manifests_dir` set → the folder (no cluster, said loudly); `kubeconfig` set → that file;
running in a pod (`kube_in_cluster`, detected from the mounted service-account token) → in-cluster;
the kubernetes client's default file (~/.kube/config, $KUBECONFIG) exists → that file.
Nothing found → None: the caller decides (`jetflow up` falls back to a folder, `jetflow run` disables
dispatch with a warning).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from engine.core.settings import KubeSettings
    from engine.kube.client import Kube

log = logging.getLogger(__name__)
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True, slots=True)
class Target:
    mode: Literal["folder", "kubeconfig", "in-cluster"]
    path: Path | None = None


def default_kubeconfig() -> Path:
    """kubectl's default file: the first of $KUBECONFIG, else ~/.kube/config.

    The kubernetes client holds the same default (`kube_config.KUBE_CONFIG_DEFAULT_LOCATION`, checked equal in
    tests/test_kube_client.py), but importing it loads the whole asyncio client (13 MiB, seconds of CPU)
    into an engine that may never talk to a cluster (`jetflow up` without one writes to a folder).
    """
    first = (os.environ.get("KUBECONFIG") or "~/.kube/config").split(os.pathsep)[0]
    return Path(first).expanduser()


def target(settings: KubeSettings) -> Target | None:
    if settings.manifests_dir is not None:
        return Target("folder", settings.manifests_dir)
    if settings.kubeconfig is not None:
        return Target("kubeconfig", settings.kubeconfig)
    in_cluster = settings.in_cluster
    if in_cluster is None:
        in_cluster = SERVICE_ACCOUNT_TOKEN.exists()
    if in_cluster:
        return Target("in-cluster")
    if (default := default_kubeconfig()).is_file():
        return Target("kubeconfig", default)
    return None


async def connect(settings: KubeSettings) -> Kube | None:
    """The configured client, or None when no cluster is configured (see the module docstring)."""
    chosen = target(settings)
    if chosen is None:
        return None
    if chosen.mode == "folder":
        from engine.kube.folder import FolderKube

        assert chosen.path is not None
        return FolderKube(chosen.path)

    from kubernetes.aio.client import ApiClient, Configuration
    from kubernetes.aio.config import load_incluster_config, load_kube_config

    from engine.kube.client import ApiKube

    configuration = type.__call__(Configuration)  # a private copy, never the process-wide default
    if chosen.mode == "in-cluster":
        load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        await load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(chosen.path), context=settings.context, client_configuration=configuration
        )
    log.info("Kubernetes: %s %s", chosen.mode, chosen.path or "")
    return ApiKube(ApiClient(configuration=configuration), timeout=settings.timeout)
