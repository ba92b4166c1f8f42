"""Sovereign peers: each on a nats-server of its own (its own JetStream domain), linked by leaf nodes that
carry only `jetflow.peer.<id>.>` requests and their replies. A peer cannot publish into another's streams,
and a server presenting wrong credentials is refused by the leaf node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING

import nats
import pytest
from pydantic import ValidationError

from engine.core.settings import LeafSettings
from engine.embedded import natsconf, servers
from engine.settings import Settings
from engine.streams import STREAMS, ensure_streams
from schemas import subjects
from tests.servers import running
from tests.support.federation import federation

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client
    from nats.aio.msg import Msg


def leaf(**fields: object) -> LeafSettings:
    return LeafSettings(_env_file=None, **fields)  # type: ignore[arg-type]


def test_a_peer_config_has_its_domain_and_an_account_per_linked_peer(tmp_path: Path) -> None:
    text = natsconf.render(
        "b",
        leaf(port=7423, peers={"c": "pw-bc"}, remotes={"a": "nats-leaf://b:pw-ab@10.0.0.1:7422"}),
        port=4223,
        store_dir=tmp_path,
    )
    assert 'domain: "b"' in text
    assert 'listen: "127.0.0.1:7423"' in text
    assert '{user: "c", password: "pw-bc", account: "peer-c"}' in text
    assert '{url: "nats-leaf://b:pw-ab@10.0.0.1:7422", account: "peer-a"}' in text
    # What crosses: our requests out, theirs in; no stream subject, no ctl, no JetStream API.
    assert '{service: {account: "peer-a", subject: "jetflow.peer.a.>"}}' in text
    # Theirs arrive with the sender's id in the subject, written by the link account's import, not by the sender.
    (exports,) = [line for line in text.splitlines() if '{service: "jetflow.peer.b.' in line and "exports:" in line]
    assert exports.strip().startswith('exports: [{service: "jetflow.peer.b.from.*.>"}')
    assert '{service: "jetflow.peer.b.>"}' not in exports  # no link reaches our requests without the sender's id
    for other in "ac":
        assert (
            f'{{service: {{account: "jetflow", subject: "jetflow.peer.b.from.{other}.>"}}, to: "jetflow.peer.b.>"}}'
            in text
        )
    assert 'subject: "jetflow.peer.b.>"' not in text, "no link reaches our requests without its sender's id"
    for spec in STREAMS:
        for subject in spec.subjects:
            assert subject not in text
    assert "jetflow.ctl" not in text
    # Of the JetStream API, only the reset of the consumer each reader's source uses, and its flow control; no
    # consumer create, so no reader picks a deliver subject.
    js_subjects = {part.split('"')[0] for part in text.split('"$JS')[1:]}
    assert js_subjects == {
        ".API.CONSUMER.RESET.JETFLOW_PUBLIC_b.reader-a",
        ".API.CONSUMER.RESET.JETFLOW_PUBLIC_b.reader-c",
        ".FC.JETFLOW_PUBLIC_b.reader-a.>",
        ".FC.JETFLOW_PUBLIC_b.reader-c.>",
        ".FC.JETFLOW_PUBLIC_a.reader-b.>",
        ".FC.JETFLOW_PUBLIC_c.reader-b.>",
    }
    # Each reader's consumer and deliver subject are offered to that reader's account alone.
    assert '{service: "$JS.API.CONSUMER.RESET.JETFLOW_PUBLIC_b.reader-a", accounts: ["peer-a"]}' in text
    assert '{stream: "jetflow.public.deliver.b.c", accounts: ["peer-c"]}' in text


def test_a_peer_without_links_keeps_the_global_account(tmp_path: Path) -> None:
    text = natsconf.render("local", leaf(), port=4222, store_dir=tmp_path)
    assert 'domain: "local"' in text
    assert "accounts" not in text
    assert "leafnodes" not in text


def test_tls_for_leaf_links(tmp_path: Path) -> None:
    tls = leaf(
        port=7422,
        peers={"b": "x"},
        remotes={"c": "tls://a:y@c.example:7422"},
        tls_cert=tmp_path / "a.pem",
        tls_key=tmp_path / "a.key",
        tls_ca=tmp_path / "ca.pem",
    )
    text = natsconf.render("a", tls, port=4222, store_dir=tmp_path)
    served, remote = text.split("remotes")
    assert "verify: true" in served, "peers connecting must present a certificate the CA signed"
    assert f'ca_file: "{tmp_path / "ca.pem"}"' in remote
    assert "verify" not in remote


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"peers": {"b.x": "pw"}}, "cannot name a peer"),
        ({"remotes": {"b": "http://b:7422"}}, "nats-leaf://"),
        ({"peers": {"b": "pw"}, "remotes": {"b": "nats-leaf://a:pw@b:7422"}}, "one link per pair"),
        ({"tls_cert": "a.pem"}, "go together"),
    ],
)
def test_bad_leaf_settings_are_refused_with_the_reason(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        leaf(**fields)


def test_a_bad_peer_id_or_a_listener_without_peers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="subject token"):
        Settings.load(_env_file=None, peer_id="a.b")
    with pytest.raises(ValueError, match="JETFLOW_LEAF_PEERS"):
        natsconf.render("a", leaf(port=7422), port=4222, store_dir=tmp_path)
    with pytest.raises(ValueError, match="to itself"):
        natsconf.render("a", leaf(remotes={"a": "nats-leaf://a:x@h:1"}), port=4222, store_dir=tmp_path)


async def answering(nc: Client, peer: str) -> list[Msg]:
    """A stand-in for `peer`'s engine on its own server: answers `jetflow.peer.<peer>.>` with its name."""
    heard: list[Msg] = []

    async def answer(msg: Msg) -> None:
        heard.append(msg)
        await msg.respond(json.dumps({"peer": peer, "subject": msg.subject}).encode())

    await nc.subscribe(f"{subjects.PEER_PREFIX}.{peer}.>", queue=f"jetflow-peer-{peer}", cb=answer)
    return heard


