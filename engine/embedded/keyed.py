"""A filter on `_id` and other fields, looked up by `_id`'s storage key in mongoeco's SQLite engine. Pinned to 4.11.0.

Why: a write that selects one document (update_one, find_one_and_update, delete_one) asks the engine for the
first document matching its filter (`SQLiteEngine._select_first_document_for_plan`). mongoeco looks a bare
`{_id: v}` up by primary key, but for `{_id: v, state: {$in: [...]}}`, a compare-and-set such as jetflow's
transitions, it compiles the whole filter to `json_extract` comparisons, which no index serves: a scan of the
collection (~25 ms at 10k documents, most of a transition once the planner's feature passes are cached).

What: for an `$and` of plain field predicates (equality, `$ne`, `$in`, `$nin`, `$exists`: none reads query
variables or depends on a collation) holding an `_id` equality with no number in the id, engines.py asks the
library for the `_id` clause alone (its own keyed lookup, with its own root-id check) and then matches the
whole filter against that one document with the library's Python matcher, the reference the engine falls back
to whenever its SQL cannot express a filter. The engine's callers ask this only without a collation, sort or
custom dialect (they fall back to Python themselves otherwise). Numeric ids keep the library's path: 1 and 1.0
are one `_id` but not one storage key.

The same holds for `{_id: {$in: [...]}}` of strings or ObjectIds inside any filter (a read of known executions or
bookings): mongoeco compiles it to one `json_extract` test and one multikey `EXISTS` per value and row, O(rows ×
values) (100 ids took 0.3 s on 5,000 documents, 400 took 3 s). `id_membership` gives engines.py such a clause, which
it translates as `storage_key IN (...)` with the library's own storage keys: the primary key finds the documents.
No other value type qualifies (a regex in `$in` is a pattern, a number has several storage keys).

To report upstream: use the storage key whenever an `$and` holds an `_id` equality, not only for a bare one, and
for an `_id` `$in` of values whose storage key is their only form.
"""

from __future__ import annotations

from bson import ObjectId
from mongoeco.core.identity import id_contains_numeric_value
from mongoeco.core.query_plan import (
    AndCondition,
    EqualsCondition,
    ExistsCondition,
    InCondition,
    NotEqualsCondition,
    NotInCondition,
    QueryNode,
)

__all__ = ["PLAIN", "id_clause", "id_membership"]

#: Predicates checked in Python next to the `_id` lookup: field tests with no variables or expressions.
PLAIN = (EqualsCondition, NotEqualsCondition, InCondition, NotInCondition, ExistsCondition)


def id_clause(plan: QueryNode) -> EqualsCondition | None:
    """The `_id` equality whose storage key finds the only document `plan` can match, or None."""
    if not isinstance(plan, AndCondition) or not all(isinstance(clause, PLAIN) for clause in plan.clauses):
        return None
    for clause in plan.clauses:
        if (
            isinstance(clause, EqualsCondition)
            and clause.field == "_id"
            and not id_contains_numeric_value(clause.value)
        ):
            return clause
    return None


def id_membership(plan: QueryNode) -> InCondition | None:
    """`plan` if it is an `_id` `$in` of strings or ObjectIds only (each has one storage key), else None."""
    if (
        isinstance(plan, InCondition)
        and plan.field == "_id"
        and plan.values
        and all(type(value) in (str, ObjectId) for value in plan.values)
    ):
        return plan
    return None
