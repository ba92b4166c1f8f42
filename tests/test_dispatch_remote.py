"""The dispatching peer's side of remote namespaces, with a peer client that records what it is asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest

from engine.dispatch.remote import PeerNotReady, RemoteNamespaces, remote_peers
from engine.errors import PermanentError
from engine.peers import PeerUnavailable
from schemas.peer import PeerReply
from tests.support.plans import two_cluster_plan

if TYPE_CHECKING:
    from engine.peers import PeerClient
    from schemas.base import Message


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
    assert await remote(busy).release("bk-1", "jf-bk-1", ["peer-b"]) is False
    assert await remote(Peers(PeerReply(status="ok"))).release("bk-1", "jf-bk-1", ["peer-b"]) is True


def test_the_namespace_lists_its_remote_peers() -> None:
    namespace: dict[str, Any] = {"metadata": {"annotations": {"jetflow.io/remote-peers": "peer-b,peer-c"}}}
    assert remote_peers(namespace) == ["peer-b", "peer-c"]
    assert remote_peers({"metadata": {}}) == []
