"""Temporary keys from the storage's STS (AssumeRole through the minio SDK), scoped and expiring.

The identity configured for the storage (`StorageAccess`) assumes a role with an inline session policy
(`policy.session_policy`) and a duration reaching the requested expiry. Durations are whole seconds
between 3600 (minio raises anything shorter to 3600, so keys may outlive a short window by up to an
hour) and `credential_max_duration`; the expiry STS reports is the one passed on. No MinIO admin API
is used: STS keys cannot be revoked early, they expire, which is why they are scoped and short.

The minio SDK is synchronous and imported lazily (memory): calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine.credentials.policy import policy_json

if TYPE_CHECKING:
    from engine.credentials.policy import Access
    from engine.credentials.settings import StorageAccess

#: STS never issues shorter keys than this (minio raises shorter requests to it).
MIN_DURATION = 3600


class IssueError(Exception):
    """STS refused or could not be reached; `code` names which for the failed event."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StorageKeys:
    """Temporary keys. Never logged, stored or published: they only leave this process sealed."""

    access_key: str
    secret_key: str
    session_token: str
    expires_at: datetime

    def __repr__(self) -> str:  # keep the values out of tracebacks and debug logs
        return f"StorageKeys(access_key=***, expires_at={self.expires_at.isoformat()})"


def duration_for(expires_at: datetime, now: datetime, maximum: float) -> int:
    """Seconds of validity to ask STS for: reaching `expires_at`, within [MIN_DURATION, maximum]."""
    wanted = math.ceil((expires_at - now).total_seconds())
    return int(min(max(wanted, MIN_DURATION), maximum))


def sts_endpoint(endpoint: str) -> str:
    """The URL AssumeRole is POSTed to: the server root (MinIO answers STS there)."""
    return endpoint.rstrip("/") + "/"


async def assume_role(
    access: StorageAccess,
    endpoint: str,
    *,
    bucket: str,
    prefix: str,
    mode: Access,
    duration: int,
    session_name: str,
    timeout: float,
) -> StorageKeys:
    """AssumeRole with the session policy for `bucket/prefix`; raises IssueError with a code."""
    policy = policy_json(bucket, prefix, mode)
    return await asyncio.to_thread(_assume_role, access, endpoint, policy, duration, session_name, timeout)


def _assume_role(
    access: StorageAccess, endpoint: str, policy: str, duration: int, session_name: str, timeout: float
) -> StorageKeys:
    import urllib3
    from minio.credentials.providers import AssumeRoleProvider

    pool = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        # One retry on a 5xx at most: the handler is redelivered anyway, and a slow retry loop
        # would outlast the requesting peer's timeout.
        retries=urllib3.Retry(total=1, backoff_factor=0.1, status_forcelist=[500, 502, 503, 504]),
        cert_reqs="CERT_REQUIRED" if access.verify_tls else "CERT_NONE",
        ca_certs=str(access.ca_bundle) if access.ca_bundle else None,
    )
    provider = AssumeRoleProvider(
        sts_endpoint=sts_endpoint(endpoint),
        access_key=access.access_key,
        secret_key=access.secret_key.get_secret_value(),
        duration_seconds=duration,
        policy=policy,
        region=access.region,
        role_arn=access.role_arn,
        role_session_name=session_name,
        http_client=pool,
    )
    try:
        credentials = provider.retrieve()
    except urllib3.exceptions.HTTPError as error:
        raise IssueError("sts_unreachable", f"STS at {endpoint} cannot be reached: {type(error).__name__}") from None
    except ValueError as error:
        # minio raises ValueError for an HTTP error status and for an answer it cannot parse.
        raise IssueError("sts_error", f"STS at {endpoint} refused AssumeRole: {error}") from None
    finally:
        pool.clear()
    if not credentials.session_token or credentials.expiration is None:
        raise IssueError("sts_error", f"STS at {endpoint} returned keys without a session token or expiry")
    return StorageKeys(
        access_key=credentials.access_key,
        secret_key=credentials.secret_key,
        session_token=credentials.session_token,
        expires_at=credentials.expiration.replace(tzinfo=UTC),
    )


def session_name(request_id: str) -> str:
    """RoleSessionName (2-64 of [\\w+=,.@-]): the request id, so STS audit logs name the request."""
    cleaned = "".join(c if c.isalnum() or c in "+=,.@-_" else "-" for c in request_id)
    return (cleaned or "jetflow")[:64].ljust(2, "-")
