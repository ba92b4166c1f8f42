"""`/healthz` and `/readyz` on the metrics port: liveness from the event loop's beat, readiness from the
engine's health report."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from engine.embedded.process import free_port
from engine.probes import STALL, Probes
from tests.support.polling import eventually
from tests.support.process import EngineProcess


def ask(probes: Probes, path: str) -> tuple[str, dict[str, Any]]:
    answered: list[str] = []
    body = b"".join(probes.app({"PATH_INFO": path}, lambda status, headers: answered.append(status)))  # type: ignore[arg-type]
    return answered[0], json.loads(body)


async def test_readiness_follows_the_health_report_and_names_what_is_unreachable() -> None:
    probes = Probes()
    assert ask(probes, "/readyz")[0].startswith("503")  # not started yet
    reports = iter([{"status": "degraded", "unreachable": ["store"]}, {"status": "ok", "unreachable": []}])
    current: dict[str, Any] = next(reports)

    async def health() -> dict[str, Any]:
        return current

    watching = asyncio.create_task(probes.watch(health))
    try:
        await eventually(lambda: probes.detail.get("status"), lambda status: status == "degraded")
        status, body = ask(probes, "/readyz")
        assert status.startswith("503")
        assert body == {"ready": False, "status": "degraded", "unreachable": ["store"]}
        current = next(reports)
        await eventually(lambda: probes.ready, bool, timeout=5)
        assert ask(probes, "/readyz") == ("200 OK", {"ready": True, "status": "ok", "unreachable": []})
    finally:
        watching.cancel()


def test_liveness_fails_once_the_loop_stops_beating() -> None:
    probes = Probes()
    assert ask(probes, "/healthz")[0] == "200 OK"
    probes.beat = time.monotonic() - STALL - 1
    status, body = ask(probes, "/healthz")
    assert status.startswith("503")
    assert body["alive"] is False


async def test_a_running_engine_answers_its_probes_and_metrics(nats_url: str, mongo_url: str, tmp_path: Path) -> None:
    port = free_port()
    engine = EngineProcess(
        nats_url, mongo_url, f"probes{uuid.uuid4().hex[:8]}", tmp_path / "engine.log", metrics_port=str(port)
    )
    engine.start()

    def get(path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:
            return 0, b""

    try:
        ready = await eventually(lambda: asyncio.to_thread(get, "/readyz"), lambda got: got[0] == 200, timeout=60)
        assert ready[0] == 200, ready
        assert json.loads(ready[1])["status"] == "ok"
        assert (await asyncio.to_thread(get, "/healthz"))[0] == 200
        status, metrics = await eventually(
            lambda: asyncio.to_thread(get, "/metrics"), lambda got: b"jetflow_executions{" in got[1], timeout=30
        )
        assert status == 200
        assert b'jetflow_executions{otel_scope_name="jetflow"' in metrics  # the census, counted once started
        assert b'state="scheduled"' in metrics
    finally:
        engine.stop()


def test_the_kubernetes_deployment_probes_the_metrics_port() -> None:
    import yaml

    manifests = list(yaml.safe_load_all(Path("deploy/kubernetes/jetflow.yaml").read_text()))
    deployment = next(m for m in manifests if m and m.get("kind") in {"Deployment", "StatefulSet"})
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--metrics-port" in container["args"]
    port = container["args"][container["args"].index("--metrics-port") + 1]
    assert {"name": "metrics", "containerPort": int(port)} in container["ports"]
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes == {
        "startupProbe": {"path": "/healthz", "port": "metrics"},
        "livenessProbe": {"path": "/healthz", "port": "metrics"},
        "readinessProbe": {"path": "/readyz", "port": "metrics"},
    }
