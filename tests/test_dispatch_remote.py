"""Remote namespaces: the dispatching side (a peer client that records what it is asked), the host on kmock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest

from engine.core.errors import PermanentError
from engine.credentials.secret import namespace_manifest
from engine.dispatch.remote import NamespaceHost, PeerNotReady, RemoteNamespaces, remote_peers
from engine.peers import PeerUnavailable
from schemas.peer import PeerReply, PrepareNamespace, ReleaseNamespace
from tests.support.plans import two_cluster_plan

if TYPE_CHECKING:
    from engine.peers import PeerClient
    from schemas.base import Message
    from tests.support.kube import KubeHarness


class Peers:
    def __init__(self, answer: PeerReply | None) -> None:
        self.answer = answer  # None: nobody answers
        self.asked: list[str] = []

    async def ask(self, subject: str, message: Message) -> PeerReply:
        self.asked.append(subject)
        if self.answer is None:
            raise PeerUnavailable(f"nobody answers on {subject}")
        return self.answer


def remote(peers: Peers, retry_after: float = 60) -> RemoteNamespaces:
    return RemoteNamespaces(cast("PeerClient", peers), "local", retry_after=retry_after)


async def test_a_peer_that_did_not_answer_is_not_asked_again_for_a_while() -> None:
    peers = Peers(None)
    namespaces = remote(peers)
    for execution in ("bk-1", "bk-2", "bk-3"):
        with pytest.raises(PeerNotReady, match="peer peer-b: nobody answers"):
            await namespaces.prepare(two_cluster_plan(execution))
    assert not await namespaces.release("bk-0", "jf-bk-0", ["peer-b"])  # the janitor waits for it too
    assert peers.asked == ["jetflow.peer.peer-b.namespace.prepare"]
    peers.answer = PeerReply(status="ok")
    with pytest.raises(PeerNotReady):
        await namespaces.prepare(two_cluster_plan("bk-4"))  # still within retry_after

    soon = remote(peers := Peers(None), retry_after=0)
    with pytest.raises(PeerNotReady):
        await soon.prepare(two_cluster_plan("bk-1"))
    peers.answer = PeerReply(status="ok")
    await soon.prepare(two_cluster_plan("bk-1"))  # asked again once the wait is over: it answers
    assert len(peers.asked) == 2


async def test_a_refusal_is_permanent_and_unavailable_is_not() -> None:
    refused = Peers(PeerReply(status="error", code="no_cluster", reason="this peer has no Kubernetes cluster"))
    with pytest.raises(PermanentError, match="peer peer-b could not prepare namespace jf-bk-1: this peer has no"):
        await remote(refused).prepare(two_cluster_plan("bk-1"))
    busy = Peers(PeerReply(status="error", code="unavailable", reason="Kubernetes unreachable"))
    with pytest.raises(PeerNotReady, match="Kubernetes unreachable"):
        await remote(busy).prepare(two_cluster_plan("bk-1"))
    assert await remote(busy).release("bk-1", "jf-bk-1", ["peer-b"]) is False
    assert await remote(Peers(PeerReply(status="ok"))).release("bk-1", "jf-bk-1", ["peer-b"]) is True
    # A refusal to release: nothing of ours is there, so ours may go.
    assert await remote(refused).release("bk-1", "jf-bk-1", ["peer-b"]) is True


def test_the_namespace_lists_its_remote_peers() -> None:
    namespace: dict[str, Any] = {"metadata": {"annotations": {"jetflow.io/remote-peers": "peer-b,peer-c"}}}
    assert remote_peers(namespace) == ["peer-b", "peer-c"]
    assert remote_peers({"metadata": {}}) == []


@pytest.mark.usefixtures("_namespaces_are_objects")
async def test_the_host_releases_only_what_it_prepared_for_the_asker(kube: KubeHarness) -> None:
    host = NamespaceHost("peer-b", kube.client)
    namespace = "jf-bk-7"
    # What the credentials feature leaves when the keys arrive first: jetflow's, but not prepared for anyone.
    await kube.client.create(namespace_manifest(namespace, execution="bk-7", peer="peer-b"))
    release = ReleaseNamespace(id="bk-7:namespace-release", execution="bk-7", namespace=namespace, requester="local")
    assert (await host.release(release)).status == "ok"
    assert await kube.client.get("v1", "Namespace", None, namespace) is not None, "not prepared for 'local'"

    prepare = PrepareNamespace(
        id="bk-7:namespace", execution="bk-7", booking="bk", namespace=namespace, requester="local"
    )
    assert (await host.prepare(prepare)).status == "ok"
    assert await kube.client.get("v1", "ServiceAccount", namespace, "jetflow-workflow") is not None
    assert (await host.release(release.model_copy(update={"requester": "peer-x"}))).status == "ok"
    assert await kube.client.get("v1", "Namespace", None, namespace) is not None, "never another peer's"
    assert (await host.release(release)).status == "ok"
    gone = await kube.client.get("v1", "Namespace", None, namespace)
    assert gone is None or gone["metadata"].get("deletionTimestamp")
    assert (await host.release(release)).status == "ok"  # released already: nothing to do


@pytest.mark.usefixtures("_namespaces_are_objects")
async def test_the_host_refuses_a_namespace_that_is_not_the_executions_or_is_anothers(kube: KubeHarness) -> None:
    host = NamespaceHost("peer-b", kube.client)
    wrong = PrepareNamespace(id="bk-8:namespace", execution="bk-8", booking="bk", namespace="default", requester="a")
    assert (await host.prepare(wrong)).code == "bad_namespace"
    assert await kube.client.get("v1", "ServiceAccount", "default", "jetflow-workflow") is None
    mine = wrong.model_copy(update={"namespace": "jf-bk-8"})
    assert (await host.prepare(mine)).status == "ok"
    theirs = await host.prepare(mine.model_copy(update={"requester": "x"}))
    assert (theirs.status, theirs.code) == ("error", "not_yours")
    stored = await kube.client.get("v1", "Namespace", None, "jf-bk-8")
    assert stored is not None
    assert stored["metadata"]["labels"]["jetflow.io/requested-by"] == "a"
