"""MongoDB through Beanie: one client, documents registered at start, and the idempotent-effect helper.

`create_once` is the easy path the architecture asks for: a document whose `_id` is derived from
the cause is inserted, and a replay of the same cause finds it (duplicate key) and gets the stored
one back instead of a second effect. It costs one command the first time and two on a replay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pymongo.asynchronous.database import AsyncDatabase

    from engine.settings import Settings


class StoreUnavailable(RuntimeError):
    """MongoDB could not be reached."""


class Store:
    def __init__(self, client: AsyncMongoClient[dict[str, object]], database: str) -> None:
        self.client = client
        self.db: AsyncDatabase[dict[str, object]] = client[database]

    @classmethod
    async def connect(cls, settings: Settings, documents: Sequence[type[Document]], url: str) -> Store:
        timeout_ms = int(settings.mongo.timeout * 1000)
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, tz_aware=True
        )
        store = cls(client, settings.mongo.db)
        try:
            await store.db.command("ping")
            await init_beanie(database=store.db, document_models=list(documents))
        except PyMongoError as error:
            await client.close()
            raise StoreUnavailable(f"cannot reach MongoDB at {_redact(url)}: {error}") from error
        return store

    async def ping(self) -> bool:
        try:
            await self.db.command("ping")
        except PyMongoError:
            return False
        return True

    async def close(self) -> None:
        await self.client.close()


async def create_once[D: Document](document: D) -> tuple[D, bool]:
    """Insert `document` (its id derived from its cause); on a replay return the stored one.

    Returns the document and whether this call created it.
    """
    # Idempotency guard: the unique _id turns a second insert of the same effect into a lookup.
    try:
        await document.insert()
    except DuplicateKeyError:
        stored = await type(document).get(document.id)
        if stored is None:  # deleted between the two commands: the effect is gone, create it again
            return await create_once(document)
        return stored, False
    return document, True


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
