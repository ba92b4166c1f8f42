"""`jetflow render` prints every manifest without a cluster; `jetflow up` falls back to a manifests folder."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import yaml
from typer.testing import CliRunner

from engine.app import DOCUMENTS
from engine.catalog.store import Catalog
from engine.cli import _without_cluster, app
from engine.core.store import Store
from engine.embedded import servers
from engine.executions.store import ExecutionRecord, insert_executions
from engine.settings import Settings
from schemas.execution import ExecutionState
from tests.support.plans import RESOURCES, TWO_CLUSTERS

if TYPE_CHECKING:
    from pathlib import Path


def _catalog(folder: Path) -> Path:
    catalog = folder / "catalog.json"
    catalog.write_text(
        json.dumps(
            {
                "resources": [r.model_dump(mode="json") for r in RESOURCES.values()],
                "workflows": [TWO_CLUSTERS.model_dump(mode="json")],
            }
        )
    )
    return catalog


def test_render_booking_file_prints_every_manifest_in_order(tmp_path: Path) -> None:
    booking = tmp_path / "booking.json"
    booking.write_text(
        json.dumps(
            {
                "id": "bk-42",
                "workflow": "alpr",
                "resources": ["node-a", "edge-b", "store"],
                "start": "2026-12-01T10:00:00Z",
                "end": "2026-12-01T11:00:00Z",
            }
        )
    )
    catalog = _catalog(tmp_path)
    result = CliRunner().invoke(app, ["render", str(booking), "--catalog", str(catalog)])
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in documents] == ["Namespace", "ServiceAccount", "Role", "RoleBinding", "Workflow"]
    assert documents[0]["metadata"]["name"] == "jf-bk-42-20261201t100000"
    assert documents[-1]["spec"]["activeDeadlineSeconds"] == 3600


def test_render_unknown_execution_without_store_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JETFLOW_MONGO_URL", raising=False)
    monkeypatch.setenv("JETFLOW_STATE_DIR", str(tmp_path))  # no `jetflow up` runs there
    result = CliRunner().invoke(app, ["render", "bk-1-20261201t100000"])
    assert result.exit_code == 2
    assert "JETFLOW_MONGO_URL" in result.output
    assert f"no `jetflow up` runs on {tmp_path}" in result.output


@pytest.mark.timeout(60)
async def test_render_an_execution_reads_the_store_of_the_jetflow_up_running_on_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README's session renders an execution of the `jetflow up` it runs against, with no URL to copy.
    monkeypatch.delenv("JETFLOW_MONGO_URL", raising=False)
    monkeypatch.setenv("JETFLOW_STATE_DIR", str(tmp_path))
    store = servers.mongo_server(tmp_path)  # as `jetflow up` starts it, recorded in <state dir>/store.pid
    await store.start()
    try:
        settings = Settings.load(_env_file=None)
        connected = await Store.connect(settings.mongo, DOCUMENTS, servers.mongo_url(store.port))
        try:
            catalog = Catalog()
            for resource in RESOURCES.values():
                await catalog.upsert(resource, 1)
            await catalog.upsert(TWO_CLUSTERS, 1)
            now = datetime.now(UTC)
            record = ExecutionRecord(
                id="bk-42-20261201t100000",
                booking="bk-42",
                workflow="alpr",
                resources=["node-a", "edge-b"],
                planned_at=now,
                window_end=now + timedelta(minutes=30),
                state=ExecutionState.DISPATCHED,
                updated_at=now,
            )
            await insert_executions([record])
        finally:
            await connected.close()
        # A step of the wall clock since the store started moves the start time psutil reports for it.
        known = json.loads((tmp_path / "store.pid").read_text())
        (tmp_path / "store.pid").write_text(json.dumps({**known, "started": known["started"] - 20}))
        result = await asyncio.to_thread(CliRunner().invoke, app, ["render", record.id])
    finally:
        await store.stop()
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    assert documents[0]["metadata"]["name"] == "jf-bk-42-20261201t100000"
    assert documents[-1]["kind"] == "Workflow"


def test_up_without_cluster_writes_manifests_to_the_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("engine.kube.connect.default_kubeconfig", lambda: tmp_path / "no-kubeconfig")
    settings = _without_cluster(Settings.load(state_dir=tmp_path, kube_in_cluster=False, _env_file=None))
    assert settings.kube.manifests_dir == tmp_path.resolve() / "manifests"
    assert "NO KUBERNETES CLUSTER FOUND" in capsys.readouterr().err
    configured = Settings.load(state_dir=tmp_path, kubeconfig=tmp_path / "kubeconfig", _env_file=None)
    assert _without_cluster(configured).kube.manifests_dir is None


def test_render_gives_a_cron_booking_without_duration_its_default_window(tmp_path: Path) -> None:
    booking = tmp_path / "booking.json"
    cron = {"id": "bk-7", "workflow": "alpr", "resources": ["node-a"], "cron": "0 * * * *"}
    booking.write_text(json.dumps({**cron, "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T18:00:00Z"}))
    catalog = _catalog(tmp_path)
    result = CliRunner().invoke(app, ["render", str(booking), "--catalog", str(catalog)])
    assert result.exit_code == 0, result.output
    workflow = list(yaml.safe_load_all(result.stdout))[-1]
    assert workflow["spec"]["activeDeadlineSeconds"] == 300  # JETFLOW_CRON_DURATION, not one cron tick
