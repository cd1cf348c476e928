"""Dify's ``metadata_condition`` (External Knowledge API), applied to our records' metadata.

Dify sends ``{"logical_operator": "and"|"or", "conditions": [{"name", "comparison_operator",
"value"}]}``; ``name`` is a field name (older Dify versions send a list of names: the
condition then holds when it holds for any of them). The fields are those of a record:
``title`` and every key of its ``metadata`` (document_id, document_name, chunk_id,
chunk_index, heading, page). A field a record does not have is "empty"; none of ours holds a
date, so ``before``/``after`` match nothing unless a field holds an ISO date or a timestamp.
Text comparisons ignore case. Pure functions, no ORM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

Operator = Literal[
    "contains", "not contains", "start with", "end with", "is", "is not", "in", "not in",
    "empty", "not empty", "=", "≠", ">", "<", "≥", "≤", "before", "after",
]


class Condition(BaseModel):
    name: str | list[str]
    comparison_operator: Operator
    value: str | int | float | list[str] | None = None


class MetadataCondition(BaseModel):
    logical_operator: Literal["and", "or"] = "and"
    conditions: list[Condition] = Field(default_factory=list, max_length=50)


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _moment(value: Any) -> dt.datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _holds(op: str, field: Any, value: Any) -> bool:  # noqa: C901, PLR0911 - one branch per operator
    if op == "empty":
        return _is_empty(field)
    if op == "not empty":
        return not _is_empty(field)
    if op in ("=", "≠", ">", "<", "≥", "≤"):
        a, b = _number(field), _number(value)
        if a is None or b is None:
            return op == "≠" and not (a is None and b is None)
        return {"=": a == b, "≠": a != b, ">": a > b, "<": a < b, "≥": a >= b, "≤": a <= b}[op]
    if op in ("before", "after"):
        a_t, b_t = _moment(field), _moment(value)
        if a_t is None or b_t is None:
            return False
        return a_t < b_t if op == "before" else a_t > b_t
    if op in ("in", "not in"):
        options = [str(v).casefold() for v in (value if isinstance(value, list) else [value])]
        found = not _is_empty(field) and str(field).casefold() in options
        return found if op == "in" else not found
    text = "" if field is None else str(field).casefold()
    wanted = "" if value is None else str(value).casefold()
    if op == "contains":
        return wanted in text
    if op == "not contains":
        return wanted not in text
    if op == "start with":
        return text.startswith(wanted)
    if op == "end with":
        return text.endswith(wanted)
    if op == "is":
        return not _is_empty(field) and text == wanted
    if op == "is not":
        return _is_empty(field) or text != wanted
    raise ValueError(f"unknown comparison operator {op!r}")  # pragma: no cover - Literal guards it


def predicate(condition: MetadataCondition) -> Callable[[Mapping[str, Any]], bool]:
    """A test of one record's fields (``title`` + metadata); no conditions = everything."""

    def one(cond: Condition, fields: Mapping[str, Any]) -> bool:
        names = cond.name if isinstance(cond.name, list) else [cond.name]
        return any(_holds(cond.comparison_operator, fields.get(name), cond.value) for name in names)

    def test(fields: Mapping[str, Any]) -> bool:
        if not condition.conditions:
            return True
        results = (one(cond, fields) for cond in condition.conditions)
        return all(results) if condition.logical_operator == "and" else any(results)

    return test
