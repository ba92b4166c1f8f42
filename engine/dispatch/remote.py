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
and waits, visibly, with only the slots the others leave (engine/dispatch/service.py), until the peer
answers or its window ends. A peer that refuses (it has no cluster, the namespace is not the
execution's or was made for another peer) fails the execution with its reason; refusing a release
means it holds nothing of ours.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from engine.core.errors import PermanentError, TemporaryError
from engine.dispatch import access
from engine.kube import kinds, names
from engine.kube.client import namespace_labels
from engine.peers import NO_CLUSTER, PeerUnavailable, serve
from schemas import subjects
from schemas.peer import PeerReply, PrepareNamespace, ReleaseNamespace

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.subscription import Subscription

    from engine.dispatch.plan import Plan
    from engine.kube.client import Kube
    from engine.peers import PeerClient

log = logging.getLogger(__name__)

REQUESTED_BY = names.REQUESTED_BY
#: Reply code of a peer whose cluster could not be reached: ask again later.
UNAVAILABLE = "unavailable"
NAMESPACE = (kinds.NAMESPACE.api_version, kinds.NAMESPACE.kind)


class PeerNotReady(Exception):
    """A remote peer did not prepare the namespace yet; the execution waits for the next pass."""


class RemoteNamespaces:
    """The dispatching peer's side: ask remote peers to prepare, and later release, their namespace.

    A peer that did not answer is not asked again for a while (`retry_after`, or four times as long as
    the failed ask took, whichever is longer): each ask of a silent peer costs the whole peer timeout,
    and the dispatcher and the janitor would otherwise pay it for every execution of every pass.
    """

    def __init__(self, peers: PeerClient, peer_id: str, *, retry_after: float) -> None:
        self._peers = peers
        self._peer_id = peer_id
        self._retry_after = retry_after
        self._down: dict[str, tuple[str, float]] = {}
        """Peer → (why it is not ready, monotonic time before which it is not asked again)."""

    async def prepare(self, plan: Plan) -> None:
        message = PrepareNamespace(
            id=f"{plan.execution}:namespace",
            execution=plan.execution,
            booking=plan.booking,
            namespace=plan.namespace,
            requester=self._peer_id,
        )
        for peer in plan.remote_peers():
            reply = await self._ask(peer, "prepare", message)
            if reply.status == "error":
                raise PermanentError(f"peer {peer} could not prepare namespace {plan.namespace}: {reply.reason}")

    async def release(self, execution: str, namespace: str, peers: list[str]) -> bool:
        """Ask every peer to delete its copy of `namespace`; False while one has not answered (ask later).

        A refusal counts as released: a peer without a cluster, or that did not prepare the namespace
        for us, holds nothing of ours to delete.
        """
        message = ReleaseNamespace(
            id=f"{execution}:namespace-release", execution=execution, namespace=namespace, requester=self._peer_id
        )
        released = True
        for peer in peers:
            try:
                reply = await self._ask(peer, "release", message)
            except PeerNotReady as error:
                log.info("namespace %s kept for now: %s", namespace, error)
                released = False
                continue
            if reply.status == "error":
                log.warning(
                    "namespace %s: peer %s refused to release it (%s); nothing kept there",
                    namespace,
                    peer,
                    reply.reason,
                )
        return released

    async def _ask(self, peer: str, verb: str, message: PrepareNamespace | ReleaseNamespace) -> PeerReply:
        known = self._down.get(peer)
        if known is not None and time.monotonic() < known[1]:
            raise PeerNotReady(known[0])
        subject = subjects.peer(peer, "namespace", verb)
        started = time.monotonic()
        try:
            reply = await self._peers.ask(subject, message)
            if reply.status == "error" and reply.code == UNAVAILABLE:
                raise PeerNotReady(f"peer {peer}: {reply.reason}")
        except (PeerUnavailable, PeerNotReady) as error:
            reason = str(error) if isinstance(error, PeerNotReady) else f"peer {peer}: {error}"
            elapsed = time.monotonic() - started
            self._down[peer] = (reason, time.monotonic() + max(self._retry_after, 4 * elapsed))
            raise PeerNotReady(reason) from None
        self._down.pop(peer, None)
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
        self.peer_id = peer_id
        self._kube = kube

    def scope(self, message: PrepareNamespace) -> access.Scope:
        return access.Scope(
            namespace=message.namespace,
            labels={
                names.MANAGED_BY: names.MANAGER,
                names.EXECUTION: names.label(message.execution),
                names.BOOKING: names.label(message.booking),
                names.PEER: names.label(self.peer_id),
                REQUESTED_BY: names.label(message.requester),
            },
            annotations={names.EXECUTION: message.execution, names.BOOKING: message.booking},
        )

    async def prepare(self, message: PrepareNamespace) -> PeerReply:
        if self._kube is None:
            return NO_CLUSTER
        if message.namespace != names.namespace(message.execution):
            reason = f"namespace {message.namespace} is not execution {message.execution}'s"
            return PeerReply(status="error", code="bad_namespace", reason=reason)
        namespace, *others = access.objects(self.scope(message))
        try:
            created = await self._kube.create(namespace)
            if not created:
                # The credential Secrets may have come first and made it without these; the requester's
                # label is what lets it release the namespace later. Never another requester's.
                labels = await namespace_labels(self._kube, message.namespace) or {}
                holder = labels.get(REQUESTED_BY)
                if labels.get(names.MANAGED_BY) != names.MANAGER or holder not in (
                    None,
                    names.label(message.requester),
                ):
                    reason = f"namespace {message.namespace} exists and was not made for peer {message.requester}"
                    return PeerReply(status="error", code="not_yours", reason=reason)
                wanted = namespace["metadata"]["labels"]
                patch = {"metadata": {"labels": {key: wanted[key] for key in (REQUESTED_BY, names.BOOKING)}}}
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
            labels = await namespace_labels(self._kube, message.namespace)
            ours = labels is not None and labels.get(names.MANAGED_BY) == names.MANAGER
            if labels is not None and not (ours and labels.get(REQUESTED_BY) == names.label(message.requester)):
                # Nothing of the requester's to delete, and never anyone else's namespace.
                log.warning("namespace %s was not prepared for %s: left alone", message.namespace, message.requester)
            elif labels is not None:
                await self._kube.delete(*NAMESPACE, None, message.namespace)
                log.info(
                    "deleted namespace %s of %s's execution %s", message.namespace, message.requester, message.execution
                )
        except TemporaryError as error:
            return PeerReply(status="error", code=UNAVAILABLE, reason=error.reason)
        return PeerReply(status="ok")


async def host_namespaces(nc: Client, host: NamespaceHost) -> list[Subscription]:
    """Answer `jetflow.peer.<host's peer>.namespace.prepare|release` (one replica of the peer each)."""
    peer = host.peer_id
    prepared = await serve(nc, peer, "namespace", "prepare", PrepareNamespace, host.prepare)
    return prepared + await serve(nc, peer, "namespace", "release", ReleaseNamespace, host.release)
