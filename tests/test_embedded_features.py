"""The SQLite engine's planner answers kept across writes (engine/embedded/features.py), the keyed lookup of
`{_id, ...}` filters (engine/embedded/keyed.py), long `$in`/`$nin` lists (engine/embedded/membership.py) and the
index of multikey entries by document (engines.py): no whole-collection pass per transition, the same results
as mongoeco's own engine after a write of a type the collection did not hold, and overrides that still apply.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pytest
from bson import DBRef, Decimal128
from mongoeco.core.query_plan import AndCondition, InCondition, NotInCondition, OrCondition
from mongoeco.engines import sqlite
from pymongo.errors import OperationFailure

from engine.embedded import features, membership
from engine.embedded.engines import PatchedSQLiteEngine
from tests.test_embedded_store import served

if TYPE_CHECKING:
    from pathlib import Path

    from pymongo.asynchronous.collection import AsyncCollection

STORED = 400
#: The library methods PatchedSQLiteEngine overrides for these two fixes, and the parameters it relies on.
OVERRIDDEN = {
    "_invalidate_collection_features_cache": ("db_name", "coll_name"),
    "_select_first_document_for_plan": ("db_name", "coll_name", "plan", "hint", "context"),
    "_validate_document_against_unique_indexes": ("db_name", "coll_name", "document", "scan_payload_id"),
    "_connect_sync": (),
    "_translate_query_plan_with_multikey": ("db_name", "coll_name", "plan"),
    "_sort_requires_python": ("db_name", "coll_name", "plan", "sort"),
}
#: One feature question per kind features.py revises: (method arguments after db and collection, a document).
QUESTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "tagged_type": (("n", "decimal128_public"), {"_id": "q", "n": Decimal128("1")}),
    "top_level_array": (("n",), {"_id": "q", "n": [1]}),
    "contains_real_numeric": (("n",), {"_id": "q", "n": 1.5}),
    "contains_non_ascii_text": (("n",), {"_id": "q", "n": "é"}),
    "comparison_mismatch": (("n", "number"), {"_id": "q", "n": "x"}),
    "scalar_or_array_comparison_mismatch": (("n", "number"), {"_id": "q", "n": ["x"]}),
    "traverses_array": (("a.n",), {"_id": "q", "a": [{"n": 1}]}),
    "traverses_dbref": (("a.n",), {"_id": "q", "a": DBRef("other", 1)}),
    "uniform_scalar_sort_type": (("n",), {"_id": "q", "n": 1}),
}


def execution(index: int, state: str = "planned") -> dict[str, Any]:
    return {"_id": f"bk-{index}-20261201t103000", "booking": f"bk-{index}", "state": state, "n": index}


async def transition(executions: AsyncCollection[dict[str, Any]], index: int, target: str) -> None:
    # As engine/executions/store.py's Transitions.move: a compare-and-set on `_id` and the preceding states.
    others = [state for state in ("planned", "due", "running") if state != target]
    result = await executions.update_one(
        {"_id": execution(index)["_id"], "state": {"$in": others}}, {"$set": {"state": target}}
    )
    assert result.modified_count == 1


def collection_scans(statements: list[str]) -> list[str]:
    """Statements reading mongoeco's `documents` table other than by primary key."""
    return [sql for sql in statements if "FROM documents" in sql and "storage_key =" not in sql and "IN (" not in sql]


def test_the_overridden_library_methods_still_exist() -> None:
    # On a mongoeco upgrade that renames one of these, the subclass would silently stop applying.
    for method, parameters in OVERRIDDEN.items():
        assert method in vars(PatchedSQLiteEngine)
        assert method in vars(sqlite.SQLiteEngine), f"SQLiteEngine.{method} is gone: re-check engine/embedded"
        signature = inspect.signature(getattr(sqlite.SQLiteEngine, method)).parameters
        assert set(parameters) <= set(signature), (method, list(signature))
    for kind, (method, _) in {**features.EXISTENCE, **features.UNIFORM}.items():
        assert callable(getattr(sqlite.SQLiteEngine, method, None)), f"{kind}: SQLiteEngine.{method} is gone"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", sorted(QUESTIONS))
