"""An S3 server with STS for tests: moto's server (a subprocess), or a real MinIO.

Set JETFLOW_TEST_S3_URL (and JETFLOW_TEST_S3_ACCESS_KEY / _SECRET_KEY, default minioadmin) to run
against MinIO. moto needs a role to assume (created here through its IAM API); MinIO ignores RoleArn.
`s3` is session-scoped: tests use fresh bucket names instead of a fresh server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests import servers
from tests.support.s3_tools import S3, create_role

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    if servers.EXTERNAL_S3:
        yield S3(servers.EXTERNAL_S3, servers.EXTERNAL_S3_ACCESS_KEY, servers.EXTERNAL_S3_SECRET_KEY, None, False)
        return
    with servers.moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        arn = create_role(endpoint, "admin", "adminsecret", "jetflow-steps", everything)
        yield S3(endpoint, "admin", "adminsecret", arn, True)
