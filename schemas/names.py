"""Names that end up inside other systems, checked where they enter jetflow.

Resource, workflow, step and booking names become Kubernetes namespaces, labels and object names;
bucket names go to S3. Refusing a bad name when the message arrives gives the sender a clear reason,
instead of a failed dispatch hours later when the execution fires.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

KUBE_NAME_MAX = 63
_KUBE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_KUBE_CHARS = re.compile(r"[^-a-z0-9]")

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4 = re.compile(r"\d+\.\d+\.\d+\.\d+")


def _kube_name(value: str) -> str:
    if _KUBE_NAME.fullmatch(value) and len(value) <= KUBE_NAME_MAX:
        return value
    if not value:
        problem = "it is empty"
    elif len(value) > KUBE_NAME_MAX:
        problem = f"it has {len(value)} characters, at most {KUBE_NAME_MAX} are allowed"
    elif bad := dict.fromkeys(_KUBE_CHARS.findall(value)):
        shown = ", ".join(map(repr, bad))
        problem = f"it contains {shown}; only lowercase letters, digits and '-' are allowed"
    else:
        problem = "it must start and end with a lowercase letter or digit"
    raise ValueError(f"{value!r} is not a valid Kubernetes name: {problem}")


def _bucket_name(value: str) -> str:
    if not _BUCKET.fullmatch(value) or ".." in value or _IPV4.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid bucket name: use 3 to 63 lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit, without '..', and not shaped like an IP address"
        )
    return value


#: A DNS-1123 label, as Kubernetes requires for namespaces, label values and most object names.
KubeName = Annotated[
    str,
    AfterValidator(_kube_name),
    WithJsonSchema({"type": "string", "pattern": f"^{_KUBE_NAME.pattern}$", "maxLength": KUBE_NAME_MAX}),
]

#: An S3 bucket name (the subset MinIO and AWS both accept).
BucketName = Annotated[
    str,
    AfterValidator(_bucket_name),
    WithJsonSchema({"type": "string", "pattern": f"^{_BUCKET.pattern}$", "minLength": 3, "maxLength": 63}),
]
