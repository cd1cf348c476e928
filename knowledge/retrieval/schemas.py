"""The DESIGN §5 response, defined once: these schemas are what ``POST /api/v1/retrieve``
documents (OpenAPI) and what serialises the body. The retrieval code builds them directly.

``score`` (contract) is the fused rank score: weighted reciprocal rank fusion of the two
legs, divided by its maximum (rank 1 in every leg that ran), so 1.0 means "first in every
leg"; it orders the list and says nothing absolute. ``relevance`` (an extension) is how
well the chunk matches the query on an absolute 0..1 scale: the cosine similarity of
chunk and query, calibrated per embedding model (``relevance.py``); without a vector
(embeddings off) it is the IDF-weighted share of the query's terms the chunk holds.
"""

from __future__ import annotations

from typing import Any

from ninja import Schema


class KnowledgeOut(Schema):
    """One knowledge hit as the voice router gets it (DESIGN §5)."""

    chunk_id: int
    document_id: int
    document_name: str
    chunk_index: int
    text: str
    score: float
    relevance: float | None = None


class Hit(KnowledgeOut):
    """A knowledge hit with what the audit row and the test page also show. Serialised as
    ``KnowledgeOut`` wherever the response declares that (pydantic serialises the declared
    type, not the subclass)."""

    heading: str = ""
    page: int | None = None
    vector_rank: int | None = None
    lexical_rank: int | None = None
    vector_similarity: float | None = None  # cosine similarity to the query, when known
    lexical_score: float | None = None  # BM25, when the lexical leg found it

    def as_audit(self) -> dict[str, Any]:
        return self.model_dump()


class PolicyOut(Schema):
    text: str = ""
    chunk_ids: tuple[int, ...] = ()
    truncated: bool = False


PolicyBlock = PolicyOut
EMPTY_POLICY = PolicyOut()


class PromptOut(Schema):
    instructions: str
    context: str


class RetrieveOut(Schema):
    """The body of ``POST /api/v1/retrieve`` (DESIGN §5)."""

    retrieval_enabled: bool
    tenant: str
    query: str
    policy: PolicyOut
    knowledge: list[KnowledgeOut]
    prompt: PromptOut
    audit_id: int | None
    embedding_model: str
    timings_ms: dict[str, float]
