"""The Kubernetes manifests of one peer: the shared peer key, and NATS, MongoDB and jetflow wired to each other."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from engine.core.settings import LeafSettings
from engine.credentials.sealing import PeerKey, generate_private_key, seal
from engine.embedded import natsconf, servers
from engine.settings import ENV, Settings

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


# --- One peer on Kubernetes: NATS (nats.yaml), MongoDB (mongodb.yaml) and jetflow, wired to each other. ---

KUBERNETES = MANIFEST.parent
DEPLOY_README = KUBERNETES.parent / "README.md"
WORKLOADS = ("Deployment", "StatefulSet", "Job")
#: In-cluster names the manifests use: <service>.<namespace>.svc or <pod>.<service>.<namespace>.svc.
HOST = re.compile(r"\b([a-z0-9-]+(?:\.[a-z0-9-]+){1,2})\.svc\b(?::(\d+))?")


def all_documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return found


def find(kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
    for _, doc in all_documents():
        meta = doc["metadata"]
        if doc["kind"] == kind and meta["name"] == name and meta.get("namespace") == namespace:
            return doc
    return None


def workloads() -> list[dict[str, Any]]:
    return [doc for _, doc in all_documents() if doc["kind"] in WORKLOADS]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def secret_names(workload: dict[str, Any]) -> set[str]:
    names = {volume["secret"]["secretName"] for volume in pod_spec(workload).get("volumes", []) if "secret" in volume}
    for container in containers(workload):
        names |= {source["secretRef"]["name"] for source in container.get("envFrom", []) if "secretRef" in source}
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                names.add(ref["name"])
    return names


def operator_secrets() -> set[tuple[str, str]]:
    """Secrets the operator creates (credentials are never in the manifests): `kubectl -n NS create secret ... NAME`."""
    text = DEPLOY_README.read_text()
    return set(re.findall(r"kubectl -n ([a-z0-9-]+) create secret generic ([a-z0-9-]+)", text))


def test_every_manifest_parses_into_named_objects() -> None:
    files = {name for name, _ in all_documents()}
    assert {"jetflow.yaml", "dispatch-rbac.yaml", "nats.yaml", "mongodb.yaml"} <= files
    for name, doc in all_documents():
        assert doc.get("apiVersion"), name
        assert doc.get("kind"), name
        assert doc["metadata"]["name"], name
        if doc["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            namespace = doc["metadata"].get("namespace")
            assert namespace is not None, (name, doc["metadata"]["name"])
            assert find("Namespace", None, namespace) is not None, (name, namespace)


def test_every_workload_s_configmaps_secrets_volumes_and_ports_resolve() -> None:
    created = operator_secrets()
    assert created  # the README's commands are what the pods need
    for workload in workloads():
        namespace = workload["metadata"]["namespace"]
        spec = pod_spec(workload)
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert find("ConfigMap", namespace, volume["configMap"]["name"]) is not None, volume
        for name in secret_names(workload):
            in_files = find("Secret", namespace, name) is not None
            assert in_files or (namespace, name) in created, (workload["metadata"]["name"], name)
        volumes = {volume["name"] for volume in spec.get("volumes", [])}
        volumes |= {claim["metadata"]["name"] for claim in workload["spec"].get("volumeClaimTemplates", [])}
        for container in containers(workload):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, (container["name"], mount["name"])
            ports = {port["name"] for port in container.get("ports", [])}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                port = container.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str):
                    assert port in ports, (container["name"], probe, port)


def test_every_service_selects_a_workload_with_its_target_ports() -> None:
    services = [doc for _, doc in all_documents() if doc["kind"] == "Service"]
    assert {doc["metadata"]["name"] for doc in services} >= {"nats", "nats-headless", "nats-leaf", "mongo"}
    for service in services:
        namespace = service["metadata"]["namespace"]
        selector = service["spec"]["selector"]
        (target,) = [
            workload
            for workload in workloads()
            if workload["metadata"]["namespace"] == namespace
            and selector.items() <= workload["spec"]["template"].get("metadata", {}).get("labels", {}).items()
        ]
        ports = {port["name"]: port["containerPort"] for c in containers(target) for port in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports or port["targetPort"] in ports.values(), (service, port)
    for workload in workloads():
        if workload["kind"] == "StatefulSet":  # pods get stable names from a headless Service
            headless = find("Service", workload["metadata"]["namespace"], workload["spec"]["serviceName"])
            assert headless is not None
            assert headless["spec"]["clusterIP"] == "None"


def test_every_in_cluster_address_names_a_service_or_a_stateful_pod_and_its_port() -> None:
    seen = 0
    for name, doc in all_documents():
        if doc["kind"] not in (*WORKLOADS, "ConfigMap"):
            continue
        for match in HOST.finditer(yaml.safe_dump(doc, width=10_000)):
            parts, port = match.group(1).split("."), match.group(2)
            pod, (service_name, namespace) = (parts[0] if len(parts) == 3 else None), parts[-2:]
            service = find("Service", namespace, service_name)
            assert service is not None, (name, match.group(0))
            if pod is not None:
                (stateful,) = [
                    w for w in workloads() if w["kind"] == "StatefulSet" and w["spec"]["serviceName"] == service_name
                ]
                ordinal = pod.removeprefix(stateful["metadata"]["name"] + "-")
                assert ordinal.isdigit(), (name, match.group(0))
                assert int(ordinal) < stateful["spec"]["replicas"], (name, match.group(0))
            if port is not None:
                assert int(port) in {p["port"] for p in service["spec"]["ports"]}, (name, match.group(0))
            seen += 1
    assert seen >= 10  # jetflow's NATS and MongoDB URLs, the NATS routes, the MongoDB members


def nats_statefulset() -> dict[str, Any]:
    found = find("StatefulSet", "nats", "nats")
    assert found is not None
    return found


def nats_conf() -> str:
    config = find("ConfigMap", "nats", "nats-config")
    assert config is not None
    text: str = config["data"]["nats.conf"]
    return text


def jetflow_env() -> dict[str, dict[str, Any]]:
    (deployment,) = [doc for doc in documents() if doc["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {env["name"]: env for env in container["env"]}


def nats_env() -> dict[str, str]:
    """The nats container's environment, with a stand-in for each value Kubernetes fills in."""
    (container,) = nats_statefulset()["spec"]["template"]["spec"]["containers"]
    env = {}
    for item in container["env"]:
        ref = item.get("valueFrom", {})
        if "fieldRef" in ref:
            env[item["name"]] = "nats-0"
        elif ref.get("secretKeyRef", {}).get("key", "").startswith("LEAF_REMOTE_"):
            env[item["name"]] = "nats-leaf://a:secret@leaf.example:7422"
        else:
            env[item["name"]] = "secret"
    return env