async def test_each_feature_kind_caches_the_key_features_parses(kind: str, tmp_path: Path) -> None:
    # The library's key format is what features.feature_method parses back: a changed format would only drop
    # answers (safe, but the scans would be back), so it is checked here, kind by kind.
    engine = PatchedSQLiteEngine(str(tmp_path / "store.sqlite3"))
    arguments, document = QUESTIONS[kind]
    async with served(engine) as collection:
        await collection.insert_one(document)
        db_name, coll_name = collection.database.name, collection.name
        method, _ = {**features.EXISTENCE, **features.UNIFORM}[kind]
        getattr(engine, method)(db_name, coll_name, *arguments)
        keys = [key for key in engine._collection_features_cache if key[:2] == (db_name, coll_name)]
        assert [key[2].partition(":")[0] for key in keys] == [kind], keys
        assert features.feature_method(keys[0][2]) == (method, list(arguments))
        # The library's answer for the collection equals the revision's answer for the written document.
        answer = engine._collection_features_cache[keys[0]]
        assert answer not in (None, False), (kind, answer)
        await collection.insert_one({**document, "_id": "again"})
        assert engine._collection_features_cache.get(keys[0]) == answer


@pytest.mark.timeout(60)
async def test_a_transition_after_a_write_reads_no_whole_collection(tmp_path: Path) -> None:
    for patched in (False, True):
        folder = tmp_path / ("patched" if patched else "library")
        folder.mkdir()
        engine = (PatchedSQLiteEngine if patched else sqlite.SQLiteEngine)(str(folder / "store.sqlite3"))
        async with served(engine) as executions:
            await executions.create_index("booking")
            await executions.insert_many([execution(i) for i in range(STORED)])
            await transition(executions, 1, "due")  # the planner's answers are cached now
            statements: list[str] = []
            connection = engine._connection
            assert connection is not None
            connection.set_trace_callback(statements.append)
            await transition(executions, 2, "due")  # after a write: the library asks again
            await transition(executions, 2, "running")
            connection.set_trace_callback(None)
            scans = collection_scans(statements)
            if patched:
                assert scans == []
            else:  # the instrument sees the passes the subclass removes
                assert len(scans) >= 2, statements
            assert (await executions.find_one({"_id": execution(2)["_id"]}) or {})["state"] == "running"


