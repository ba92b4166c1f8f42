"""The Argo Workflow of one execution, built with hera: a DAG of the workflow's steps.

Each step becomes a container template (image, command, args, env, resource requests), placed on its
resource's node (`nodeSelector` kubernetes.io/hostname = Resource.node or the resource id), with a
retry strategy. A step whose resource belongs to another peer is elected by Admiralty
(`multicluster.admiralty.io/elect: ""`) and constrained to that peer's cluster target: Admiralty's
`proxy-pod-scheduling-constraints` annotation requires the virtual node labelled
`multicluster.admiralty.io/cluster-target-name=<peer>`, while the pod's own nodeSelector still picks
the node inside that cluster (cluster-level constraints in addition to node-level ones).
The whole workflow may run until the execution's window ends (`activeDeadlineSeconds`). Storage
resources booked with the execution are mounted read-only at /var/run/jetflow/s3/<storage> from the
Secret the credentials feature creates (optional: it may arrive after the pod starts).
hera is imported here only: `build` is called on the dispatch path and by `jetflow render`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from engine.dispatch import c2d
from engine.dispatch.access import SERVICE_ACCOUNT
from engine.dispatch.template import Template
from engine.kube import names

if TYPE_CHECKING:
    from engine.dispatch.plan import Plan
    from schemas.catalog import Step

ENTRYPOINT = "main"
HOSTNAME = "kubernetes.io/hostname"
ADMIRALTY_ELECT = "multicluster.admiralty.io/elect"
ADMIRALTY_CONSTRAINTS = "multicluster.admiralty.io/proxy-pod-scheduling-constraints"
ADMIRALTY_CLUSTER = "multicluster.admiralty.io/cluster-target-name"
S3_MOUNTS = "/var/run/jetflow/s3"


def step_template(plan: Plan, step: Step) -> Template:
    requests = {k: v for k, v in (("cpu", step.resources.cpu), ("memory", step.resources.memory)) if v}
    return Template(
        name=step.name,
        image=step.image,
        command=list(step.command),
        args=list(step.args),
        env=dict(step.env),
        requests=requests,
        gpus=step.resources.gpu,
        node=plan.node(step),
        remote_peer=plan.remote_peer(step),
        depends=sorted(step.depends),
    )


def templates(plan: Plan) -> list[Template]:
    built = [step_template(plan, step) for step in plan.workflow.steps]
    if plan.workflow.compute_to_data is not None:
        built = c2d.wrap(plan, plan.workflow.compute_to_data, built)
    return built


def _container(plan: Plan, template: Template) -> Any:
    from hera.workflows import Container, Env, Resources, RetryStrategy
    from hera.workflows import models as m

    annotations: dict[str, str] = {}
    if template.remote_peer is not None:
        annotations[ADMIRALTY_ELECT] = ""
        constraints = {"nodeSelector": {ADMIRALTY_CLUSTER: template.remote_peer}}
        annotations[ADMIRALTY_CONSTRAINTS] = json.dumps(constraints, sort_keys=True)
    mounts = [
        m.VolumeMount(name=names.storage_secret(storage), mount_path=f"{S3_MOUNTS}/{storage}", read_only=True)
        for storage in plan.storages()
    ]
    if template.data_volume:
        mounts.append(m.VolumeMount(name=c2d.DATA_VOLUME, mount_path=c2d.DATA))
    env_from = (
        [m.EnvFromSource(secret_ref=m.SecretEnvSource(name=template.env_from_secret, optional=True))]
        if template.env_from_secret
        else None
    )
    resources = (
        Resources(
            cpu_request=template.requests.get("cpu"),
            memory_request=template.requests.get("memory"),
            gpus=template.gpus,
        )
        if template.requests or template.gpus
        else None
    )
    return Container(
        name=template.name,
        image=template.image,
        command=template.command or None,
        args=template.args or None,
        env=[Env(name=key, value=value) for key, value in sorted(template.env.items())] or None,
        env_from=env_from,
        resources=resources,
        node_selector={HOSTNAME: template.node} if template.node else None,
        annotations=annotations or None,
        labels={names.EXECUTION: names.label(plan.execution)},
        volume_mounts=mounts or None,
        retry_strategy=RetryStrategy(
            limit=plan.config.retries,
            retry_policy="OnFailure",
            backoff=m.Backoff(duration="10s", factor=m.IntOrString(2), max_duration="5m"),
        )
        if plan.config.retries
        else None,
        active_deadline_seconds=template.deadline,
    )


def build(plan: Plan) -> dict[str, Any]:
    """The Argo Workflow manifest (`argoproj.io/v1alpha1`), ready to create as a custom resource."""
    from hera.workflows import DAG, Task, Workflow
    from hera.workflows import models as m

    built = templates(plan)
    containers = [_container(plan, template) for template in built]
    dag = DAG(
        name=ENTRYPOINT,
        tasks=[
            Task(name=template.name, template=container, dependencies=template.depends or None)
            for template, container in zip(built, containers, strict=True)
        ],
    )
    volumes = [
        m.Volume(
            name=names.storage_secret(storage),
            secret=m.SecretVolumeSource(secret_name=names.storage_secret(storage), optional=True),
        )
        for storage in plan.storages()
    ]
    c2d_spec = plan.workflow.compute_to_data
    workflow = Workflow(
        api_version="argoproj.io/v1alpha1",
        kind="Workflow",
        name=plan.workflow_name,
        namespace=plan.namespace,
        labels=plan.labels() | {names.node_label(t.node): "true" for t in built if t.node},
        annotations=plan.annotations(),
        entrypoint=ENTRYPOINT,
        service_account_name=SERVICE_ACCOUNT,
        active_deadline_seconds=plan.deadline(),
        parallelism=plan.config.c2d_max_jobs if c2d_spec else None,
        pod_metadata=m.Metadata(labels={names.MANAGED_BY: names.MANAGER}),
        volumes=volumes or None,
        volume_claim_templates=[c2d.data_claim(plan)] if c2d_spec else None,
        templates=[dag, *containers],
    )
    result: dict[str, Any] = workflow.to_dict()
    return result
