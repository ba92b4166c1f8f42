"""The built-in compute-to-data template: fetch inputs from S3, run the algorithm, publish the outputs.

Like the compute-to-data operator: a `configure` task copies the inputs from the inputs storage to a
volume shared by every step (/data/inputs), the workflow's own steps run on it (the algorithm,
each bounded by `c2d_max_job_duration`), and a `publish` task uploads /data/outputs to the outputs
storage. `c2d_max_jobs` bounds how many of the execution's pods run at once (Argo `parallelism`).
The S3 endpoint, bucket, prefix and keys come from the storage's credential Secret as environment
variables (names in engine/kube/names.py), so the template never holds a secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.dispatch.template import Template
from engine.kube import names

if TYPE_CHECKING:
    from engine.dispatch.plan import Plan
    from schemas.catalog import ComputeToData

DATA = "/data"
DATA_VOLUME = "data"
CONFIGURE = "configure"
PUBLISH = "publish"


def _s3_url(prefix: str) -> str:
    return f"s3://${{{names.S3_BUCKET}}}/${{{names.S3_PREFIX}}}{prefix}"


def wrap(plan: Plan, spec: ComputeToData, steps: list[Template]) -> list[Template]:
    first = {step.name for step in steps if not step.depends}
    depended = {dep for step in steps for dep in step.depends}
    last = sorted(step.name for step in steps if step.name not in depended)
    for step in steps:
        step.data_volume = True
        step.deadline = plan.config.c2d_max_job_duration
        if step.name in first:
            step.depends = [CONFIGURE]
    endpoint = f"--endpoint-url ${{{names.S3_ENDPOINT}}}"
    node = next((step.node for step in steps if step.node), None)
    configure = Template(
        name=CONFIGURE,
        image=plan.config.c2d_image,
        command=["sh", "-c"],
        args=[
            f"mkdir -p {DATA}/inputs {DATA}/outputs && "
            f"aws s3 cp --recursive {endpoint} {_s3_url(spec.input_prefix)} {DATA}/inputs"
        ],
        env_from_secret=names.storage_secret(spec.inputs),
        node=node,
        data_volume=True,
    )
    publish = Template(
        name=PUBLISH,
        image=plan.config.c2d_image,
        command=["sh", "-c"],
        args=[f"aws s3 cp --recursive {endpoint} {DATA}/outputs {_s3_url(spec.output_prefix)}"],
        env_from_secret=names.storage_secret(spec.outputs),
        node=node,
        depends=last,
        data_volume=True,
    )
    return [configure, *steps, publish]


def data_claim(plan: Plan) -> Any:
    """The volume shared by the steps; ReadWriteOnce is enough because they run on one node."""
    from hera.workflows import models as m

    return m.PersistentVolumeClaim(
        metadata=m.ObjectMeta(name=DATA_VOLUME),
        spec=m.PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=m.VolumeResourceRequirements(requests={"storage": m.Quantity(plan.config.c2d_volume_size)}),
        ),
    )
