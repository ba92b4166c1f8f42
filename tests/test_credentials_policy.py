"""The pure parts of storage credentials: the session policy, durations, sealing, the Secret."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import SecretStr

from engine.credentials.policy import PolicyError, policy_json, session_policy
from engine.credentials.sealing import PeerKey, SealError, generate_private_key, public_key_of, seal
from engine.credentials.secret import secret_manifest, secret_values
from engine.credentials.sts import MIN_DURATION, StorageKeys, duration_for, session_name
from engine.kube import names
from engine.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from engine.credentials.policy import Access

READ = ["s3:GetObject"]
WRITE = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]


@pytest.mark.parametrize(
    ("access", "prefix", "objects", "object_actions", "bucket_actions", "condition"),
    [
        ("read", "", "arn:aws:s3:::data/*", READ, ["s3:ListBucket"], None),
        ("write", "", "arn:aws:s3:::data/*", WRITE, ["s3:ListBucketMultipartUploads"], None),
        (
            "read-write",
            "",
            "arn:aws:s3:::data/*",
            READ + WRITE,
            ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
            None,
        ),
        ("read", "in/", "arn:aws:s3:::data/in/*", READ, ["s3:ListBucket"], ["in/*"]),
        (
            "read-write",
            "/runs/r1/",
            "arn:aws:s3:::data/runs/r1/*",
            READ + WRITE,
            ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
            ["runs/r1/*"],
        ),
    ],
)
def test_session_policy_grants_exactly_the_bucket_prefix_and_access(
    access: Access,
    prefix: str,
    objects: str,
    object_actions: list[str],
    bucket_actions: list[str],
    condition: list[str] | None,
) -> None:
    policy = session_policy("data", prefix, access)
    statements = policy["Statement"]
    assert policy["Version"] == "2012-10-17"
    assert all(s["Effect"] == "Allow" for s in statements)
    by_resource: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        for resource in statement["Resource"]:
            by_resource.setdefault(resource, []).append(statement)
    assert set(by_resource) == {objects, "arn:aws:s3:::data"}
    assert [s["Action"] for s in by_resource[objects]] == [object_actions]
    bucket_level = by_resource["arn:aws:s3:::data"]
    assert sorted(a for s in bucket_level for a in s["Action"]) == sorted([*bucket_actions, "s3:GetBucketLocation"])
    listing = next(s for s in bucket_level if bucket_actions[0] in s["Action"])
    assert listing.get("Condition", {}).get("StringLike", {}).get("s3:prefix") == condition
    assert json.loads(policy_json("data", prefix, access)) == policy
    assert len(policy_json("data", prefix, access)) < 2048  # AssumeRole's limit for an inline policy


@pytest.mark.parametrize("prefix", ["in/*", "a?b", "../other", "x/../../y", "${aws:username}"])
def test_prefixes_that_would_widen_the_policy_are_refused(prefix: str) -> None:
    with pytest.raises(PolicyError):
        session_policy("data", prefix, "read")


NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires_in", "maximum", "expected"),
    [
        (timedelta(minutes=5), 43200, MIN_DURATION),  # STS's floor: keys may outlive a short window
        (timedelta(hours=2, seconds=0.2), 43200, 7201),  # rounded up, never short
        (timedelta(days=3), 43200, 43200),  # capped; the event reports the real expiry
    ],
)
def test_duration_reaches_the_expiry_within_sts_bounds(expires_in: timedelta, maximum: float, expected: int) -> None:
    assert duration_for(NOW + expires_in, NOW, maximum) == expected


def test_session_name_is_a_valid_role_session_name() -> None:
    assert session_name("bk-1-20261201t100000:credential:minio") == "bk-1-20261201t100000-credential-minio"
    assert len(session_name("x" * 200)) == 64
    assert session_name("a") == "a-"


def test_keys_never_show_their_values() -> None:
    keys = StorageKeys("AKIA-VISIBLE", "very-secret", "token-secret", NOW)
    assert "very-secret" not in repr(keys)
    assert "AKIA-VISIBLE" not in repr(keys)
    assert "token-secret" not in repr(keys)


def test_sealed_keys_open_only_with_the_recipients_private_key(tmp_path: Path) -> None:
    private = generate_private_key()
    recipient = PeerKey(Settings.load(peer_private_key=SecretStr(private), state_dir=tmp_path, _env_file=None).peer)
    assert recipient.public_key == public_key_of(private)
    sealed = seal(recipient.public_key, b"the keys")
    assert b"the keys" not in base64.b64decode(sealed)
    assert recipient.open(sealed) == b"the keys"

    other = PeerKey(Settings.load(state_dir=tmp_path, _env_file=None).peer)  # generated into the state dir
    with pytest.raises(SealError):
        other.open(sealed)
    assert (tmp_path / "peer.key").stat().st_mode & 0o777 == 0o600
    again = PeerKey(Settings.load(state_dir=tmp_path, _env_file=None).peer)
    assert again.public_key == other.public_key  # the file is read back, not regenerated
    with pytest.raises(SealError):
        seal("not-a-key", b"x")


def test_secret_carries_the_keys_under_the_documented_names_and_labels() -> None:
    values = secret_values(
        access_key="ak", secret_key="sk", session_token="st", endpoint="http://s3:9000", bucket="data", prefix="in/"
    )
    secret = secret_manifest(
        namespace="jf-bk-1",
        name="s3-minio",
        execution="bk-1",
        storage="minio",
        peer="c",
        request="bk-1:credential:minio",
        expires_at=NOW.isoformat(),
        values=values,
    )
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {
        names.S3_ACCESS_KEY: "ak",
        names.S3_SECRET_KEY: "sk",
        names.S3_SESSION_TOKEN: "st",
        names.S3_ENDPOINT: "http://s3:9000",
        names.S3_BUCKET: "data",
        names.S3_PREFIX: "in/",
    }
    labels = secret["metadata"]["labels"]
    assert labels[names.MANAGED_BY] == "jetflow"
    assert labels[names.EXECUTION] == "bk-1"
    assert labels[names.STORAGE] == "minio"
    assert labels[names.PEER] == "c"
    assert secret["metadata"]["annotations"]["jetflow.io/request"] == "bk-1:credential:minio"
