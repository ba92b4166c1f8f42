"""Long `$in` / `$nin` lists on mongoeco's SQLite engine, in SQL that SQLite accepts. Pinned to 4.11.0.

Why: mongoeco 4.11.0 translates `{field: {$in: [v1, …, vN]}}` into one flat chain of 2·N `OR` terms (a scalar
test and an array test per value), and SQLite refuses an expression nested deeper than 1,000
(SQLITE_MAX_EXPR_DEPTH): from about 450 values on, the query fails with "Expression tree is too large
(maximum depth 1000)". MongoDB has no such limit, and jetflow's scheduler sends such lists when a burst of
bookings is confirmed between two refills (one `booking $in` per nudged booking): every refill then failed,
and no timer was armed again until a restart.

What: before the engine translates a filter to SQL (`_translate_query_plan_with_multikey`, and the check of
whether SQL can sort it, `_sort_requires_python`), each membership test with more than CHUNK values becomes a
balanced tree of CHUNK-value tests of the same kind (`$in`: an `$or` of them, `$nin`: an `$and`), which the
library translates as it does any `$or`/`$and`: the depth grows with log(N / CHUNK), not N. The matching is
unchanged: `x ∈ A ∪ B` is `x ∈ A or x ∈ B`, and `x ∉ A ∪ B` is `x ∉ A and x ∉ B`.

To report upstream (mongoeco): translate a long membership as `IN (…)` over `json_each`, or nest the `OR`
chain, instead of one flat chain. tests/test_embedded_features.py fails when the override stops applying
and when the library no longer needs it.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from mongoeco.core.query_plan import AndCondition, InCondition, NotInCondition, OrCondition, QueryNode

__all__ = ["CHUNK", "nested"]

#: Values per membership test: 2·CHUNK `OR` terms once translated, well below SQLite's depth of 1,000.
CHUNK = 100


def nested(plan: QueryNode) -> QueryNode:
    """`plan` with every `$in`/`$nin` of more than CHUNK values cut into a balanced tree of shorter ones."""
    if isinstance(plan, AndCondition | OrCondition):
        clauses = tuple(nested(clause) for clause in plan.clauses)
        return plan if clauses == plan.clauses else replace(plan, clauses=clauses)
    if not isinstance(plan, InCondition | NotInCondition) or len(plan.values) <= CHUNK:
        return plan
    parts: list[QueryNode] = [
        replace(plan, values=tuple(values)) for values in itertools.batched(plan.values, CHUNK, strict=False)
    ]
    join = OrCondition if isinstance(plan, InCondition) else AndCondition
    while len(parts) > 1:
        parts = [join(tuple(pair)) if len(pair) > 1 else pair[0] for pair in itertools.batched(parts, 2, strict=False)]
    return parts[0]
