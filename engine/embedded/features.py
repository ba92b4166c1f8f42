"""mongoeco's SQLite planner answers, revised from what a write stored instead of thrown away. Pinned to 4.11.0.

Why: before it compiles a query to SQL, `SQLiteEngine` asks of each field the query names whether the
collection holds values the SQL translation would get wrong: decimals, bytes, `undefined` or DBRefs
(`_field_contains_tagged_value_type_in_collection`, `_field_traverses_dbref_in_collection`), top-level arrays,
reals, non-ASCII text, mismatched comparison types, one uniform scalar type for a sort. Each answer is one SQL
pass over the whole collection (`json_extract`/`json_type` on every document: no index serves it), cached in
`_collection_features_cache` under `(db, collection, "<kind>:<field>[:<argument>]")`. Every write then calls
`_invalidate_collection_features_cache(db, collection)`, which drops all of that collection's answers, so the
next query after a write pays those passes again. A transition (`update_one` on `{_id, state: {$in}}`) asked 7
of them: at 10,000 documents 6 tagged-type passes (2 fields x 3 decimal tags) and 1 array pass, 45 ms each, were
~95 % of its time, and the cost grows with the collection (47 ms at 1k, 139 ms at 100k in bench_scale.py).

How: every document a write stores went through `_validate_document_against_unique_indexes` first (insert,
insert_many, update, upsert, replace, `$merge`: the only mongoeco 4.11.0 paths that put content in the
`documents` table). engines.py records those documents' storage keys, per thread (one engine operation runs in
one thread), and on the targeted invalidation that ends the write, `revise` reads them back as stored and asks
the library's own feature methods the same questions about those documents alone, in a throwaway in-memory
SQLite table of the same shape. With W the written documents as stored (all in the collection now) and every
other document unchanged or deleted since the cached answer was computed, the new answer follows:

- "some document has it" (every kind but the uniform sort type): true if W has it; still false if it was
  false and W lacks it; otherwise unknown (W's old version may have been the only one), so dropped;
- "every document has one scalar type T" (`uniform_scalar_sort_type`): no (False) if W itself is not uniform;
  still T if it was T and W is all T; otherwise dropped.

A dropped answer is recomputed by the library on its next use, as it does today. Everything else keeps the
library's behaviour: a kind this module does not know, a key it cannot parse back, an invalidation with no
recorded write (delete, TTL purge, rename, index change, a failed write's rollback, a transaction abort: all
content removal or whole-cache clears), and the global invalidation, which also forgets the recorded keys. A
failed write always ends in a rollback (`_sqlite_session_runtime.rollback_write` clears every cache) so no
stale record outlives it.

To report upstream: keep the feature answers up to date from the written document instead of dropping them
(or keep per-(collection, field, type) counters), so that a write costs no whole-collection pass.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING, Any

from mongoeco.engines import sqlite

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["EXISTENCE", "UNIFORM", "Written", "feature_method", "has_answers", "revise", "revised"]

#: Feature kinds that say "some document of the collection has it" -> the SQLiteEngine method answering one,
#: and how many arguments follow the field in its key (`tagged_type:<field>:<tag>`).
EXISTENCE: dict[str, tuple[str, int]] = {
    "tagged_type": ("_field_contains_tagged_value_type_in_collection", 1),
    "top_level_array": ("_field_is_top_level_array_in_collection", 0),
    "contains_real_numeric": ("_field_contains_real_numeric_in_collection", 0),
    "contains_non_ascii_text": ("_field_contains_non_ascii_text_in_collection", 0),
    "comparison_mismatch": ("_field_has_comparison_type_mismatch_in_collection", 1),
    "scalar_or_array_comparison_mismatch": ("_field_has_scalar_or_array_element_type_mismatch_in_collection", 1),
    "traverses_array": ("_field_traverses_array_in_collection", 0),
    "traverses_dbref": ("_field_traverses_dbref_in_collection", 0),
}
#: The kind that says "every document holds one scalar type here" ("number", "string", "bool", or False).
UNIFORM: dict[str, tuple[str, int]] = {
    "uniform_scalar_sort_type": ("_field_has_uniform_scalar_sort_type_in_collection", 0),
}
Answer = bool | str
FeatureKey = tuple[str, str, str]


def feature_method(feature: str) -> tuple[str, list[str]] | None:
    """The SQLiteEngine method and its arguments after (db, collection) that cache `feature`, or None."""
    kind, _, rest = feature.partition(":")
    known = EXISTENCE.get(kind) or UNIFORM.get(kind)
    if known is None or not rest:
        return None
    method, extra = known
    arguments = rest.rsplit(":", extra) if extra else [rest]
    return (method, arguments) if len(arguments) == 1 + extra else None


class Written:
    """Storage keys of the documents each thread's current write is storing, per (db, collection)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _pending(self) -> dict[tuple[str, str], set[str | None]]:
        pending: dict[tuple[str, str], set[str | None]] | None = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = {}
        return pending

    def add(self, db_name: str, coll_name: str, storage_key: str | None) -> None:
        """None: a document without an `_id`, which cannot be read back (the whole write then counts as unknown)."""
        self._pending().setdefault((db_name, coll_name), set()).add(storage_key)

    def take(self, db_name: str, coll_name: str) -> set[str | None]:
        return self._pending().pop((db_name, coll_name), set())

    def forget(self) -> None:
        self._pending().clear()


class _Sandbox:
    """The two attributes mongoeco's feature methods read, over a one-write copy of its `documents` table."""

    def __init__(self, db_name: str, coll_name: str, payloads: Iterable[str]) -> None:
        self._connection = sqlite3.connect(":memory:")
        self._connection.execute("CREATE TABLE documents (db_name TEXT, coll_name TEXT, document TEXT)")
        self._connection.executemany(
            "INSERT INTO documents VALUES (?, ?, ?)", [(db_name, coll_name, payload) for payload in payloads]
        )
        self._collection_features_cache: dict[FeatureKey, Answer] = {}

    def _require_connection(self, context: object = None) -> sqlite3.Connection:
        return self._connection

    def answer(self, key: FeatureKey) -> Answer | None:
        """The library's answer for the written documents alone, or None if `key` is not one it would cache."""
        found = feature_method(key[2])
        if found is None:
            return None
        method, arguments = found
        getattr(sqlite.SQLiteEngine, method)(self, key[0], key[1], *arguments)
        return self._collection_features_cache.get(key)  # absent when the key did not parse back to itself

    def close(self) -> None:
        self._connection.close()


def revised(kind: str, cached: Answer, written: Answer) -> Answer | None:
    """The collection's answer after a write whose documents answer `written`; None when it must be recomputed."""
    if kind in UNIFORM:
        if written is False:
            return False
        return cached if cached == written else None
    if written is True:
        return True
    return False if cached is False else None


def revise(cache: dict[FeatureKey, Answer], db_name: str, coll_name: str, payloads: list[str]) -> None:
    """Bring the collection's cached answers up to date with `payloads`, the written documents as stored."""
    mine = [(key, value) for key, value in list(cache.items()) if key[:2] == (db_name, coll_name)]
    if not mine:
        return
    sandbox = _Sandbox(db_name, coll_name, payloads)
    try:
        for key, cached in mine:
            written = sandbox.answer(key)
            value = None if written is None else revised(key[2].partition(":")[0], cached, written)
            if value is None:
                cache.pop(key, None)
            else:
                cache[key] = value
    finally:
        sandbox.close()


def has_answers(cache: dict[FeatureKey, Any], db_name: str, coll_name: str) -> bool:
    return any(key[:2] == (db_name, coll_name) for key in cache)
