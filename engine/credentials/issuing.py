"""The storage owner's side: issue scoped keys for a request and seal them to the compute's owner.

Answered on `jetflow.peer.<this peer>.credential.issue`. The recipient's public key is read from this
peer's own catalog (the compute resource's `public_key`), never taken from the request: a requester
cannot have keys sealed to itself. Refusals are replies with a code, never exceptions to the caller.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from engine.credentials import sts
from engine.credentials.policy import PolicyError, normalise_prefix
from engine.credentials.sealing import SealError, seal
from engine.credentials.secret import secret_values
from engine.credentials.sts import IssueError
from schemas.peer import PeerReply

if TYPE_CHECKING:
    from engine.catalog.store import Catalog
    from engine.core.clock import Clock
    from engine.core.settings import PeerSettings
    from engine.credentials.settings import CredentialSettings
    from schemas.peer import IssueCredential

log = logging.getLogger(__name__)


def refuse(code: str, reason: str) -> PeerReply:
    return PeerReply(status="error", code=code, reason=reason)


class Issuing:
    def __init__(self, settings: CredentialSettings, catalog: Catalog, clock: Clock, *, peer: PeerSettings) -> None:
        self._settings = settings
        self._peer = peer
        self._catalog = catalog
        self._clock = clock

    async def issue(self, message: IssueCredential) -> PeerReply:
        request = message.request
        access = self._settings.storages.get(request.storage)
        if access is None:
            return refuse("unknown_storage", f"peer {self._peer.id} issues no keys for '{request.storage}'")
        if request.bucket not in access.buckets:
            return refuse(
                "bucket_not_exported",
                f"bucket '{request.bucket}' is not exported by storage '{request.storage}' "
                f"(exported: {', '.join(access.buckets)})",
            )
        try:
            prefix = normalise_prefix(request.prefix)
        except PolicyError as error:
            return refuse("bad_prefix", str(error))
        found = await self._catalog.resources([request.storage, request.compute])
        storage, compute = found.get(request.storage), found.get(request.compute)
        endpoint = access.endpoint or (storage.endpoint if storage else None)
        if endpoint is None:
            return refuse("no_endpoint", f"storage '{request.storage}' has no endpoint (catalog or configuration)")
        if compute is None or compute.public_key is None:
            return refuse(
                "no_public_key",
                f"compute resource '{request.compute}' is unknown or has no public_key to seal the keys to",
            )
        now = self._clock.now()
        if message.expires_at <= now:
            return refuse("expired", f"the keys would expire at {message.expires_at.isoformat()}, already past")
        duration = sts.duration_for(message.expires_at, now, self._settings.max_duration)
        try:
            keys = await sts.assume_role(
                access,
                endpoint,
                bucket=request.bucket,
                prefix=prefix,
                mode=request.access,
                duration=duration,
                session_name=sts.session_name(request.id),
                timeout=self._peer.timeout / 2,
            )
        except IssueError as error:
            return refuse(error.code, error.reason)
        values = secret_values(
            access_key=keys.access_key,
            secret_key=keys.secret_key,
            session_token=keys.session_token,
            endpoint=(storage.endpoint if storage and storage.endpoint else endpoint),
            bucket=request.bucket,
            prefix=prefix,
        )
        try:
            sealed = seal(compute.public_key, json.dumps(values).encode())
        except SealError as error:
            return refuse("no_public_key", f"compute resource '{request.compute}': {error}")
        log.info(
            "issued keys for %s (%s on %s/%s) until %s",
            request.id,
            request.access,
            request.bucket,
            prefix,
            keys.expires_at.isoformat(),
        )
        return PeerReply(status="ok", sealed=sealed, recipient=compute.peer, expires_at=keys.expires_at)
