"""Dify's External Knowledge API: the request as Dify sends it, its ``metadata_condition``
compiled to SQL, and the records Dify reads. Pure: no ORM, no settings.

Requests are taken as Dify sends them: ``metadata_condition`` with ``conditions: null`` or
``logical_operator: null`` (no filter / "and"), ``top_k`` null (5) or above 50 (capped),
``score_threshold`` null (0), a query over 4,000 characters (cut to 4,000). A NUL character
anywhere in the body is refused (422): PostgreSQL text cannot hold it, and every call must
be audited.

Filters. ``metadata_condition`` is ``{"logical_operator": "and"|"or", "conditions":
[{"name", "comparison_operator", "value"}]}``; ``name`` is a field of our records
(``title`` and the metadata keys below; older Dify versions send a list of names: the
condition then holds when it holds for any of them). It is compiled to one SQL predicate
on the chunk (alias ``c``) that the search ANDs inside both legs, before any LIMIT, so a
filter never loses matching chunks to a cut taken before it. A field a record does not
have is empty. Text comparisons ignore case; numeric ones (``=``, ``≠``, ``>``…) read the
field as a number (a text field only when it holds one). None of our fields holds a time,
so ``before``/``after`` match nothing (their value is still checked, never fatal).

Records. ``{"content", "score", "title", "metadata"}``: ``score`` is the chunk's
``relevance`` (calibrated cosine similarity, 0..1; see ``knowledge.retrieval.relevance``),
which Dify compares with its ``score_threshold``; records come best match first (fused
rank). ``metadata`` holds ``document_id``, ``chunk_id`` and ``audit_id`` as strings (Dify
reads ``document_id`` into a ``str | None`` field of its citations), ``document_name``,
``chunk_index``, ``heading``, ``page`` and ``fused_score`` (the /retrieve ``score``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, field_validator, model_validator

MAX_TOP_K = 50
DEFAULT_TOP_K = 5
MAX_QUERY_CHARS = 4000

Operator = Literal[
    "contains", "not contains", "start with", "end with", "is", "is not", "in", "not in",
    "empty", "not empty", "=", "≠", ">", "<", "≥", "≤", "before", "after",
]


def find_nul(value: Any) -> bool:
    """Whether a NUL character is anywhere in ``value`` (strings, lists, dict keys and values)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(find_nul(k) or find_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(find_nul(v) for v in value)
    return False


def refuse_nul(value: Any) -> Any:
    if find_nul(value):
        raise ValueError("must not contain NUL characters")
    return value


# --- request -------------------------------------------------------------------------------


class Condition(BaseModel):
    name: str | list[str]
    comparison_operator: Operator
    value: str | int | float | list[str | int | float] | None = None


class MetadataCondition(BaseModel):
    logical_operator: Literal["and", "or"] | None = "and"
    conditions: list[Condition] | None = Field(default=None, max_length=50)


class RetrievalSetting(BaseModel):
    top_k: int | None = Field(DEFAULT_TOP_K, ge=1)
    score_threshold: float | None = Field(0.0, ge=0.0, le=1.0)

    @property
    def limit(self) -> int:
        return min(self.top_k or DEFAULT_TOP_K, MAX_TOP_K)

    @property
    def threshold(self) -> float:
        return float(self.score_threshold or 0.0)


class RetrievalIn(BaseModel):
    knowledge_id: str = Field(..., min_length=1, max_length=200)
    query: str = Field(..., min_length=1)
    retrieval_setting: RetrievalSetting = Field(
        default_factory=lambda: RetrievalSetting(top_k=DEFAULT_TOP_K, score_threshold=0.0)
    )
    metadata_condition: MetadataCondition | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data)

    @field_validator("retrieval_setting", mode="before")
    @classmethod
    def _null_setting(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def truncated(self) -> bool:
        return len(self.query) > MAX_QUERY_CHARS

    @property
    def search_query(self) -> str:
        return self.query[:MAX_QUERY_CHARS]


# --- metadata filter → SQL ------------------------------------------------------------------

_DOCUMENT_NAME = "(SELECT kd.name FROM knowledge_document kd WHERE kd.id = c.document_id)"
# field → (kind, SQL expression on the chunk ``c``)
FIELDS: dict[str, tuple[str, str]] = {
    "title": ("text", _DOCUMENT_NAME),
    "document_name": ("text", _DOCUMENT_NAME),
    "document_id": ("int", "c.document_id"),
    "chunk_id": ("int", "c.id"),
    "chunk_index": ("int", "c.chunk_index"),
    "heading": ("text", "c.heading"),
    "page": ("int", "c.page"),
}
_NUMERIC_TEXT = r"^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*$"
_NUMERIC_OPS = {"=": "=", "≠": "<>", ">": ">", "<": "<", "≥": ">=", "≤": "<="}
_NUMBER_LIMIT = Decimal("1e100")  # beyond any field of ours; keeps every value in numeric's range


def number(value: Any) -> str | None:
    """``value`` as a finite decimal literal for ``::numeric``, or None if it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        parsed = Decimal(str(value).strip()) if isinstance(value, str) else Decimal(repr(value) if isinstance(value, float) else value)
    except (InvalidOperation, ValueError, TypeError):
        return None
    if not parsed.is_finite():
        return None
    if isinstance(value, float) and not math.isfinite(value):  # pragma: no cover - Decimal caught it
        return None
    parsed = max(-_NUMBER_LIMIT, min(_NUMBER_LIMIT, parsed))
    return str(parsed)


class _Params:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return f"%({name})s"


def _field(name: str) -> tuple[str, str]:
    return FIELDS.get(name, ("text", "NULL::text"))


def _one(op: str, name: str, value: Any, params: _Params) -> str:  # noqa: C901, PLR0911 - one branch per operator
    kind, expr = _field(name)
    empty = f"(({expr}) IS NULL OR ({expr})::text = '')"
    text = f"COALESCE(lower(({expr})::text), '')"
    if op == "empty":
        return empty
    if op == "not empty":
        return f"(NOT {empty})"
    if op in _NUMERIC_OPS:
        as_number = f"({expr})::numeric" if kind == "int" else (
            f"(CASE WHEN ({expr}) ~ '{_NUMERIC_TEXT}' THEN ({expr})::numeric END)"
        )
        wanted = number(value)
        if wanted is None:
            return f"({as_number} IS NOT NULL)" if op == "≠" else "FALSE"
        fallback = "TRUE" if op == "≠" else "FALSE"
        return f"COALESCE({as_number} {_NUMERIC_OPS[op]} {params.add(wanted)}::numeric, {fallback})"
    if op in ("before", "after"):
        return "FALSE"  # no field of ours holds a time
    if op in ("in", "not in"):
        options = [str(v).lower() for v in (value if isinstance(value, list) else [value])]
        found = f"(NOT {empty} AND lower(({expr})::text) = ANY({params.add(options)}::text[]))"
        return found if op == "in" else f"(NOT {found})"
    wanted_text = params.add("" if value is None else str(value).lower())
    if op == "contains":
        return f"(strpos({text}, {wanted_text}) > 0)"
    if op == "not contains":
        return f"(strpos({text}, {wanted_text}) = 0)"
    if op == "start with":
        return f"starts_with({text}, {wanted_text})"
    if op == "end with":
        return f"(right({text}, char_length({wanted_text})) = {wanted_text})"
    if op == "is":
        return f"(NOT {empty} AND {text} = {wanted_text})"
    if op == "is not":
        return f"({empty} OR {text} <> {wanted_text})"
    raise ValueError(f"unknown comparison operator {op!r}")  # pragma: no cover - Literal guards it


def to_sql(condition: MetadataCondition | None, *, prefix: str = "dify_") -> tuple[str, dict[str, Any]] | None:
    """``(predicate, params)`` for the search, or None when there is nothing to filter.
    The predicate is built from fixed fragments; every value is a bound parameter."""
    if condition is None or not condition.conditions:
        return None
    params = _Params(prefix)
    parts = []
    for cond in condition.conditions:
        names = cond.name if isinstance(cond.name, list) else [cond.name]
        alternatives = [_one(cond.comparison_operator, name, cond.value, params) for name in names]
        parts.append("(" + (" OR ".join(alternatives) if alternatives else "FALSE") + ")")
    joiner = " OR " if condition.logical_operator == "or" else " AND "
    return "(" + joiner.join(parts) + ")", params.values




# --- records ------------------------------------------------------------------------------------


class RecordMetadata(BaseModel):
    document_id: str
    document_name: str
    chunk_id: str
    chunk_index: int
    heading: str
    page: int | None
    fused_score: float
    audit_id: str | None


class Record(BaseModel):
    content: str
    score: float
    title: str
    metadata: RecordMetadata


class RecordsOut(BaseModel):
    records: list[Record]


class ErrorOut(BaseModel):
    error_code: int
    error_msg: str


class _Hit(Protocol):
    chunk_id: int
    document_id: int
    document_name: str
    chunk_index: int
    text: str
    score: float
    relevance: float | None
    heading: str
    page: int | None


def select(hits: Iterable[_Hit], *, threshold: float, limit: int) -> list[_Hit]:
    """The hits Dify gets: relevance at or above the threshold, at most ``limit``, in order."""
    kept = [hit for hit in hits if (hit.relevance or 0.0) >= threshold]
    return kept[:limit]


def records(hits: Sequence[_Hit], *, audit_id: int | None) -> RecordsOut:
    return RecordsOut(records=[
        Record(
            content=hit.text, score=float(hit.relevance or 0.0), title=hit.document_name,
            metadata=RecordMetadata(
                document_id=str(hit.document_id), document_name=hit.document_name, chunk_id=str(hit.chunk_id),
                chunk_index=hit.chunk_index, heading=hit.heading, page=hit.page, fused_score=hit.score,
                audit_id=str(audit_id) if audit_id is not None else None,
            ),
        )
        for hit in hits
    ])
