"""MongoDB through Beanie: one client, documents registered at start, and the idempotent-effect helper.

`create_once` is the easy path the architecture asks for: a document whose `_id` is derived from
the cause is inserted, and a replay of the same cause finds it (duplicate key) and gets the stored
one back instead of a second effect. It costs one command the first time and two on a replay.

`refused` tells a store refusal that no retry can change (a query too large for the embedded store, a
value it cannot encode) from a store that is down or busy: the first is a permanent failure, answered at
once, so one poison message does not hold its consumer up for `max_deliver` deliveries. Only refusals
known to be deterministic count; anything else stays temporary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from beanie import Document, init_beanie
from bson.errors import InvalidDocument
from pymongo import AsyncMongoClient
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pymongo.asynchronous.database import AsyncDatabase

    from engine.core.settings import MongoSettings


#: MongoDB error codes of commands that can never succeed as sent (BadValue, FailedToParse, TypeMismatch,
#: Overflow, InvalidLength, PathNotViable, ConflictingUpdateOperators, DollarPrefixedFieldName,
#: EmptyFieldName, DottedFieldName, ImmutableField, BSONObjectTooLarge, document too large).
_REFUSED_CODES = frozenset({2, 9, 14, 15, 16, 28, 40, 52, 56, 57, 66, 10334, 17419, 17420})
#: What the embedded store (SQLite underneath; its errors carry no code) answers to such a command.
_REFUSED_MESSAGES = (
    "Expression tree is too large",
    "malformed JSON",
    "too many SQL variables",
    "string or blob too big",
    "parser stack overflow",
    "too many terms in compound SELECT",
)


def refused(error: BaseException) -> bool:
    """True when the store (or the driver) refused a command for good: sending it again cannot help."""
    if isinstance(error, InvalidDocument):  # the driver cannot encode it (includes DocumentTooLarge)
        return True
    if isinstance(error, BulkWriteError):
        problems = error.details.get("writeErrors", [])
        return bool(problems) and not error.details.get("writeConcernErrors") and all(map(_refused, problems))
    if isinstance(error, OperationFailure) and not isinstance(error, DuplicateKeyError):
        return _refused({"code": error.code, "errmsg": str(error)})
    return False


def _refused(problem: dict[str, object]) -> bool:
    message = str(problem.get("errmsg", ""))
    return problem.get("code") in _REFUSED_CODES or any(marker in message for marker in _REFUSED_MESSAGES)


class StoreUnavailable(RuntimeError):
    """MongoDB could not be reached."""


def _why(error: PyMongoError, settings: MongoSettings) -> str:
    """The driver's reason in a few words (its own message repeats the whole topology, one long line)."""
    text = str(error)
    if isinstance(error, ServerSelectionTimeoutError):
        if "Errno 111" in text or "Connection refused" in text or "Connect call failed" in text:
            return "connection refused"
        if "Name or service not known" in text or "nodename nor servname" in text or "Errno -2" in text:
            return "unknown host"
        return f"no server answered within {settings.timeout:g}s ({text.split(' (configured timeouts')[0]})"
    return text.split(", Timeout:")[0]


class Store:
    def __init__(self, client: AsyncMongoClient[dict[str, object]], database: str) -> None:
        self.client = client
        self.db: AsyncDatabase[dict[str, object]] = client[database]

    @classmethod
    async def connect(cls, settings: MongoSettings, documents: Sequence[type[Document]], url: str) -> Store:
        timeout_ms = int(settings.timeout * 1000)
        try:
            client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
                url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, tz_aware=True
            )
        except PyMongoError as error:  # a malformed URL (ConfigurationError): nothing was opened
            raise StoreUnavailable(f"cannot use MongoDB URL {_redact(url)}: {error}") from None
        store = cls(client, settings.db)
        try:
            await store.db.command("ping")
            await init_beanie(database=store.db, document_models=list(documents))
        except PyMongoError as error:
            await client.close()
            raise StoreUnavailable(f"cannot reach MongoDB at {_redact(url)}: {_why(error, settings)}") from None
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
