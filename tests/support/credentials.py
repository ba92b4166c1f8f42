"""Shared steps of the credential tests: run an engine in-process, publish catalog entries, decode Secrets."""

from __future__ import annotations

import base64
import json
import re
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from tests.support.engines import Engines
from tests.support.polling import eventually
from tests.support.streams import request_json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client

    from engine.runtime import Runtime
    from engine.settings import Settings
    from tests.support.kube import KubeHarness


@asynccontextmanager
async def jetflow(settings: Settings, nats_url: str, mongo_url: str) -> AsyncIterator[Runtime]:
    """One engine for the block (the `engines` fixture does the same for a whole test)."""
    async with Engines(settings, nats_url, mongo_url) as engines:
        yield await engines.runtime()


async def publish_catalog(client: Client, *entries: dict[str, Any], subject: str = "jetflow.resource.upsert") -> None:
    """Publish resources (or workflows) and wait until the catalog serves the last of them."""
    js = client.jetstream()
    for entry in entries:
        await js.publish(subject, json.dumps(entry).encode())
    family = subject.split(".")[1]
    found = await eventually(
        lambda: request_json(client, f"jetflow.ctl.{family}.get", {"id": entries[-1]["id"]}),
        lambda found: found.get("status") != "error",
        timeout=10.0,
    )
    if found.get("status") == "error":
        raise TimeoutError(f"{entries[-1]['id']} never reached the catalog")


async def secret_values(kube: KubeHarness, namespace: str, name: str) -> dict[str, str] | None:
    secret = await kube.client.get("v1", "Secret", namespace, name)
    if secret is None:
        return None
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def unwrapped(blob: bytes, depth: int = 3) -> list[bytes]:
    """`blob` and whatever its base64-looking runs decode to, recursively: encoding is not sealing."""
    parts = [blob]
    if depth == 0:
        return parts
    for run in re.findall(rb"[A-Za-z0-9+/_-]{16,}={0,2}", blob):
        for decoder in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded = decoder(run + b"=" * (-len(run) % 4))
            except ValueError:
                continue
            parts += unwrapped(decoded, depth - 1)
    return parts
