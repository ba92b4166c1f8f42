"""Cursor pagination: stable under inserts, one store command per page.

Pages follow `_id` order, or a time field then `_id` (keyset: the cursor is the last item's time
and id, so equal times are neither skipped nor repeated).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.core.errors import PermanentError

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection


async def page(
    collection: AsyncCollection[Any],
    query: dict[str, Any],
    *,
    cursor: str | None,
    limit: int,
    by_time: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Documents matching `query` after `cursor`, and the cursor of the next page (None at the end)."""
    if cursor is not None:
        query = {"$and": [query, _after(cursor, by_time)]}
    order = [(by_time, 1), ("_id", 1)] if by_time else [("_id", 1)]
    documents = await collection.find(query).sort(order).limit(limit + 1).to_list()
    more = len(documents) > limit
    documents = documents[:limit]
    if not (more and documents):
        return documents, None
    last = documents[-1]
    return documents, (f"{last[by_time].isoformat()}|{last['_id']}" if by_time else str(last["_id"]))


def _after(cursor: str, by_time: str | None) -> dict[str, Any]:
    if by_time is None:
        return {"_id": {"$gt": cursor}}
    moment, _, last_id = cursor.partition("|")
    try:
        since = datetime.fromisoformat(moment)
    except ValueError:
        raise PermanentError(f"cursor {cursor!r} is not a `next` of this endpoint") from None
    return {"$or": [{by_time: {"$gt": since}}, {by_time: since, "_id": {"$gt": last_id}}]}
