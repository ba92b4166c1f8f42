"""What jetflow sends to STS and how it reads the answer: a recording STS endpoint (real HTTP) shows
the session policy and duration in the AssumeRole request (moto ignores session policies, so this is
where the scope is checked), and refusals become coded errors. With moto's IAM enforcement on, the
issued keys are held to the role's policy."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr

from engine.credentials.policy import session_policy
from engine.credentials.sts import IssueError, assume_role
from engine.settings import StorageAccess
from tests import servers
from tests.support.s3_tools import S3, create_role, put_and_get

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ANSWER = """<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIATEST</AccessKeyId><SecretAccessKey>s3cr3t</SecretAccessKey>
<SessionToken>tok</SessionToken><Expiration>2026-12-01T12:00:00Z</Expiration></Credentials>
</AssumeRoleResult></AssumeRoleResponse>"""


class Recording(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, list[str]]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(parse_qs(self.rfile.read(length).decode()))
        body = (
            ANSWER if self.status == 200 else "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>"
        )
        self.send_response(self.status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: Any) -> None:
        return


@contextmanager
def recording_sts(status: int) -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    handler: type[Recording] = type("Handler", (Recording,), {"bodies": [], "status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.bodies
    finally:
        server.shutdown()
        server.server_close()


def access(endpoint: str, role_arn: str | None = None) -> StorageAccess:
    return StorageAccess(
        endpoint=endpoint, access_key="jf", secret_key=SecretStr("k"), role_arn=role_arn, buckets=("data",)
    )


async def test_assume_role_sends_the_session_policy_and_duration() -> None:
    with recording_sts(200) as (endpoint, bodies):
        keys = await assume_role(
            access(endpoint, "arn:aws:iam::1:role/steps"),
            endpoint,
            bucket="data",
            prefix="in/",
            mode="read",
            duration=7200,
            session_name="bk-1",
            timeout=2,
        )
    assert keys.access_key == "ASIATEST"
    assert keys.expires_at == datetime(2026, 12, 1, 12, tzinfo=UTC)
    [sent] = bodies
    assert sent["Action"] == ["AssumeRole"]
    assert sent["DurationSeconds"] == ["7200"]
    assert sent["RoleArn"] == ["arn:aws:iam::1:role/steps"]
    assert sent["RoleSessionName"] == ["bk-1"]
    assert json.loads(sent["Policy"][0]) == session_policy("data", "in/", "read")


@pytest.mark.parametrize(("status", "code"), [(403, "sts_error"), (None, "sts_unreachable")])
async def test_sts_refusals_become_coded_errors(status: int | None, code: str) -> None:
    if status is None:
        endpoint = f"http://127.0.0.1:{servers.free_port()}"
        with pytest.raises(IssueError) as raised:
            await assume_role(
                access(endpoint),
                endpoint,
                bucket="data",
                prefix="",
                mode="read",
                duration=3600,
                session_name="x",
                timeout=1,
            )
    else:
        with recording_sts(status) as (endpoint, _), pytest.raises(IssueError) as raised:
            await assume_role(
                access(endpoint),
                endpoint,
                bucket="data",
                prefix="",
                mode="read",
                duration=3600,
                session_name="x",
                timeout=1,
            )
    assert raised.value.code == code
    assert raised.value.reason.startswith(f"STS at {endpoint}")


@pytest.mark.skipif(servers.EXTERNAL_S3 is not None, reason="moto's IAM enforcement only")
async def test_issued_keys_are_held_to_the_role_policy_by_moto(tmp_path: Path) -> None:
    """moto enforces IAM after INITIAL_NO_AUTH_ACTION_COUNT unauthenticated calls (not session policies):
    the seven set-up calls below are free, then an IAM user assumes a role limited to one bucket."""
    import boto3  # type: ignore[import-untyped]  # moto's dependency, tests only
    from minio.error import S3Error

    with servers.moto_server(tmp_path / "moto.log", INITIAL_NO_AUTH_ACTION_COUNT="7") as endpoint:
        options = {
            "endpoint_url": endpoint,
            "aws_access_key_id": "x",
            "aws_secret_access_key": "y",
            "region_name": "us-east-1",
        }
        s3, iam = boto3.client("s3", **options), boto3.client("iam", **options)
        allowed, other = f"jf-{uuid.uuid4().hex[:8]}", f"jf-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=allowed)
        s3.create_bucket(Bucket=other)
        only_allowed = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{allowed}", f"arn:aws:s3:::{allowed}/*"],
                }
            ],
        }
        arn = create_role(endpoint, "x", "y", "steps", only_allowed)  # two calls
        iam.create_user(UserName="jetflow")
        may_assume = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arn}],
        }
        iam.put_user_policy(UserName="jetflow", PolicyName="assume", PolicyDocument=json.dumps(may_assume))
        user = iam.create_access_key(UserName="jetflow")["AccessKey"]
        identity = StorageAccess(
            endpoint=endpoint,
            access_key=user["AccessKeyId"],
            secret_key=SecretStr(user["SecretAccessKey"]),
            role_arn=arn,
            buckets=(allowed,),
        )

        keys = await assume_role(
            identity, endpoint, bucket=allowed, prefix="", mode="read-write", duration=3600, session_name="t", timeout=5
        )
        client = S3(endpoint, "", "", None, True).client(keys.access_key, keys.secret_key, keys.session_token)
        assert await asyncio.to_thread(put_and_get, client, allowed, "a.txt", b"ok") == b"ok"
        with pytest.raises(S3Error, match="AccessDenied"):
            await asyncio.to_thread(put_and_get, client, other, "a.txt", b"no")
