"""The execution namespace on the clusters of the peers that run a federated workflow's remote steps.

Admiralty sends a remote step's pod to the target cluster as a delegate pod in a namespace of the
same name, running as the workflow's ServiceAccount, and creates neither: without them the step
never starts. So the dispatching peer asks each remote peer, on `jetflow.peer.<C>.namespace.prepare`,
to create the namespace, the ServiceAccount and the executor's rights (the same builders as its own,
engine/dispatch/access.py) before it creates the Workflow. The names are deterministic, so a replay
creates nothing. When the execution is over, its janitor asks them on `.namespace.release` to delete
theirs before it deletes its own namespace, which lists them (`jetflow.io/remote-peers`): a peer that
does not answer keeps both for the next pass, so nothing is left behind on any cluster.

A peer that does not answer (or whose cluster is unreachable) is temporary: the execution stays due
and waits, visibly, until the next pass or the end of its window. A peer that refuses (it has no
cluster, the request is malformed) fails the execution with its reason.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine.dispatch import access
from engine.errors import PermanentError, TemporaryError
from engine.kube import kinds, names
from engine.peers import PeerUnavailable
from schemas import subjects
from schemas.peer import PeerReply, PrepareNamespace, ReleaseNamespace

if TYPE_CHECKING:
    from engine.dispatch.plan import Plan
    from engine.kube.client import Kube
    from engine.peers import PeerClient

log = logging.getLogger(__name__)

#: Namespace label on a remote peer's cluster: which peer's workflow the namespace serves.
REQUESTED_BY = "jetflow.io/requested-by"
#: Reply code of a peer whose cluster could not be reached: ask again later.
UNAVAILABLE = "unavailable"
NAMESPACE = (kinds.NAMESPACE.api_version, kinds.NAMESPACE.kind)
NO_CLUSTER = PeerReply(status="error", code="no_cluster", reason="this peer has no Kubernetes cluster configured")


class PeerNotReady(Exception):
    """A remote peer did not prepare the namespace yet; the execution waits for the next pass."""


class RemoteNamespaces:
    """The dispatching peer's side: ask remote peers to prepare, and later release, their namespace."""

    def __init__(self, peers: PeerClient, peer_id: str) -> None:
        self._peers = peers
        self._peer_id = peer_id

    async def prepare(self, plan: Plan, down: dict[str, str]) -> None:
        """Ask every remote peer of `plan`; `down` (one dispatch pass's memory: peer → why) spares the
        other executions of a pass the wait for a peer that already did not answer."""
        for peer in plan.remote_peers():
            if peer in down:
                raise PeerNotReady(down[peer])
            message = PrepareNamespace(
                id=f"{plan.execution}:namespace",
                execution=plan.execution,
                booking=plan.booking,
                namespace=plan.namespace,
                requester=self._peer_id,
            )
            try:
                reply = await self._ask(peer, "prepare", message)
            except PeerNotReady as error:
                down[peer] = str(error)
                raise
            if reply.status == "error":
                raise PermanentError(f"peer {peer} could not prepare namespace {plan.namespace}: {reply.reason}")

    async def release(self, execution: str, namespace: str, peers: list[str], down: dict[str, str]) -> bool:
        """Ask every peer to delete its copy of `namespace`; False when one did not (try again later).
        `down` is one janitor pass's memory of the peers that did not answer."""
        message = ReleaseNamespace(
            id=f"{execution}:namespace-release", execution=execution, namespace=namespace, requester=self._peer_id
        )
        released = True
        for peer in peers:
            if peer in down:
                released = False
                continue
            try:
                reply = await self._ask(peer, "release", message)
            except PeerNotReady as error:
                log.warning("namespace %s kept for now: %s", namespace, error)
                down[peer] = str(error)
                released = False
                continue
            if reply.status == "error":
                log.warning("namespace %s kept for now: peer %s: %s", namespace, peer, reply.reason)
                released = False
        return released

    async def _ask(self, peer: str, verb: str, message: PrepareNamespace | ReleaseNamespace) -> PeerReply:
        subject = subjects.peer(peer, "namespace", verb)
        try:
            reply = await self._peers.ask(subject, message)
        except PeerUnavailable as error:
            raise PeerNotReady(f"peer {peer}: {error}") from None
        if reply.status == "error" and reply.code == UNAVAILABLE:
            raise PeerNotReady(f"peer {peer}: {reply.reason}")
        return reply


def remote_peers(namespace: dict[str, object]) -> list[str]:
    """The peers a dispatching cluster's namespace lists as holding a copy (its annotation)."""
    meta = namespace.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    listed = annotations.get(access.REMOTE_PEERS, "") if isinstance(annotations, dict) else ""
    return [peer for peer in str(listed).split(",") if peer]


class NamespaceHost:
    """The remote peer's side, answering `jetflow.peer.<this peer>.namespace.prepare|release`."""

    def __init__(self, peer_id: str, kube: Kube | None) -> None:
        self._peer_id = peer_id
        self._kube = kube

    def scope(self, message: PrepareNamespace) -> access.Scope:
        return access.Scope(
            namespace=message.namespace,
            labels={
                names.MANAGED_BY: names.MANAGER,
                names.EXECUTION: names.label(message.execution),
                names.BOOKING: names.label(message.booking),
                names.PEER: names.label(self._peer_id),
                REQUESTED_BY: names.label(message.requester),
            },
            annotations={names.EXECUTION: message.execution, names.BOOKING: message.booking},
        )

    async def prepare(self, message: PrepareNamespace) -> PeerReply:
        if self._kube is None:
            return NO_CLUSTER
        namespace, *others = access.objects(self.scope(message))
        try:
            created = await self._kube.create(namespace)
            if not created:
                # The credential Secrets may have come first and made it without these; the requester's
                # label is what lets it release the namespace later.
                labels = namespace["metadata"]["labels"]
                patch = {"metadata": {"labels": {key: labels[key] for key in (REQUESTED_BY, names.BOOKING)}}}
                await self._kube.patch(*NAMESPACE, None, message.namespace, patch)
            for manifest in others:
                created = await self._kube.create(manifest) or created  # 409: a replay, already there
        except TemporaryError as error:
            return PeerReply(status="error", code=UNAVAILABLE, reason=error.reason)
        log.info("namespace %s ready for %s's execution %s", message.namespace, message.requester, message.execution)
        return PeerReply(status="ok", created=created)

    async def release(self, message: ReleaseNamespace) -> PeerReply:
        """Delete the namespace, if it is one jetflow prepared for this requester (never anyone else's)."""
        if self._kube is None:
            return NO_CLUSTER
        try:
            found = await self._kube.get(*NAMESPACE, None, message.namespace)
            labels = ((found or {}).get("metadata") or {}).get("labels") or {}
            ours = labels.get(names.MANAGED_BY) == names.MANAGER
            if found is not None and not (ours and labels.get(REQUESTED_BY) == names.label(message.requester)):
                # Nothing of the requester's to delete, and never anyone else's namespace.
                log.warning("namespace %s was not prepared for %s: left alone", message.namespace, message.requester)
            elif found is not None:
                await self._kube.delete(*NAMESPACE, None, message.namespace)
                log.info(
                    "deleted namespace %s of %s's execution %s", message.namespace, message.requester, message.execution
                )
        except TemporaryError as error:
            return PeerReply(status="error", code=UNAVAILABLE, reason=error.reason)
        return PeerReply(status="ok")
