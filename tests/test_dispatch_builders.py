"""Pure builders: golden YAML (regenerated only with JETFLOW_REGEN_GOLDEN=1), core objects valid for
Kubernetes 1.37 (kubernetes-validate, strict), the Workflow valid against hera's Argo models, and the
Admiralty annotation exactly on the steps that run on another cluster."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from engine.dispatch import access
from engine.dispatch.manifests import manifests
from engine.dispatch.workflow import ADMIRALTY_CONSTRAINTS, ADMIRALTY_ELECT, HOSTNAME
from schemas.catalog import Workflow
from tests.support.plans import TWO_CLUSTERS, two_cluster_plan

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("JETFLOW_REGEN_GOLDEN") == "1"

C2D = Workflow.model_validate(
    {
        "id": "c2d",
        "steps": [{"name": "algorithm", "image": "python:3.13-slim", "command": ["python", "/algo.py"]}],
        "compute_to_data": {"inputs": "store", "outputs": "store"},
    }
)


def _check_golden(name: str, documents: list[dict[str, Any]]) -> None:
    text = yaml.safe_dump_all(documents, sort_keys=False)
    path = GOLDEN / name
    if REGEN:
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with JETFLOW_REGEN_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{name} changed: review, then regenerate with JETFLOW_REGEN_GOLDEN=1"


def _templates(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in workflow["spec"]["templates"]}


def _validate(documents: list[dict[str, Any]]) -> None:
    from hera.workflows import models as m

    for document in documents:
        if document["kind"] == "Workflow":
            model = m.Workflow.model_validate(document)
            # Round trip through hera's Argo models: a misspelled or unknown field would be dropped.
            assert model.model_dump(by_alias=True, exclude_none=True, mode="json") == document
        else:
            kubernetes_validate.validate(document, "1.37.0", strict=True)


def test_two_cluster_workflow_matches_golden_and_validates() -> None:
    documents = manifests(two_cluster_plan())
    _check_golden("two-clusters.yaml", documents)
    _validate(documents)
    namespace, *_, workflow = documents
    assert namespace["metadata"]["labels"][access.ADMIRALTY_NAMESPACE_LABEL] == "enabled"
    templates = _templates(workflow)
    elected = {name for name, t in templates.items() if ADMIRALTY_ELECT in t.get("metadata", {}).get("annotations", {})}
    assert elected == {"recognise"}
    assert "peer-b" in templates["recognise"]["metadata"]["annotations"][ADMIRALTY_CONSTRAINTS]
    assert templates["recognise"]["nodeSelector"] == {HOSTNAME: "edge-node-1"}
    assert templates["detect"]["nodeSelector"] == {HOSTNAME: "node-a"}
    assert workflow["spec"]["activeDeadlineSeconds"] == 3600
    tasks = {t["name"]: t.get("dependencies", []) for t in templates["main"]["dag"]["tasks"]}
    assert tasks == {"detect": [], "recognise": ["detect"], "report": ["recognise"]}


def test_single_cluster_has_no_admiralty_and_deadline_counts_from_late_start() -> None:
    local_only = TWO_CLUSTERS.model_copy(
        update={"steps": [s.model_copy(update={"resource": "node-a"}) for s in TWO_CLUSTERS.steps]}
    )
    plan = two_cluster_plan(workflow=local_only)
    plan = replace(plan, now=plan.planned_at + timedelta(minutes=10))
    namespace, *_, workflow = manifests(plan)
    assert access.ADMIRALTY_NAMESPACE_LABEL not in namespace["metadata"]["labels"]
    assert all(ADMIRALTY_ELECT not in yaml.safe_dump(t) for t in workflow["spec"]["templates"])
    assert workflow["spec"]["activeDeadlineSeconds"] == 3000


def test_compute_to_data_template_matches_golden() -> None:
    documents = manifests(two_cluster_plan("c2d-1", workflow=C2D))
    _check_golden("compute-to-data.yaml", documents)
    _validate(documents)
    workflow = documents[-1]
    templates = _templates(workflow)
    tasks = {t["name"]: t.get("dependencies", []) for t in templates["main"]["dag"]["tasks"]}
    assert tasks == {"configure": [], "algorithm": ["configure"], "publish": ["algorithm"]}
    assert templates["algorithm"]["activeDeadlineSeconds"] == 3600
    assert workflow["spec"]["parallelism"] == 1
    assert templates["configure"]["container"]["envFrom"] == [{"secretRef": {"name": "s3-store", "optional": True}}]


def test_reserved_step_names_are_refused_with_compute_to_data() -> None:
    with pytest.raises(ValueError, match="reserved by compute_to_data"):
        Workflow.model_validate(
            {
                "id": "bad",
                "steps": [{"name": "publish", "image": "alpine"}],
                "compute_to_data": {"inputs": "store", "outputs": "store"},
            }
        )