def test_the_nats_config_is_accepted_by_nats_server_with_the_secrets_and_refused_without(tmp_path: Path) -> None:
    conf = tmp_path / "nats.conf"
    conf.write_text(nats_conf())
    argv = [servers.nats_server_binary(), "-t", "-c", str(conf)]
    base = {"PATH": os.environ.get("PATH", "")}
    good = subprocess.run(argv, env={**base, **nats_env()}, capture_output=True, text=True, timeout=30, check=False)
    assert good.returncode == 0, good.stderr + good.stdout
    assert "is valid" in good.stderr + good.stdout
    for missing in nats_env():  # every variable is one the config reads
        env = {**base, **{k: v for k, v in nats_env().items() if k != missing}}
        bad = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
        assert bad.returncode != 0
        assert missing in bad.stderr + bad.stdout


def test_the_nats_config_has_the_peer_s_domain_accounts_and_leaf_links_as_jetflow_renders_them() -> None:
    text = nats_conf()
    peer = jetflow_env()["JETFLOW_PEER_ID"]["value"]
    users = re.findall(r'\{user: "([a-z0-9-]+)", password: \$(\w+), account: "peer-\1"\}', text)
    remotes = re.findall(r'\{url: \$(\w+), account: "peer-([a-z0-9-]+)"\}', text)
    assert users
    assert remotes
    leaf_port = next(p["containerPort"] for p in nats_container_ports() if p["name"] == "leafnodes")
    assert f'listen: "0.0.0.0:{leaf_port}"' in text.split("leafnodes {", 1)[1]
    settings = LeafSettings(
        _env_file=None,  # type: ignore[call-arg]
        port=leaf_port,
        host="0.0.0.0",
        peers={user: "secret" for user, _ in users},
        remotes={other: "nats-leaf://a:secret@leaf.example:7422" for _, other in remotes},
    )
    rendered = natsconf.render(peer, settings, port=4222, store_dir=Path("/data/jetstream"), host="0.0.0.0")
    accounts = rendered[rendered.index("accounts {") : rendered.index("leafnodes {")]
    assert accounts in text  # the same accounts, exports, imports and local user as `jetflow up`
    assert f'jetstream {{ store_dir: "/data/jetstream", domain: "{peer}" }}' in text
    # Every leaf credential comes from the operator's Secret nats-leaf, none is in the ConfigMap.
    (container,) = nats_statefulset()["spec"]["template"]["spec"]["containers"]
    from_secret = {
        env["name"]: env["valueFrom"]["secretKeyRef"]["name"]
        for env in container["env"]
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert from_secret == dict.fromkeys([v for _, v in users] + [v for v, _ in remotes], "nats-leaf")
    assert ("nats", "nats-leaf") in operator_secrets()
    assert 'password: "' not in text
    assert "nats-leaf://" not in text


def nats_container_ports() -> list[dict[str, Any]]:
    (container,) = nats_statefulset()["spec"]["template"]["spec"]["containers"]
    ports: list[dict[str, Any]] = container["ports"]
    return ports


def test_the_nats_cluster_keeps_jetstream_on_volumes_and_routes_to_each_server() -> None:
    stateful = nats_statefulset()
    assert stateful["spec"]["replicas"] == 3
    (claim,) = stateful["spec"]["volumeClaimTemplates"]
    (container,) = stateful["spec"]["template"]["spec"]["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"]]
    assert '"/data/jetstream"'.startswith(f'"{mount["mountPath"]}')
    routes = re.findall(r'"nats://(nats-\d)\.nats-headless\.nats\.svc:6222"', nats_conf())
    assert routes == [f"nats-{i}" for i in range(3)]


