"""The compute owner's side: open sealed keys and keep them in a Secret in the execution namespace.

Answered on `jetflow.peer.<this peer>.secret.store|delete`. Storing is create-only (an existing Secret
is kept, so a replayed request leaves one Secret with the first keys); deleting is delete-if-present.
The opened keys live only in this call's locals and the Secret sent to the cluster.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from engine.credentials.sealing import SealError
from engine.credentials.secret import SECRET, namespace_manifest, secret_manifest
from engine.kube import names
from engine.kube.client import namespace_labels
from engine.peers import NO_CLUSTER
from schemas.peer import PeerReply

if TYPE_CHECKING:
    from engine.credentials.sealing import PeerKey
    from engine.kube.client import Kube
    from schemas.peer import DeleteSecret, StoreSecret

log = logging.getLogger(__name__)


class SecretStore:
    def __init__(self, peer_id: str, key: PeerKey, kube: Kube | None) -> None:
        self._peer_id = peer_id
        self._key = key
        self._kube = kube

    async def store(self, message: StoreSecret, sender: str | None = None) -> PeerReply:
        """`sender`: the linked peer the request came over (None: a client of our own server)."""
        if self._kube is None:
            return NO_CLUSTER
        if (refused := await self._not_theirs(message.namespace, sender)) is not None:
            return refused
        try:
            values = json.loads(self._key.open(message.sealed))
        except (SealError, ValueError) as error:
            return PeerReply(status="error", code="unsealable", reason=str(error))
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return PeerReply(status="error", code="unsealable", reason="the sealed keys are not a string map")
        secret = secret_manifest(
            namespace=message.namespace,
            name=message.name,
            execution=message.execution,
            storage=message.storage,
            peer=self._peer_id,
            request=message.id,
            expires_at=message.expires_at.isoformat(),
            values=values,
        )
        # The namespace may not exist yet (dispatch creates it too): 409 from either is "already there".
        namespace = namespace_manifest(
            message.namespace, execution=message.execution, peer=self._peer_id, requester=sender
        )
        await self._kube.create(namespace)
        created = await self._kube.create(secret)
        log.info(
            "%s Secret %s/%s for %s", "created" if created else "kept", message.namespace, message.name, message.id
        )
        return PeerReply(status="ok", created=created)

    async def delete(self, message: DeleteSecret, sender: str | None = None) -> PeerReply:
        if self._kube is None:
            return NO_CLUSTER
        if (refused := await self._not_theirs(message.namespace, sender)) is not None:
            return refused
        deleted = await self._kube.delete(*SECRET, message.namespace, message.name)
        log.info("%s Secret %s/%s", "deleted" if deleted else "already gone:", message.namespace, message.name)
        return PeerReply(status="ok")

    async def _not_theirs(self, namespace: str, sender: str | None) -> PeerReply | None:
        """The refusal of a linked peer's request on a namespace prepared for (or first given a Secret by)
        another peer: only the peer that dispatches an execution may store or delete its Secrets here."""
        if sender is None or self._kube is None:
            return None
        holder = (await namespace_labels(self._kube, namespace) or {}).get(names.REQUESTED_BY)
        if holder is None or holder == names.label(sender):
            return None
        reason = f"namespace {namespace} serves another peer's execution: peer {sender} cannot change its Secrets"
        log.warning("refused a Secret request of peer %s: %s", sender, reason)
        return PeerReply(status="error", code="forbidden", reason=reason)
