"""mongoeco's two storage engines, minus one whole-collection scan per write. Pinned to mongoeco 4.11.0.

Why: on every single-document insert, and on the engine's overwrite path (a document stored again under its
own `_id`, and `$merge`), mongoeco 4.11.0 checks the new `_id` with `scan_payload_id=True`:
`SQLiteEngine._validate_document_against_unique_indexes` and `MemoryEngine._ensure_unique_indexes` then load
and decode every document of the collection to compare `_id`s by BSON equality. That scan only matters for ids
holding a number (1, 1.0, Int64(1) and Decimal128("1") are one `_id` for MongoDB but have different storage
keys); for any other id the storage-key lookup both engines do first already finds the duplicate. Yet the scan
runs for string ids too, so an insert costs O(documents): insert_one on SQLite took 8 ms at 1k documents, 31
ms at 5k, 60 ms at 10k. Worse, the wire server's `insert` command inserts its documents one at a time through
that same path, so a client's insert_many is quadratic in the collection size. (replace_one and update_one
over the wire go through the update path, which never scans.) The library has the guard itself,
`mongoeco.core.identity.id_contains_numeric_value`, and uses it on its other paths (multi-document inserts,
keyed reads); these subclasses apply it to that flag, nothing else: an id with a numeric value is still
scanned, so numeric-equal duplicates are still refused. (The scan also equates in-process Python aliases of
one BSON value, e.g. `bytes` and `Binary(..., 0)`; BSON decoded from the wire always gives one Python type per
BSON type, so a wire client cannot produce such a pair.)

To report upstream (mongoeco): skip the payload-id scan when `id_contains_numeric_value(_id)` is false, or
better, keep `_id`s in a canonical equality key (`bson_equality_key`) so numeric ids need no scan either;
and let the wire `insert` command use the engine's batch insert instead of one insert_one per document.
On upgrade, tests/test_embedded_store.py fails if the overridden methods or their flag disappear.

Durability (SQLite), checked in 4.11.0, nothing to change: `SQLiteEngine._create_sqlite_connection` sets
`journal_mode=WAL` and `synchronous=NORMAL`, and every write outside a client transaction runs in its own
`BEGIN IMMEDIATE` ... `COMMIT` (`_sqlite_session_runtime.begin_write` / `commit_write`) before the wire
server replies. A committed WAL frame is in the OS page cache, so it survives SIGKILL of the store process
(the kernel still writes it out); only a power loss or kernel crash can drop the last commits, which
`synchronous=FULL` would prevent at the price of an fsync per write. jetflow's guarantee is the former
(tests/test_embedded_store.py kills the store child with SIGKILL and reads back what was acknowledged).
"""

from __future__ import annotations

from typing import Any

from mongoeco.core.identity import id_contains_numeric_value
from mongoeco.engines import memory, sqlite

__all__ = ["PatchedMemoryEngine", "PatchedSQLiteEngine"]


def needs_payload_id_scan(document: dict[str, Any]) -> bool:
    """Whether another stored `_id` can equal this one without sharing its storage key (mongoeco's own test)."""
    return id_contains_numeric_value(document.get("_id"))


class PatchedMemoryEngine(memory.MemoryEngine):
    def _ensure_unique_indexes(
        self,
        db_name: str,
        coll_name: str,
        candidate: dict[str, Any],
        *,
        scan_payload_id: bool = False,
        **options: Any,
    ) -> None:
        scan_payload_id = scan_payload_id and needs_payload_id_scan(candidate)
        super()._ensure_unique_indexes(db_name, coll_name, candidate, scan_payload_id=scan_payload_id, **options)


class PatchedSQLiteEngine(sqlite.SQLiteEngine):
    def _validate_document_against_unique_indexes(
        self,
        db_name: str,
        coll_name: str,
        document: dict[str, Any],
        *,
        scan_payload_id: bool = False,
        **options: Any,
    ) -> None:
        scan_payload_id = scan_payload_id and needs_payload_id_scan(document)
        super()._validate_document_against_unique_indexes(
            db_name, coll_name, document, scan_payload_id=scan_payload_id, **options
        )
