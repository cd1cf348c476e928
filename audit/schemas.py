from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ninja import Field, Schema

from audit import selectors
from kbsite.pagination import Page
from knowledge.schemas import KnowledgeOut


class RecallFilters(Page):
    date_from: date | datetime | None = None
    date_to: date | datetime | None = None
    q: str | None = Field(None, max_length=500, description="Text in the query (raw or normalised) or caller")
    session_id: str | None = Field(None, max_length=200)
    source: str | None = None


class RecallSummaryOut(Schema):
    id: int
    created_at: datetime
    source: str
    is_test: bool
    query: str
    normalized_query: str
    session_id: str
    caller: str
    top_k: int
    retrieval_enabled: bool
    embedding_model: str
    legs: list[str]
    result_count: int
    top_documents: list[str]
    timings_ms: dict[str, float]

    @staticmethod
    def resolve_result_count(obj: Any) -> int:
        return len(reader_results(obj))

    @staticmethod
    def resolve_top_documents(obj: Any) -> list[str]:
        return [selectors.document_label(hit) for hit in reader_results(obj)[:3]]


def reader_results(obj: Any) -> list[dict[str, Any]]:
    """A recall's returned chunks as its reader may see them. Only a ``ReaderRecall`` is
    serialised: a raw row would show other users' personal documents (DESIGN §5)."""
    if not isinstance(obj, selectors.ReaderRecall):
        raise TypeError("serialise recall audits through audit.selectors.for_reader")
    return obj.results


class RecallHitOut(KnowledgeOut):
    """One returned chunk. ``withheld`` (see audit.selectors) says the reader may not see
    its document: its name, text, heading and page are then empty."""

    heading: str = ""
    page: int | None = None
    vector_rank: int | None = None
    lexical_rank: int | None = None
    vector_similarity: float | None = None
    lexical_score: float | None = None
    withheld: str | None = None


class RecallOut(RecallSummaryOut):
    flags: dict[str, Any]
    results: list[RecallHitOut]
    policy_chunk_ids: list[int]
    policy_text: str
    policy_truncated: bool
    api_key_id: int | None
    user_id: int | None

    @staticmethod
    def resolve_results(obj: Any) -> list[dict[str, Any]]:
        return reader_results(obj)


class RecallPage(Schema):
    items: list[RecallSummaryOut]
    count: int