#: A collection without some type, a filter the planner checks that type for, and a document bringing it.
STALE_AFTER_A_WRITE = {
    "decimal": ({"n": {"$gt": 5}}, Decimal128("10")),
    "array": ({"n": {"$gt": 5}}, [1, 10]),
    "array under a path": ({"a.n": {"$gt": 5}}, None),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("write", ["insert", "transition"])
@pytest.mark.parametrize("case", sorted(STALE_AFTER_A_WRITE))
async def test_a_query_sees_a_type_written_after_its_answer_was_cached(case: str, write: str, tmp_path: Path) -> None:
    query, value = STALE_AFTER_A_WRITE[case]

    def stored(index: int) -> dict[str, Any]:
        return {**execution(index), "a": {"n": index}}

    def newcomer(document: dict[str, Any]) -> dict[str, Any]:
        return {**document, "a": [{"n": 10}]} if value is None else {**document, "n": value}

    async def run(engine: Any) -> list[str]:
        async with served(engine) as executions:
            await executions.insert_many([stored(i) for i in range(8)])
            assert len(await executions.find(query).to_list()) == 2  # answers cached: no such type stored
            if write == "insert":
                await executions.insert_one(newcomer(stored(8)))
            else:  # the same compare-and-set as a transition, bringing the new type with it
                changed = newcomer(stored(0))
                await executions.update_one(
                    {"_id": changed["_id"], "state": {"$in": ["planned"]}},
                    {"$set": {"n": changed["n"], "a": changed["a"], "state": "due"}},
                )
            return sorted(document["_id"] for document in await executions.find(query).to_list())

    expected = await run(sqlite.SQLiteEngine(str(tmp_path / "library.sqlite3")))
    assert len(expected) == 3, expected
    assert await run(PatchedSQLiteEngine(str(tmp_path / "patched.sqlite3"))) == expected
    # The instrument: an engine whose answers outlive every write misses the newcomer.
    stale = PatchedSQLiteEngine(str(tmp_path / "stale.sqlite3"))
    stale._invalidate_collection_features_cache = lambda *args, **kwargs: None  # type: ignore[method-assign]
    assert len(await run(stale)) == 2


def test_revised_answers() -> None:
    # Existence: true once the written documents have it; false stays false only if they lack it.
    assert features.revised("tagged_type", False, True) is True
    assert features.revised("tagged_type", True, True) is True
    assert features.revised("tagged_type", False, False) is False
    assert features.revised("tagged_type", True, False) is None  # the last one may have been overwritten
    # One uniform scalar type: kept only when the written documents have it too.
    assert features.revised("uniform_scalar_sort_type", "number", "number") == "number"
    assert features.revised("uniform_scalar_sort_type", "number", "string") is None
    assert features.revised("uniform_scalar_sort_type", "number", False) is False
    assert features.revised("uniform_scalar_sort_type", False, "number") is None
    assert features.feature_method("tagged_type:a:b:decimal") == (
        "_field_contains_tagged_value_type_in_collection",
        ["a:b", "decimal"],
    )
    assert features.feature_method("top_level_array:a:b") == ("_field_is_top_level_array_in_collection", ["a:b"])
    assert features.feature_method("some_new_kind:a") is None
    assert features.feature_method("tagged_type:a") is None


@pytest.mark.timeout(30)
async def test_keyed_lookup_keeps_the_filter_and_numeric_ids(tmp_path: Path) -> None:
    async with served(PatchedSQLiteEngine(str(tmp_path / "store.sqlite3"))) as executions:
        await executions.insert_many([execution(i) for i in range(5)] + [{"_id": 1, "state": "planned"}])
        refused = await executions.update_one(
            {"_id": execution(1)["_id"], "state": {"$in": ["due"]}}, {"$set": {"state": "running"}}
        )
        assert refused.matched_count == 0
        missing = await executions.update_one({"_id": "nope", "state": "planned"}, {"$set": {"state": "due"}})
        assert missing.matched_count == 0
        moved = await executions.find_one_and_update(
            {"_id": execution(1)["_id"], "state": "planned", "paused": {"$ne": True}}, {"$set": {"state": "due"}}
        )
        assert moved is not None
        assert moved["state"] == "planned"
        # A numeric id keeps the library's path, where 1.0 finds the stored 1.
        numeric = await executions.update_one({"_id": 1.0, "state": "planned"}, {"$set": {"state": "due"}})
        assert numeric.modified_count == 1
        deleted = await executions.delete_one({"_id": execution(2)["_id"], "state": {"$in": ["planned"]}})
        assert deleted.deleted_count == 1
        assert await executions.count_documents({}) == 5


@pytest.mark.timeout(30)
async def test_a_write_finds_its_multikey_entries_by_index(tmp_path: Path) -> None:
    # The delete every write of a document with a multikey index runs first (mongoeco's own statement).
    delete = "DELETE FROM multikey_entries WHERE collection_id = ? AND storage_key = ?"
    for patched in (False, True):
        path = tmp_path / f"{patched}.sqlite3"
        engine = (PatchedSQLiteEngine if patched else sqlite.SQLiteEngine)(str(path))
        async with served(engine) as executions:
            await executions.create_index("resources")
            await executions.insert_one({**execution(1), "resources": ["node-a", "minio-b"]})
            connection = engine._connection
            assert connection is not None
            plan = " ".join(row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + delete, (1, "k")))
        if patched:
            assert "(collection_id=? AND storage_key=?)" in plan, plan
        else:  # if this fails, mongoeco indexes it itself now: drop MULTIKEY_BY_DOCUMENT from engines.py
            assert "storage_key=?" not in plan, plan


#: More values than SQLite's expression depth lets mongoeco 4.11.0 translate in one `$in` (~450).
LONG = 1_000
#: Executions stored for the long-list test (the cost of a long `$in` on a field grows with values × rows).
ROWS = 600


