"""Peers on servers of their own: one nats-server per peer linked by leaf nodes (tests/servers.py `federation`),
and one database per peer on the session's store, so no peer reads another's records."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import TYPE_CHECKING

from tests import servers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from engine.settings import Settings


@contextlib.asynccontextmanager
async def federation(folder: Path, *peers: str) -> AsyncIterator[dict[str, str]]:
    """The peers' nats-servers (peer → client URL), once every leaf link carries requests."""
    async with federated(folder, *peers) as started:
        yield started.urls


@contextlib.asynccontextmanager
async def federated(folder: Path, *peers: str) -> AsyncIterator[servers.Federation]:
    """`federation`, with the handle that stops and starts one peer's server."""
    with servers.federation(folder, peers) as started:
        await servers.linked(started.urls)
        yield started


def own_store(settings: Settings, peer: str, **update: object) -> Settings:
    """`settings` for `peer`: its id and a database of its own."""
    return settings.replace(peer_id=peer, mongo_db=f"{peer}-{uuid.uuid4().hex[:10]}", **update)


def leaf_env(started: servers.Federation, peer: str) -> dict[str, str]:
    """`peer`'s leaf links as `EngineProcess` settings: the engine sources its linked peers' public catalogs."""
    leaf = started.leaves[peer]
    return {
        "leaf_peers": json.dumps({other: password.get_secret_value() for other, password in leaf.peers.items()}),
        "leaf_remotes": json.dumps({other: url.get_secret_value() for other, url in leaf.remotes.items()}),
    }