@pytest.mark.timeout(60)
async def test_three_peers_reach_each_other_only_through_peer_requests(tmp_path: Path) -> None:
    settings = Settings.load(_env_file=None)
    async with federation(tmp_path, "a", "b", "c") as urls:
        clients = {peer: await nats.connect(url) for peer, url in urls.items()}
        try:
            for peer, nc in clients.items():
                await ensure_streams(nc.jetstream(), settings.nats)  # what each peer's engine declares
                await answering(nc, peer)
                assert (await nc.jetstream().account_info()).domain == peer
            # Every peer's requests reach every other peer, and the replies come back.
            for asker, nc in clients.items():
                for owner in urls:
                    reply = await nc.request(subjects.peer(owner, "credential", "issue"), b"{}", timeout=5)
                    assert json.loads(reply.data)["peer"] == owner, (asker, owner)

            # Everything else stays home: B and C listen on every jetflow subject, A publishes on all of them.
            overheard: list[str] = []

            async def overhear(msg: Msg) -> None:
                overheard.append(msg.subject)

            for peer in "bc":
                await clients[peer].subscribe("jetflow.>", cb=overhear)
                await clients[peer].subscribe("$JS.>", cb=overhear)
            await clients["b"].flush()
            await clients["c"].flush()
            await asyncio.sleep(0.5)  # interest would have crossed the links by now
            js = clients["a"].jetstream()
            for spec in STREAMS:
                subject = spec.subjects[0].replace(">", "x.y")
                ack = await js.publish(subject, b"{}")
                assert (ack.stream, ack.domain) == (spec.name, "a")  # stored by A's own stream
                await clients["a"].publish(subject, b"{}")
            for core in (subjects.ctl_health(), subjects.DISPATCH_WAKE, subjects.SCHEDULER_REFRESH):
                await clients["a"].publish(core, b"{}")
            await clients["a"].flush()
            await asyncio.sleep(0.5)
            assert overheard == []
            for peer in "bc":
                for spec in STREAMS:
                    info = await clients[peer].jetstream().stream_info(spec.name)
                    assert info.state.messages == 0, f"{spec.name} on {peer} captured A's message"
            # Nor can A reach another domain's JetStream API, to create or read B's streams.
            with pytest.raises(nats.js.errors.ServiceUnavailableError):
                await clients["a"].jetstream(domain="b", timeout=1).stream_info(STREAMS[0].name)
        finally:
            for nc in clients.values():
                await nc.close()


