"""mongoeco's two storage engines, minus the whole-collection scans per write. Pinned to mongoeco 4.11.0.

Six fixes, each an override of one library method or declaration that keeps the library's own code: the `_id`
scan of an insert (below), and, on SQLite only, the planner's feature passes after every write (features.py),
the scan of a filter on `_id` and other fields (keyed.py), long `$in` lists SQLite refuses (membership.py), a
missing index (MULTIKEY_BY_DOCUMENT, below) and the change-stream delivery no wire client can read
(WIRE_CHANGE_DELIVERY, below).
tests/test_embedded_store.py and test_embedded_features.py fail if an override stops applying.

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

import dataclasses
import itertools
import logging
import sqlite3
from typing import Any, Literal

from mongoeco.core.filtering import QueryEngine
from mongoeco.core.identity import id_contains_numeric_value
from mongoeco.engines import memory, sqlite

from engine.embedded import features, keyed, membership

__all__ = ["PatchedMemoryEngine", "PatchedSQLiteEngine"]

log = logging.getLogger(__name__)
#: Storage keys per read-back query (SQLite allows 32,766 parameters since 3.32).
READ_BACK = 500
#: Every write of a document in a collection with a multikey index (jetflow's `resources`) first deletes that
#: document's rows from `multikey_entries` by (collection_id, storage_key); mongoeco 4.11.0 indexes that pair for
#: `scalar_index_entries` (idx_scalar_index_entries_storage) but not for `multikey_entries`, so the delete
#: scans every entry of the collection: ~2.5 ms per write at 10k documents, and insert_many's batch path pays it
#: per document. The same index as the scalar one, created after the library's own schema at each connect.
MULTIKEY_BY_DOCUMENT = (
    "CREATE INDEX IF NOT EXISTS jetflow_multikey_entries_storage ON multikey_entries (collection_id, storage_key)"
)


#: How the SQLite engine hands committed changes to change streams. mongoeco 4.11.0 declares its SQLite engine a
#: "transactional-outbox": after every write outside a transaction, on the event loop's thread, the API layer
#: registers a change consumer, then `SQLiteEngine.dispatch_committed_changes` takes a lease on the outbox (an
#: SQLite commit), starts and joins a heartbeat thread, reads the new outbox rows, hands each to the in-process
#: change hub with a checkpoint commit, and releases the lease (another commit): three to four extra commits and a
#: thread per write, while the event loop waits. But the wire server refuses `$changeStream` ("Unsupported
#: aggregation stage", tests/test_embedded_store.py), so no client of `jetflow up`'s store can ever read that hub;
#: JetStream is jetflow's change log. Declaring "none", the memory-engine-like mode in which the API publishes to
#: the hub after the write returns, skips the registration, the lease, the thread and the commits; writes and
#: their durability are the engine's own, unchanged (the outbox rows the engine still appends are compacted at
#: once, there being no consumer). Measured over the wire, sequentially: insert_one 8.3 -> 2.4 ms, a
#: find_one_and_update 8.2 -> 3.5 ms (bench/bench_store.py prints the figures). To report upstream: dispatch only
#: when a change stream is open, and off the event loop.
WIRE_CHANGE_DELIVERY: Literal["none"] = "none"


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
    """Also keeps planner answers across writes (features.py), looks `{_id, ...}` up by key (keyed.py),
    translates long `$in` / `$nin` lists in SQL SQLite accepts (membership.py) and indexes `multikey_entries`
    by document (MULTIKEY_BY_DOCUMENT), and feeds no change streams through its outbox (WIRE_CHANGE_DELIVERY)."""

    capabilities = dataclasses.replace(sqlite.SQLiteEngine.capabilities, change_delivery=WIRE_CHANGE_DELIVERY)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._written = features.Written()

    def _connect_sync(self) -> None:
        super()._connect_sync()
        with self._lock:
            connection = self._connection
            if connection is not None:
                connection.execute(MULTIKEY_BY_DOCUMENT)
                connection.commit()

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
        # Every path that stores a document validates it first: this is the record of what a write stores.
        if "_id" in document:
            self._written.add(db_name, coll_name, self._storage_key(document["_id"]))
        else:
            self._written.add(db_name, coll_name, None)

    def _invalidate_collection_features_cache(self, db_name: str | None = None, coll_name: str | None = None) -> None:
        if db_name is None or coll_name is None:
            self._written.forget()
            super()._invalidate_collection_features_cache(db_name, coll_name)
            return
        keys = self._written.take(db_name, coll_name)
        cache = self._collection_features_cache
        if not keys or None in keys or not features.has_answers(cache, db_name, coll_name):
            super()._invalidate_collection_features_cache(db_name, coll_name)
            return
        payloads = self._stored_payloads(db_name, coll_name, keys)
        try:
            if payloads:
                features.revise(cache, db_name, coll_name, payloads)
                return
        except (AttributeError, TypeError, sqlite3.Error):
            # A mongoeco that answers differently must not fail the write: fall back to its own invalidation.
            log.exception(
                "revising the feature cache of %s.%s failed; dropping it as mongoeco does", db_name, coll_name
            )
        super()._invalidate_collection_features_cache(db_name, coll_name)

    def _select_first_document_for_plan(
        self, db_name: str, coll_name: str, plan: Any, *, hint: Any = None, context: Any = None
    ) -> tuple[str, dict[str, Any]] | None:
        clause = keyed.id_clause(plan) if hint is None else None
        if clause is None:
            return super()._select_first_document_for_plan(db_name, coll_name, plan, hint=hint, context=context)
        # The library's own keyed lookup for the `_id` clause, then its Python matcher for the whole filter.
        selected: tuple[str, dict[str, Any]] | None = super()._select_first_document_for_plan(
            db_name, coll_name, clause, context=context
        )
        if selected is None or not QueryEngine.match_plan(selected[1], plan):
            return None
        return selected

    def _translate_query_plan_with_multikey(self, db_name: str, coll_name: str, plan: Any) -> tuple[str, list[object]]:
        if (ids := keyed.id_membership(plan)) is not None:  # by primary key (keyed.py)
            keys: list[object] = [self._storage_key(value) for value in ids.values]
            return f"documents.storage_key IN ({', '.join('?' * len(keys))})", keys
        fragment: tuple[str, list[object]] = super()._translate_query_plan_with_multikey(
            db_name, coll_name, membership.nested(plan)
        )
        return fragment

    def _sort_requires_python(self, db_name: str, coll_name: str, plan: Any, sort: Any) -> bool:
        return bool(super()._sort_requires_python(db_name, coll_name, membership.nested(plan), sort))

    def _stored_payloads(self, db_name: str, coll_name: str, keys: set[str | None]) -> list[str]:
        """The written documents as the write left them in mongoeco's `documents` table (by primary key)."""
        connection = self._require_connection()
        payloads: list[str] = []
        for chunk in itertools.batched(sorted(key for key in keys if key is not None), READ_BACK, strict=False):
            marks = ", ".join("?" * len(chunk))
            rows = connection.execute(
                "SELECT document FROM documents WHERE db_name = ? AND coll_name = ? AND storage_key IN (" + marks + ")",
                (db_name, coll_name, *chunk),
            )
            payloads += [str(row[0]) for row in rows]
        return payloads
