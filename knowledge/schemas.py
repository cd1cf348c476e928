from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema

from knowledge.retrieval.schemas import KnowledgeOut  # the §5 hit, defined once there

__all__ = ["KnowledgeOut"]


class DocumentOut(Schema):
    id: int
    name: str
    kind: str
    content_type: str
    file_type: str
    size_bytes: int
    sha256: str
    status: str
    ingest_error: str
    ingested_at: datetime | None
    chunk_count: int
    source_kind: str
    scope: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_sha256(obj: Any) -> str:
        return str(obj.content_sha256)


class UploadOut(DocumentOut):
    duplicate: bool = False
    ingestion: str | None = None


class DocumentPage(Schema):
    items: list[DocumentOut]
    count: int


class ChunkOut(Schema):
    id: int
    chunk_index: int
    text: str
    heading: str
    page: int | None
    has_embedding: bool
    embedding_model: str

    @staticmethod
    def resolve_has_embedding(obj: Any) -> bool:
        # Ingestion writes embedding_dim with every embedding; the vector itself is not loaded.
        return obj.embedding_dim is not None


class ChunkPage(Schema):
    items: list[ChunkOut]
    count: int


class JobOut(Schema):
    id: int
    document_id: int
    status: str
    trigger: str
    force: bool
    attempts: int
    max_attempts: int
    error: str
    skip_reason: str
    embedding_model: str
    stats: dict[str, Any]
    # PII neutralised by the job, per type (never values); null when the step did not run.
    pii: dict[str, int] | None = None
    heartbeat_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime


    @staticmethod
    def resolve_pii(obj: Any) -> dict[str, int] | None:
        stats = obj.get("stats") if isinstance(obj, dict) else getattr(obj, "stats", None)
        pii = (stats or {}).get("pii")
        return dict(pii) if isinstance(pii, dict) else None


class JobPage(Schema):
    items: list[JobOut]
    count: int


class IngestIn(Schema):
    force: bool = False


class IngestOut(Schema):
    outcome: str
    reason: str = ""
    job: JobOut | None

