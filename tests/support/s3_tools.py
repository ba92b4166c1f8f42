"""Talking to the test S3 server (see tests/support/s3.py for the fixture): buckets, keys, roles."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from engine.settings import StorageAccess

if TYPE_CHECKING:
    from collections.abc import Mapping

    from minio import Minio

#: Whom the role trusts: anyone (the test identity); the role's own policy stays open so the session
#: policy is the only scope (moto does not enforce session policies; MinIO does).
TRUST_ANYONE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


@dataclass(frozen=True)
class S3:
    endpoint: str
    access_key: str
    secret_key: str
    role_arn: str | None
    moto: bool

    def client(self, access_key: str, secret_key: str, session_token: str | None = None) -> Minio:
        from minio import Minio

        host = self.endpoint.split("://", 1)[1].rstrip("/")
        return Minio(
            host,
            access_key=access_key,
            secret_key=secret_key,
            session_token=session_token,
            secure=self.endpoint.startswith("https"),
            region="us-east-1",
        )

    def bucket(self) -> str:
        name = f"jf-{uuid.uuid4().hex[:10]}"
        self.client(self.access_key, self.secret_key).make_bucket(name)
        return name

    def access(self, *buckets: str) -> StorageAccess:
        return StorageAccess(
            endpoint=self.endpoint,
            access_key=self.access_key,
            secret_key=SecretStr(self.secret_key),
            role_arn=self.role_arn,
            buckets=buckets,
        )


def put_and_get(client: Minio, bucket: str, key: str, body: bytes) -> bytes:
    client.put_object(bucket, key, io.BytesIO(body), len(body))
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def create_role(endpoint: str, access_key: str, secret_key: str, name: str, policy: Mapping[str, Any]) -> str:
    """An IAM role (moto) with an inline policy; its ARN."""
    import boto3  # type: ignore[import-untyped]  # moto's dependency, tests only

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
    )
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_ANYONE))
    iam.put_role_policy(RoleName=name, PolicyName=f"{name}-s3", PolicyDocument=json.dumps(policy))
    return str(role["Role"]["Arn"])
