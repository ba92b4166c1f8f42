"""Cursor pagination over `_id` order: stable under inserts, one store command per page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection


async def page(
    collection: AsyncCollection[Any], query: dict[str, Any], *, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Documents matching `query` after `cursor`, and the cursor of the next page (None at the end)."""
    if cursor is not None:
        query = {"$and": [query, {"_id": {"$gt": cursor}}]}
    documents = await collection.find(query).sort("_id", 1).limit(limit + 1).to_list()
    more = len(documents) > limit
    documents = documents[:limit]
    return documents, (str(documents[-1]["_id"]) if more and documents else None)
