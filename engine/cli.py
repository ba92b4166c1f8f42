"""The `jetflow` command: `up` (embedded default), `run` (against configured servers), `agent`, `render`,
`peer-key`, `docs` (the AsyncAPI document); the operator commands that speak to a running engine (`status`,
`bookings`, ...) live in engine/ops/ and are registered here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from pydantic import ValidationError

from engine.ops.commands import register as register_operator_commands
from engine.settings import Settings

if TYPE_CHECKING:
    from engine.embedded.process import ChildServer

app = typer.Typer(
    no_args_is_help=True,
    help="jetflow: event-driven workflows on NATS JetStream.",
    epilog="Exit codes: 0 done; 1 refused (unknown id, rejected, nothing to do); 2 usage or settings error; "
    "3 unreachable (NATS, the engine or its store).",
)
log = logging.getLogger("jetflow")


def _version(show: bool) -> None:
    if show:
        from engine.version import VERSION

        print(f"jetflow {VERSION}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """jetflow: event-driven workflows on NATS JetStream."""


def _settings(**overrides: Any) -> Settings:
    """The settings, or one line naming the variable that is wrong (exit 2)."""
    from engine.settings import InvalidSettings

    try:
        return Settings.read(**overrides)
    except InvalidSettings as error:
        print(f"jetflow: {error}", file=sys.stderr)
        raise typer.Exit(2) from None


LogFormat = Annotated[
    Literal["text", "json"] | None,
    typer.Option("--log-format", help="text, or json: one JSON object per line [default: JETFLOW_LOG_FORMAT, text]."),
]


def _setup_logging(verbose: bool, settings: Settings) -> None:
    from engine.logs import setup_logging

    setup_logging(verbose=verbose, log_format=settings.telemetry.log_format)


async def _serve(
    settings: Settings, nats_url: str, mongo_url: str, children: list[ChildServer], *, links: str = ""
) -> None:
    from engine.app import Engine
    from engine.probes import Probes, serve

    engine = Engine(settings, nats_url=nats_url, mongo_url=mongo_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    probes = Probes()
    watching = asyncio.create_task(probes.watch(lambda: engine.health() if engine.health else None))
    # Before the engine starts: liveness answers while a large store opens, readiness says "starting".
    port = settings.telemetry.metrics_port
    metrics = f"http://127.0.0.1:{serve(probes, port)}/metrics (and /healthz, /readyz)" if port is not None else "off"
    as_json = settings.telemetry.log_format == "json"
    try:
        await engine.start()
        if as_json:  # a log collector reads one JSON object per line, on stdout too
            ready = {"peer": settings.peer.id, "nats": nats_url, "mongo": mongo_url, "metrics": metrics, "leaf": links}
            log.info("jetflow ready", extra=ready)
        else:
            print(
                f"jetflow ready\n  peer     {settings.peer.id}\n  NATS     {nats_url}\n  MongoDB  {mongo_url}\n"
                f"{f'  leaf     {links}{chr(10)}' if links else ''}  metrics  {metrics}\n"
                f"  try      nats --server {nats_url} req jetflow.ctl.health ''",
                flush=True,
            )
        await stop.wait()
        if as_json:
            log.info("jetflow stopping")
        else:
            print("jetflow stopping", flush=True)
    finally:
        watching.cancel()
        await engine.stop()
        for child in reversed(children):
            await child.stop()


def _without_cluster(settings: Settings) -> Settings:
    """`jetflow up` with no cluster configured writes manifests to <state_dir>/manifests, and says so."""
    from engine.kube.connect import target

    if target(settings.kube) is not None:
        return settings
    folder = settings.peer.state_dir.resolve() / "manifests"
    warning = (
        f"NO KUBERNETES CLUSTER FOUND (no JETFLOW_KUBECONFIG, ~/.kube/config or in-cluster account): dispatch "
        f"writes manifests to {folder} and NOTHING RUNS. Set JETFLOW_KUBECONFIG to dispatch."
    )
    if settings.telemetry.log_format == "json":
        log.warning(warning)
    else:
        print(f"jetflow: {warning}", file=sys.stderr, flush=True)
    return settings.replace(manifests_dir=folder)


def _fail(message: str, code: int = 2) -> None:
    print(f"jetflow: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """`ID=VALUE` options as a mapping; a malformed one ends the command with its reason."""
    found: dict[str, str] = {}
    for value in values or []:
        peer, sep, rest = value.partition("=")
        if not sep or not peer or not rest:
            _fail(f"{option} takes PEER=VALUE, got {value!r}")
        found[peer] = rest
    return found


def _load(**overrides: object) -> Settings:
    """The settings, with command-line values on top; invalid ones end the command with the reason."""
    return _settings(**{name: value for name, value in overrides.items() if value is not None})


def _links(settings: Settings) -> str:
    """The leaf links, for the ready message (never the passwords)."""
    leaf = settings.leaf
    accepts = f"accepts {', '.join(sorted(leaf.peers))} on {leaf.host}:{leaf.port}" if leaf.port is not None else ""
    remotes = ", ".join(
        f"{peer} ({_no_password(url.get_secret_value())})" for peer, url in sorted(leaf.remotes.items())
    )
    return "; ".join(part for part in (accepts, f"connects to {remotes}" if remotes else "") if part) or "none"


def _no_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}"


@app.command()
def up(
    state_dir: Annotated[Path | None, typer.Option(help="Folder for the embedded servers' data.")] = None,
    nats_port: Annotated[int, typer.Option(help="Port of the embedded nats-server.")] = 4222,
    mongo_port: Annotated[int, typer.Option(help="Port of the embedded store (0: any free port).")] = 0,
    metrics_port: Annotated[int | None, typer.Option(help="Port of the Prometheus /metrics endpoint.")] = None,
    peer_id: Annotated[str | None, typer.Option(help="This peer's id (JETFLOW_PEER_ID; its JetStream domain).")] = None,
    leaf_port: Annotated[
        int | None, typer.Option(help="Accept other peers' leaf connections on this port (JETFLOW_LEAF_PORT).")
    ] = None,
    leaf: Annotated[
        list[str] | None,
        typer.Option(
            help="PEER=nats-leaf://USER:PASSWORD@HOST:PORT: connect to another peer (repeatable; JETFLOW_LEAF_REMOTES)."
        ),
    ] = None,
    leaf_peer: Annotated[
        list[str] | None,
        typer.Option(help="PEER=PASSWORD: a peer that may connect to --leaf-port (repeatable; JETFLOW_LEAF_PEERS)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    log_format: LogFormat = None,
) -> None:
    """Run jetflow on its embedded default: nats-server and a MongoDB-wire store under --state-dir."""
    remotes, peers = _pairs(leaf, "--leaf"), _pairs(leaf_peer, "--leaf-peer")
    settings = _load(
        state_dir=state_dir, metrics_port=metrics_port, peer_id=peer_id, leaf_port=leaf_port, log_format=log_format
    )
    _setup_logging(verbose, settings)
    if remotes or peers:
        try:
            settings = settings.replace(
                leaf_remotes={**settings.leaf.remotes, **remotes}, leaf_peers={**settings.leaf.peers, **peers}
            )
        except ValidationError as error:
            _fail("invalid settings:\n" + "\n".join(f"  {e['msg']}" for e in error.errors()))
    settings = _without_cluster(settings)

    async def main() -> None:
        from engine.embedded import servers
        from engine.embedded.lock import hold_folder

        root = settings.peer.state_dir.resolve()
        root.mkdir(parents=True, exist_ok=True)
        with hold_folder(root):  # one `up` per state folder, until this process exits
            children: list[ChildServer] = []
            try:
                nats_url = settings.nats.url
                nats_url_embedded = nats_url is None
                if nats_url is None:
                    try:
                        nats = servers.nats_server(root, nats_port, peer_id=settings.peer.id, leaf=settings.leaf)
                    except ValueError as error:
                        _fail(str(error))
                    await nats.start()
                    children.append(nats)
                    nats_url = servers.nats_url(nats.port)
                mongo_url = settings.mongo.url
                if mongo_url is None:
                    mongo = servers.mongo_server(root, mongo_port or None)
                    await mongo.start()
                    children.append(mongo)
                    mongo_url = servers.mongo_url(mongo.port)
            except BaseException:
                for child in reversed(children):
                    await child.stop()
                raise
            await _serve(settings, nats_url, mongo_url, children, links=_links(settings) if nats_url_embedded else "")

    _run(main)


@app.command("nats-config")
def nats_config(
    port: Annotated[int, typer.Option(help="Client port of the nats-server.")] = 4222,
    store_dir: Annotated[Path, typer.Option(help="JetStream store folder.")] = Path("/data/jetstream"),
    host: Annotated[str, typer.Option(help="Client interface.")] = "127.0.0.1",
) -> None:
    """Print the nats-server configuration of this peer (JETFLOW_PEER_ID, JETFLOW_LEAF_*), as `up` runs it.

    For servers an operator runs: `jetflow run` against them then behaves as `jetflow up` does.
    """
    from engine.embedded import natsconf

    settings = _load()
    try:
        sys.stdout.write(natsconf.render(settings.peer.id, settings.leaf, port=port, store_dir=store_dir, host=host))
    except ValueError as error:
        _fail(str(error))


@app.command()
def run(
    metrics_port: Annotated[int | None, typer.Option(help="Port of the Prometheus /metrics endpoint.")] = None,
    peer_id: Annotated[str | None, typer.Option(help="This peer's id (JETFLOW_PEER_ID).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    log_format: LogFormat = None,
) -> None:
    """Run the engine alone against JETFLOW_NATS_URL and JETFLOW_MONGO_URL (for a peer's own servers, see
    `jetflow nats-config`)."""
    settings = _load(metrics_port=metrics_port, peer_id=peer_id, log_format=log_format)
    _setup_logging(verbose, settings)
    nats_url, mongo_url = settings.nats.url, settings.mongo.url
    if nats_url is None or mongo_url is None:
        _fail("`jetflow run` needs JETFLOW_NATS_URL and JETFLOW_MONGO_URL (or use `jetflow up`)")
        return
    _run(lambda: _serve(settings, nats_url, mongo_url, []))


@app.command("peer-key")
def peer_key(
    new: Annotated[bool, typer.Option("--new", help="Print a new private key for JETFLOW_PEER_PRIVATE_KEY.")] = False,
) -> None:
    """Print this peer's public key (for Resource.public_key in the catalog); generated on first use."""
    from engine.credentials.sealing import PeerKey, generate_private_key, public_key_of

    if new:
        private = generate_private_key()
        print(f"JETFLOW_PEER_PRIVATE_KEY={private}\npublic key: {public_key_of(private)}")
        return
    print(PeerKey(_settings().peer).public_key)


