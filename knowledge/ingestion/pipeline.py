"""The pipeline steps: read → extract → neutralise → chunk → embed, then store.

See the package docstring for the step contract. Each step reads what earlier steps put on
the :class:`Work` and sets its own fields; ``STEPS`` is the order. ``store`` is not a step
like the others: it is the one transaction that replaces the document's chunks and
finishes the job (see ``store.py``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from knowledge import embeddings, models
from knowledge.ingestion import facade


class IngestError(Exception):
    """A job step failed; ``reason`` is shown to the tenant, ``retryable`` says whether a
    later attempt may succeed (a service outage) or not (a bad file, the configuration)."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class Superseded(Exception):
    """The document's content moved on after this job was requested (a newer revision
    arrived): the job's work must not be stored. Not a failure — the runner ends the job
    ``skipped`` and makes sure the current content has a job (DESIGN §4: no revision is lost)."""


def content_moved_on(job: models.IngestJob) -> bool:
    """True when the document's current content is not the content this job was made for
    (or the document is gone)."""
    current = (
        models.Document.objects.filter(pk=job.document_id, tenant_id=job.tenant_id)
        .values_list("content_sha256", flat=True)
        .first()
    )
    return current != job.content_sha256


@dataclass
class Stats:
    """Per-stage timings (ms) and counts, stored on the job row as ``stats``."""

    timings_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[name] = round((time.perf_counter() - started) * 1000, 2)

    def as_json(self) -> dict[str, Any]:
        return {"timings_ms": self.timings_ms, **self.counts}


@dataclass
class Work:
    """What flows through the steps of one attempt of one job."""

    job: models.IngestJob
    stats: Stats
    data: bytes = b""  # read: the source's bytes
    title: str = ""  # extract: the title chunks are contextualised with
    sections: list[Any] = field(default_factory=list)  # extract → neutralise → chunk
    drafts: list[Any] = field(default_factory=list)  # chunk: chunking.ChunkDraft
    contexts: list[str] = field(default_factory=list)  # chunk: the texts to embed
    vectors: list[list[float]] | None = None  # embed (None: embeddings are off)
    model_name: str = ""  # embed: ``provider:model`` of the vectors
    tokens: int = 0  # embed: tokens the provider counted

    @property
    def document(self) -> models.Document:
        return self.job.document

    @property
    def tenant(self) -> models.Tenant:
        return self.job.tenant


Step = Callable[[Work], None]


def read_source(document: models.Document) -> bytes:
    if document.file:
        with document.file.open("rb") as fh:
            return fh.read()
    return document.inline_text.encode("utf-8")


def read(work: Work) -> None:
    """The bytes this job was made for: they must hash to the job's ``content_sha256``. When
    they do not (or the file is gone) because the document moved on, :class:`Superseded`."""
    doc, job = work.document, work.job
    try:
        work.data = read_source(doc)
    except FileNotFoundError as exc:
        if content_moved_on(job):
            raise Superseded() from exc
        raise IngestError("the stored file is missing; upload it again") from exc
    if hashlib.sha256(work.data).hexdigest() != job.content_sha256:
        if content_moved_on(job):
            raise Superseded()
        raise IngestError("the stored content does not match its checksum; upload it again")


def extract(work: Work) -> None:
    from knowledge import extraction

    doc = work.document
    try:
        extracted = extraction.extract(
            work.data, file_type=doc.file_type, filename=doc.name,
            max_pages=settings.KB_MAX_PDF_PAGES, max_chars=settings.KB_MAX_EXTRACTED_CHARS,
        )
    except extraction.ExtractionError as exc:
        raise IngestError(exc.reason) from exc
    work.data = b""  # the bytes are not needed any more; a large file should not stay in memory
    work.stats.counts["chars"] = extracted.chars
    work.stats.counts["pages"] = extracted.pages or 0
    work.title = extracted.title or doc.name
    work.sections = list(extracted.sections)


def neutralise(work: Work) -> None:
    """The PII neutralisation slot: a pass-through until the neutraliser is wired in.

    It may rewrite the text of ``work.sections`` (never add or drop a section's heading or
    page), record its counts under ``work.stats.counts`` and raise :class:`IngestError`.
    """


def chunk(work: Work) -> None:
    from knowledge import chunking

    work.drafts = chunking.chunk_sections(
        work.sections, title=work.title, size=settings.KB_CHUNK_SIZE, overlap=settings.KB_CHUNK_OVERLAP
    )
    if not work.drafts:
        raise IngestError("the file contains no readable text")
    work.stats.counts["chunks"] = len(work.drafts)
    work.contexts = [chunking.contextualize(d, work.title) for d in work.drafts]


def embed(work: Work) -> None:
    if content_moved_on(work.job):
        raise Superseded()  # no tokens spent on a version that will not be stored
    if facade.embeddings_enabled(work.tenant):
        work.vectors, work.tokens, work.model_name = embed_texts(work.contexts)
    work.stats.counts["embedding_tokens"] = work.tokens


def embed_texts(texts: list[str]) -> tuple[list[list[float]], int, str]:
    try:
        provider = embeddings.get_provider()
        batch = provider.embed_documents(texts)  # each provider batches for its own limits
    except embeddings.EmbeddingError as exc:
        if exc.retryable:
            raise IngestError(f"embedding service error: {exc.reason}", retryable=True) from exc
        raise IngestError(f"embedding failed: {exc.reason}") from exc
    return batch.vectors, batch.tokens, f"{provider.name}:{provider.model}"


# The order of the steps, each under its stage name (the key of its timing in the job's
# stats). Plugging a step in (the neutraliser) is a change to its function or to this tuple.
STEPS: tuple[tuple[str, Step], ...] = (
    ("read", read),
    ("extract", extract),
    ("neutralise", neutralise),
    ("chunk", chunk),
    ("embed", embed),
)


def run_steps(work: Work) -> None:
    """Run the steps in order, timing each under its stage name."""
    for stage, step in STEPS:
        with work.stats.stage(stage):
            step(work)
