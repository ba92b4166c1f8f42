"""What the operator commands print: aligned tables for people, JSON for scripts (`--json`).

Pure: values in, text out, so the layout is tested without a server.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

type Column = tuple[str, str | Callable[[Mapping[str, Any]], Any]]
#: Longest cell before it is cut with an ellipsis (reasons can be long; `get` shows them whole).
WIDTH = 60


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(cell(item) for item in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, default=str, separators=(",", ":"))
    text = str(value)
    if isinstance(value, str) and _looks_like_instant(text):
        text = text.replace("+00:00", "Z")
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Rows under a header line, columns padded to their widest cell; `(none)` when there are no rows."""
    if not rows:
        return "(none)"
    cells = [[header.upper() for header, _ in columns]]
    for row in rows:
        cells.append([cell(key(row) if callable(key) else row.get(key)) for _, key in columns])
    widths = [max(len(line[index]) for line in cells) for index in range(len(columns))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip() for line in cells
    )


def fields(data: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    """`key: value` lines, for one record."""
    names = list(keys) if keys is not None else list(data)
    width = max((len(name) for name in names), default=0)
    return "\n".join(f"{name.ljust(width)}  {cell(data.get(name)) if name in data else '-'}" for name in names)


def _looks_like_instant(text: str) -> bool:
    if len(text) < 19 or text[4] != "-" or "T" not in text:
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
