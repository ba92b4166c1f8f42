"""The inline session policy sent with AssumeRole: the keys can reach one bucket/prefix, nothing else.

Pure (values in, a policy document out) so every access mode is table-tested without a server. The
session policy intersects with the role's own policy, so it can only narrow what the role allows.
A prefix is literal: '*' and '?' would widen the grant (IAM wildcards), so they are refused.
"""

from __future__ import annotations

import json
from typing import Any, Literal

type Access = Literal["read", "write", "read-write"]

READ_OBJECT = ("s3:GetObject",)
WRITE_OBJECT = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
READ_BUCKET = ("s3:ListBucket",)
WRITE_BUCKET = ("s3:ListBucketMultipartUploads",)
ANY_BUCKET = ("s3:GetBucketLocation",)


class PolicyError(ValueError):
    """The requested scope cannot be expressed safely."""


def normalise_prefix(prefix: str) -> str:
    """A key prefix as the policy uses it: no leading '/', no IAM wildcard, no '..' segment."""
    if any(c in prefix for c in "*?$"):
        raise PolicyError(f"prefix {prefix!r} may not contain '*', '?' or '$' (they widen an IAM policy)")
    cleaned = prefix.lstrip("/")
    if ".." in cleaned.split("/"):
        raise PolicyError(f"prefix {prefix!r} may not contain a '..' segment")
    return cleaned


def session_policy(bucket: str, prefix: str, access: Access) -> dict[str, Any]:
    """The IAM policy document limiting keys to `bucket/prefix` with `access`."""
    key_prefix = normalise_prefix(prefix)
    objects = f"arn:aws:s3:::{bucket}/{key_prefix}*"
    bucket_arn = f"arn:aws:s3:::{bucket}"
    reads, writes = access in ("read", "read-write"), access in ("write", "read-write")
    object_actions = (READ_OBJECT if reads else ()) + (WRITE_OBJECT if writes else ())
    bucket_actions = (READ_BUCKET if reads else ()) + (WRITE_BUCKET if writes else ())
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": list(object_actions), "Resource": [objects]},
        {"Effect": "Allow", "Action": list(ANY_BUCKET), "Resource": [bucket_arn]},
    ]
    listing: dict[str, Any] = {"Effect": "Allow", "Action": list(bucket_actions), "Resource": [bucket_arn]}
    if key_prefix:
        # Listing is a bucket-level action: without the condition the keys could list the whole bucket.
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{key_prefix}*"]}}
    statements.append(listing)
    return {"Version": "2012-10-17", "Statement": statements}


def policy_json(bucket: str, prefix: str, access: Access) -> str:
    """`session_policy` as the compact JSON AssumeRole takes (its size is limited to 2048 bytes)."""
    return json.dumps(session_policy(bucket, prefix, access), separators=(",", ":"), sort_keys=True)
