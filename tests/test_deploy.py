"""The Kubernetes manifest: every replica of a peer reads the one peer key, from one Secret."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from engine.credentials.sealing import PeerKey, generate_private_key, seal
from engine.settings import Settings

if TYPE_CHECKING:
    import pytest

MANIFEST = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes" / "jetflow.yaml"


def documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc is not None]


def test_every_replica_takes_the_peer_key_from_one_shared_secret() -> None:
    (deployment,) = [doc for doc in documents() if doc["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    for container in pod["containers"]:
        (key,) = [env for env in container.get("env", []) if env["name"] == "JETFLOW_PEER_PRIVATE_KEY"]
        ref = key["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("jetflow-peer-key", "JETFLOW_PEER_PRIVATE_KEY")
        assert not ref.get("optional", False)  # a pod without the key does not start, it never makes its own
    # Not a per-pod source: no init container or volume generates a key, and the manifest does not carry the
    # Secret itself (applying it again would replace the peer's key).
    assert "initContainers" not in pod
    assert "volumes" not in pod
    names = {doc["metadata"]["name"] for doc in documents() if doc["kind"] == "Secret"}
    assert "jetflow-peer-key" not in names
    for doc in documents():
        if doc["kind"] == "Secret":
            assert "JETFLOW_PEER_PRIVATE_KEY" not in (doc.get("stringData") or {})


def test_replicas_given_the_shared_key_open_each_other_s_boxes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private = generate_private_key()
    monkeypatch.setenv("JETFLOW_PEER_PRIVATE_KEY", private)
    replicas = [PeerKey(Settings.load(state_dir=tmp_path / name).peer) for name in ("a", "b")]
    assert replicas[0].public_key == replicas[1].public_key
    box = seal(replicas[0].public_key, b"sts keys")
    assert [replica.open(box) for replica in replicas] == [b"sts keys", b"sts keys"]
    assert not list(tmp_path.rglob("peer.key"))  # nothing generated per replica


def test_replicas_without_it_would_each_generate_their_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JETFLOW_PEER_PRIVATE_KEY", raising=False)
    a, b = (PeerKey(Settings.load(state_dir=tmp_path / name).peer) for name in ("a", "b"))
    assert a.public_key != b.public_key  # why the manifest shares one Secret
