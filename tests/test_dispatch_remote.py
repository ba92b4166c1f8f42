"""Remote namespaces: the dispatching side (a peer client that records what it is asked), the host on kmock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest

from engine.credentials.secret import namespace_manifest
from engine.dispatch.remote import NamespaceHost, PeerNotReady, RemoteNamespaces, remote_peers
from engine.errors import PermanentError
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


def remote(peers: Peers) -> RemoteNamespaces:
    return RemoteNamespaces(cast("PeerClient", peers), "local")


async def test_a_peer_that_did_not_answer_is_asked_once_per_pass() -> None:
    peers, down = Peers(None), dict[str, str]()
    for execution in ("bk-1", "bk-2", "bk-3"):
        with pytest.raises(PeerNotReady, match="peer peer-b: nobody answers"):
            await remote(peers).prepare(two_cluster_plan(execution), down)
    assert peers.asked == ["jetflow.peer.peer-b.namespace.prepare"]
    assert list(down) == ["peer-b"]


async def test_a_refusal_is_permanent_and_unavailable_is_not() -> None:
    refused = Peers(PeerReply(status="error", code="no_cluster", reason="this peer has no Kubernetes cluster"))
    with pytest.raises(PermanentError, match="peer peer-b could not prepare namespace jf-bk-1: this peer has no"):
        await remote(refused).prepare(two_cluster_plan("bk-1"), {})
    busy = Peers(PeerReply(status="error", code="unavailable", reason="Kubernetes unreachable"))
    with pytest.raises(PeerNotReady, match="Kubernetes unreachable"):
        await remote(busy).prepare(two_cluster_plan("bk-1"), {})
    assert await remote(busy).release("bk-1", "jf-bk-1", ["peer-b"], {}) is False
    assert await remote(Peers(PeerReply(status="ok"))).release("bk-1", "jf-bk-1", ["peer-b"], {}) is True


async def test_a_release_keeps_the_namespace_while_a_peer_does_not_answer_and_asks_it_once_per_pass() -> None:
    peers, down = Peers(None), dict[str, str]()
    for execution in ("bk-1", "bk-2"):
        assert await remote(peers).release(execution, f"jf-{execution}", ["peer-b"], down) is False
    assert peers.asked == ["jetflow.peer.peer-b.namespace.release"]


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