def test_mongodb_is_a_three_member_replica_set_that_the_job_initiates() -> None:
    stateful = find("StatefulSet", "mongo", "mongo")
    assert stateful is not None
    assert stateful["spec"]["replicas"] == 3
    (container,) = stateful["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--replSet") + 1] == "rs0"
    assert "--keyFile" in args
    assert "mongo-keyfile" in secret_names(stateful)
    job = find("Job", "mongo", "mongo-init")
    assert job is not None
    (init,) = job["spec"]["template"]["spec"]["containers"]
    script = init["command"][-1]
    assert 'rs.initiate({_id: "rs0"' in script
    members = re.findall(r'host: "(mongo-\d)\.mongo\.mongo\.svc:27017"', script)
    assert members == [f"mongo-{i}" for i in range(3)]


def test_jetflow_env_names_are_real_settings_and_load_as_one_peer_on_this_nats_and_mongodb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = jetflow_env()
    names = {name for name in env if name.startswith("JETFLOW_")}
    (secret,) = [doc for doc in documents() if doc["kind"] == "Secret"]
    names |= set(secret.get("stringData") or {})
    assert names <= {f"JETFLOW_{name.upper()}" for name in ENV}, names - {f"JETFLOW_{n.upper()}" for n in ENV}
    # Kubernetes' $(VAR) expansion, with the Secret's values standing in.
    values = {name: "u" if name == "MONGO_USER" else "p" for name in env if not name.startswith("JETFLOW_")}
    for name in names & set(env):
        if "value" in env[name]:
            value = re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], env[name]["value"])
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("JETFLOW_PEER_PRIVATE_KEY", generate_private_key())
    settings = Settings.load(_env_file=None, state_dir=tmp_path)
    assert settings.peer.id in nats_conf().split("domain: ", 1)[1].split("}", 1)[0]
    assert (settings.nats.stream_replicas, settings.lease.replicas) == (3, 3)
    assert settings.nats.url == "nats://nats.nats.svc:4222"
    assert settings.mongo.url is not None
    assert "replicaSet=rs0" in settings.mongo.url
    assert settings.mongo.url.startswith("mongodb://u:p@mongo-0.mongo.mongo.svc:27017,")