@pytest.mark.timeout(60)
async def test_a_server_with_wrong_credentials_is_refused_and_nothing_reaches_the_streams(tmp_path: Path) -> None:
    settings = Settings.load(_env_file=None)
    async with federation(tmp_path, "a", "b") as urls:
        a = await nats.connect(urls["a"])
        heard = await answering(a, "a")
        await ensure_streams(a.jetstream(), settings.nats)
        log = tmp_path / "a" / "logs" / "nats-server.log"
        config = next((tmp_path / "a").glob("nats-server.*.conf")).read_text()
        leaf_port = int(config.split('listen: "127.0.0.1:')[2].split('"')[0])
        # An intruder claims to be b with a wrong password, or presents no credentials at all.
        for url in (f"nats-leaf://b:wrong@127.0.0.1:{leaf_port}", f"nats-leaf://127.0.0.1:{leaf_port}"):
            intruder = servers.nats_server(tmp_path / "intruder", peer_id="b", leaf=leaf(remotes={"a": url}))
            with running(intruder):
                nc = await nats.connect(servers.nats_url(intruder.port))
                try:
                    await wait_for(lambda: log.read_text().count("Authentication Failure") >= 1)
                    for spec in STREAMS:
                        await nc.publish(spec.subjects[0].replace(">", "x"), b"{}")
                    with contextlib.suppress(nats.errors.NoRespondersError, nats.errors.TimeoutError):
                        await nc.request(subjects.peer("a", "credential", "issue"), b"{}", timeout=1)
                        pytest.fail("the intruder's request reached peer a")
                    await nc.flush()
                finally:
                    await nc.close()
            log.write_text("")
        await asyncio.sleep(0.3)
        assert heard == []
        for spec in STREAMS:
            assert (await a.jetstream().stream_info(spec.name)).state.messages == 0
        # The real b, with its own password, still gets through.
        b = await nats.connect(urls["b"])
        reply = await b.request(subjects.peer("a", "credential", "issue"), b"{}", timeout=5)
        assert json.loads(reply.data)["peer"] == "a"
        await b.close()
        await a.close()


async def wait_for(condition: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


def test_nats_config_prints_what_up_runs_and_bad_links_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from engine.cli import app

    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("JETFLOW_PEER_ID", "b")
    monkeypatch.setenv("JETFLOW_LEAF_PORT", "7423")
    monkeypatch.setenv("JETFLOW_LEAF_PEERS", '{"c": "pw-bc"}')
    monkeypatch.setenv("JETFLOW_LEAF_REMOTES", '{"a": "nats-leaf://b:pw-ab@127.0.0.1:7422"}')
    runner = CliRunner()
    printed = runner.invoke(app, ["nats-config", "--port", "4223", "--store-dir", str(tmp_path)])
    assert printed.exit_code == 0, printed.output
    expected = natsconf.render(
        "b",
        leaf(port=7423, peers={"c": "pw-bc"}, remotes={"a": "nats-leaf://b:pw-ab@127.0.0.1:7422"}),
        port=4223,
        store_dir=tmp_path,
    )
    assert printed.output == expected
    refused = runner.invoke(app, ["up", "--state-dir", str(tmp_path / "s"), "--leaf", "nats-leaf://127.0.0.1:7422"])
    assert refused.exit_code == 2
    assert "--leaf takes PEER=VALUE" in refused.output
    looped = runner.invoke(app, ["up", "--state-dir", str(tmp_path / "s"), "--leaf", "c=nats-leaf://b:x@h:7424"])
    assert looped.exit_code == 2
    assert "one link per pair" in looped.output
    monkeypatch.setenv("JETFLOW_PEER_ID", "a.b")
    assert "subject token" in runner.invoke(app, ["nats-config"]).output
