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

from knowledge import budgets, embeddings, models
from knowledge.ingestion import facade


class IngestError(Exception):
    """A job step failed; ``reason`` is shown to the tenant, ``retryable`` says whether a
    later attempt may succeed (a service outage) or not (a bad file, the configuration)."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


# Document.metadata key: the hash of the neutralised inline text the store kept (written by
# the neutralise step, checked by ``read``).
NEUTRALISED_SHA256 = "neutralised_sha256"

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


class JobSkipped(Exception):
    """The job cannot run now and ends ``skipped`` with ``reason`` (over the tenant's budget);
    the document keeps serving what it served."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Stats:
    """Per-stage timings (ms) and counts, stored on the job row as ``stats``."""

    timings_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    pii: dict[str, int] | None = None  # neutralise: spans replaced per type; None when it did not run

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[name] = round((time.perf_counter() - started) * 1000, 2)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"timings_ms": self.timings_ms, **self.counts}
        if self.pii is not None:
            out["pii"] = dict(self.pii)
        return out


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
    # neutralise: the document's own fields to store neutralised (name, inline_text)
    document_updates: dict[str, Any] = field(default_factory=dict)
    reservation_id: int | None = None  # embed: the budget held for the call (store settles it)
    budget_tokens: int = 0  # embed: tokens to charge (the provider's count, else the estimate)

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
    digest = hashlib.sha256(work.data).hexdigest()
    # A neutralised virtual document keeps only its neutralised text; its content hash is
    # still the source's, so the stored text is checked against the hash kept with it.
    neutralised = not doc.file and doc.content_sha256 == job.content_sha256 and (
        digest == (doc.metadata or {}).get(NEUTRALISED_SHA256)
    )
    if digest != job.content_sha256 and not neutralised:
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
    """PII neutralisation (``neutralise.step``): when the tenant's policy applies to the
    document's source kind, rewrites the text and heading of ``work.sections`` and the title
    (never adds, drops or reorders sections, nor changes a page), asks the store to keep the
    document's name and inline text only neutralised (``work.document_updates``), records
    per-type counts in ``work.stats.pii`` and fails with :class:`IngestError`."""
    from knowledge.ingestion import neutralise as neutralise_step

    neutralise_step.step(work)


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
        call = embed_within_budget(job=work.job, texts=work.contexts)
        work.vectors, work.tokens, work.model_name = call.vectors, call.tokens, call.model_name
        work.reservation_id, work.budget_tokens = call.reservation_id, call.budget_tokens
    work.stats.counts["embedding_tokens"] = work.tokens


@dataclass
class BudgetedCall:
    vectors: list[list[float]]
    tokens: int
    model_name: str
    reservation_id: int | None
    budget_tokens: int


def embed_within_budget(*, job: models.IngestJob, texts: list[str]) -> BudgetedCall:
    """Estimate → reserve → embed; the reservation is released here if the call fails, and
    settled by the store step (or released by the runner when the work is discarded).
    Raises :class:`JobSkipped` when the tenant's month has not enough left."""
    model = facade.configured_embedding_model()
    estimate = budgets.estimate_tokens(texts) if texts else 0
    try:
        reservation = budgets.reserve(tenant_id=job.tenant_id, model=model, tokens=estimate, job=job)
    except budgets.OverBudget as exc:
        raise JobSkipped(exc.reason) from exc
    reservation_id = reservation.pk if reservation is not None else None
    try:
        vectors, tokens, model_name = embed_texts(texts) if texts else ([], 0, model)
    except BaseException:
        if reservation_id is not None:
            budgets.release(reservation_id=reservation_id)
        raise
    return BudgetedCall(vectors, tokens, model_name, reservation_id, tokens or estimate)


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
# stats). Plugging a step in is a change to its function or to this tuple.
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