async def long_lists(executions: AsyncCollection[dict[str, Any]]) -> dict[str, object]:
    """What each kind of command answers with a LONG-value `$in` and `$nin`, on ROWS stored executions."""
    await executions.insert_many([execution(i) for i in range(ROWS)])
    await executions.create_index([("state", 1), ("n", 1)])
    wanted = [f"bk-{i}" for i in range(0, 2 * LONG, 2)]  # every other booking, half of them stored
    inside = {"booking": {"$in": wanted}, "state": "planned"}
    outside = {"booking": {"$nin": wanted}, "state": {"$ne": "gone"}}
    found = [doc["n"] async for doc in executions.find(inside).sort("n", -1)]
    others = [doc["n"] async for doc in executions.find(outside).sort("n", 1)]
    counted = await executions.count_documents(inside)
    updated = (await executions.update_many(inside, {"$set": {"state": "due"}})).modified_count
    distinct = sorted(await executions.distinct("state", {"booking": {"$in": wanted}}))
    every_third = [execution(i)["_id"] for i in range(0, 3 * LONG, 3)]  # keyed by primary key (keyed.py)
    deleted = (await executions.delete_many({"_id": {"$in": every_third}})).deleted_count
    return {
        "found": found,
        "others": others,
        "counted": counted,
        "updated": updated,
        "distinct": distinct,
        "deleted": deleted,
        "left": await executions.count_documents({}),
    }


@pytest.mark.timeout(120)
async def test_long_in_and_nin_lists_answer_as_mongodb_would(tmp_path: Path) -> None:
    async with served(PatchedSQLiteEngine(str(tmp_path / "store.sqlite3"))) as executions:
        answers = await long_lists(executions)
    evens = list(range(0, ROWS, 2))
    assert answers == {
        "found": evens[::-1],
        "others": list(range(1, ROWS, 2)),
        "counted": ROWS // 2,
        "updated": ROWS // 2,
        "distinct": ["due"],
        "deleted": ROWS // 3,
        "left": ROWS - ROWS // 3,
    }


@pytest.mark.timeout(60)
async def test_the_library_alone_still_refuses_long_in_lists(tmp_path: Path) -> None:
    """When this fails, mongoeco translates long lists itself: drop membership.py and its two overrides."""
    async with served(sqlite.SQLiteEngine(str(tmp_path / "library.sqlite3"))) as executions:
        await executions.insert_many([execution(i) for i in range(10)])
        with pytest.raises(OperationFailure, match="Expression tree is too large"):
            await executions.count_documents({"booking": {"$in": [f"bk-{i}" for i in range(LONG)]}})


def test_a_long_list_becomes_a_shallow_tree_of_short_ones() -> None:
    def depth(plan: object) -> int:
        if isinstance(plan, AndCondition | OrCondition):
            return 1 + max(depth(clause) for clause in plan.clauses)
        assert isinstance(plan, InCondition | NotInCondition)
        assert len(plan.values) <= membership.CHUNK
        return 0

    values = tuple(range(100_000))
    tree = membership.nested(AndCondition((InCondition("a", values), NotInCondition("b", values[:250]))))
    assert isinstance(tree, AndCondition)
    wide, narrow = tree.clauses
    assert isinstance(wide, OrCondition)
    assert isinstance(narrow, AndCondition)
    assert depth(wide) == 10  # 1,000 chunks, paired up: ceil(log2(1000))
    leaves: list[object] = []

    def collect(plan: object) -> None:
        if isinstance(plan, AndCondition | OrCondition):
            for clause in plan.clauses:
                collect(clause)
        else:
            assert isinstance(plan, InCondition)
            leaves.extend(plan.values)

    collect(wide)
    assert tuple(leaves) == values
    short = InCondition("a", values[: membership.CHUNK])
    assert membership.nested(short) is short


async def test_an_id_membership_of_strings_is_looked_up_by_primary_key(tmp_path: Path) -> None:
    engine = PatchedSQLiteEngine(str(tmp_path / "store.sqlite3"))
    async with served(engine) as executions:
        await executions.insert_many([{"_id": "a"}, {"_id": 1}])
        sql, params = engine._translate_query_plan_with_multikey("t", "c", InCondition("_id", ("a", "b")))
        assert sql == "documents.storage_key IN (?, ?)"
        assert params == [engine._storage_key("a"), engine._storage_key("b")]
        # Numbers have several storage keys (1 and 1.0 are one `_id`): the library's own path, which leaves
        # the filter to its Python matcher.
        with pytest.raises(NotImplementedError, match="Numeric identity"):
            engine._translate_query_plan_with_multikey("t", "c", InCondition("_id", ("a", 1.0)))
        assert await executions.count_documents({"_id": {"$in": ["a", 1.0, "b"]}}) == 2