@app.command()
def agent(
    node: Annotated[str, typer.Option(help="This node's name (the subject token and the resource's node).")],
    nats_url: Annotated[
        str | None, typer.Option(help="NATS server URL [default: JETFLOW_NATS_URL, else nats://127.0.0.1:4222].")
    ] = None,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between samples.")] = 5.0,
    count: Annotated[
        int | None, typer.Option(help="Stop after this many samples (default: run until stopped).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    log_format: LogFormat = None,
) -> None:
    """Sample this machine (cpu, memory, load per core, disk) and publish on jetflow.metric.sample.<node>."""
    from schemas.subjects import metric_sample

    try:
        metric_sample(node)
    except ValueError as error:
        _fail(str(error))
    from engine.throttle import agent as node_agent

    settings = _load(log_format=log_format)
    _setup_logging(verbose, settings)
    url = nats_url or settings.nats.url or "nats://127.0.0.1:4222"
    _run(lambda: node_agent.run(url, node, interval, count=count, settings=settings.nats))


@app.command()
def render(
    target: Annotated[str, typer.Argument(help="An execution id, or a booking request JSON file.")],
    catalog: Annotated[
        Path | None, typer.Option(help='Catalog file {"resources": [...], "workflows": [...]} instead of the store.')
    ] = None,
) -> None:
    """Print every manifest dispatch would create for an execution (or a booking's first one), as YAML."""
    from datetime import timedelta

    from engine.core.errors import PermanentError
    from engine.dispatch.render import render as render_manifests

    settings = _settings()
    if settings.mongo.url is None:
        from engine.embedded.servers import running_store_url

        # Next to a running `jetflow up` (same state folder), read its embedded store.
        if (url := running_store_url(settings.peer.state_dir.resolve())) is not None:
            settings = settings.replace(mongo_url=url)
    try:
        text = render_manifests(
            target,
            settings.dispatch,
            settings.peer,
            settings.mongo,
            limit=settings.booking.max_executions,
            cron_duration=timedelta(seconds=settings.booking.cron_duration),
            catalog=catalog,
        )
    except PermanentError as error:
        _fail(error.reason)
        return
    except ValueError as error:  # an invalid booking or catalog file
        _fail(str(error))
        return
    sys.stdout.write(text)


@app.command()
def docs(
    output_format: Annotated[
        Literal["yaml", "json"], typer.Option("--format", help="yaml (for people) or json (for tools).")
    ] = "yaml",
) -> None:
    """Print jetflow's AsyncAPI 3.0.0 document: every subject with its payload schema, the jetflow.ctl and
    peer request/reply endpoints with their replies (the checked-in schemas/asyncapi.json)."""
    import json

    import yaml

    from schemas.asyncapi import document

    doc = document()
    text = json.dumps(doc, indent=2) + "\n" if output_format == "json" else yaml.safe_dump(doc, sort_keys=False)
    sys.stdout.write(text)


register_operator_commands(app)


def _run(main: object) -> None:
    from engine.connection import NatsUnavailable
    from engine.core.store import StoreUnavailable

    try:
        asyncio.run(main())  # type: ignore[operator]
    except (NatsUnavailable, StoreUnavailable) as error:
        _fail(str(error), 3)
    except (RuntimeError, OSError) as error:
        _fail(str(error))
    except KeyboardInterrupt:
        pass


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        app()
