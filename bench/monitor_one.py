"""The original design's per-execution monitor, reduced to its essence: a process that imports the
kubernetes client and watches ONE workflow until it ends. bench_dispatch.py measures its RSS.

    python bench/monitor_one.py <kubeconfig> <namespace> <workflow>
"""

from __future__ import annotations

import sys

from kubernetes import client, config, watch


def main(kubeconfig: str, namespace: str, name: str) -> None:
    config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    api = client.CustomObjectsApi()
    print("watching", flush=True)
    for event in watch.Watch().stream(  # type: ignore[no-untyped-call]
        api.list_namespaced_custom_object,
        "argoproj.io",
        "v1alpha1",
        namespace,
        "workflows",
        field_selector=f"metadata.name={name}",
        timeout_seconds=600,
    ):
        phase = (event["object"].get("status") or {}).get("phase")
        if phase in {"Succeeded", "Failed", "Error"}:
            return


if __name__ == "__main__":
    main(*sys.argv[1:4])
