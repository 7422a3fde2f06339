"""The WHERE clause of the store's filtered listings (acquisitions, accounting, task export):
one equality test per filter given, and a half-open period [since, until) on one time column.
Column names come from the caller's fixed table, never from the request; values are bound."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def where(filters: Mapping[str, Any], columns: Sequence[tuple[str, str]],
          period_column: str) -> tuple[list[str], list[Any]]:
    """The conditions and their arguments, in order: `column=?` for each (filter key, column)
    whose filter is set (not None), then `period_column>=since` and `period_column<until`."""
    conditions: list[str] = []
    args: list[Any] = []
    for key, column in columns:
        if filters.get(key) is not None:
            conditions.append(f"{column}=?")
            args.append(filters[key])
    if filters.get("since") is not None:
        conditions.append(f"{period_column}>=?")
        args.append(filters["since"])
    if filters.get("until") is not None:
        conditions.append(f"{period_column}<?")
        args.append(filters["until"])
    return conditions, args
