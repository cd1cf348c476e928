"""Ingestion: the only code path that writes chunks.

Modules
-------
``facade``    the way in: ``request_ingestion`` (queued | duplicate | skipped), ``retry_job``,
              ``get_ingestion_status``, ``enqueue``; the idempotency key and the flags.
``jobs``      the job-row state machine, generic over a job model (``JobTable``): claim,
              heartbeat, finish, fail/requeue, reap — one claim predicate (``holds``).
``pipeline``  the steps and the :class:`~knowledge.ingestion.pipeline.Work` they share.
``store``     the store step: chunks replaced as a whole and the job finished, in one
              transaction, only while the attempt holds its claim.
``runner``    what the worker runs for one job (``run_job``).
``reaper``    stale jobs taken back, lost tasks re-sent; runs outside the cluster too.
``liveness``  ok | degraded | stalled, judged by progress on the job rows.

The step contract
-----------------
The worker runs, in order, ``read → extract → neutralise → chunk → embed`` (``pipeline.STEPS``)
and then ``store``. A step is a function ``step(work: Work) -> None``:

* it reads only fields that earlier steps set on ``work`` and sets its own:
  ``read`` → ``data``; ``extract`` → ``title``, ``sections`` (``extraction.Section``: text,
  heading, page) and drops ``data``; ``neutralise`` → rewrites ``sections[i].text`` in
  place (never adds, drops or reorders sections, nor changes their heading or page);
  ``chunk`` → ``drafts``, ``contexts``; ``embed`` → ``vectors`` (None when embeddings are
  off), ``model_name``, ``tokens``;
* it records counts in ``work.stats.counts`` (the runner times it under its stage name);
* it fails by raising ``IngestError(reason, retryable=...)``: ``reason`` is shown to the
  tenant, ``retryable`` requeues the job while attempts are left. Anything else it raises
  fails the job with a generic reason (details in the worker's log);
* it writes nothing to the database and has no side effect outside ``work``: a job may run
  more than once (at-least-once delivery), and only ``store`` — under the claim — writes;
* a step that finds the document's content moved on (its ``content_sha256`` is no longer
  the job's: a newer revision arrived after the request) raises ``Superseded``: the job ends
  ``skipped``, nothing is stored, and the current content gets its own job. ``read`` checks
  the bytes it read against the job's hash, ``embed`` checks before spending tokens, and
  ``store`` checks again under the document's row lock — the check that decides.

``neutralise`` is a pass-through slot today; the PII neutraliser replaces its body (or the
entry in ``STEPS``) without touching the other steps.

Callers import the package: ``from knowledge import ingestion; ingestion.request_ingestion(...)``.
"""

from __future__ import annotations

from knowledge.ingestion.facade import (
    ACTIVE_JOB_STATUSES,
    PIPELINE_VERSION,
    TASK_FUNC,
    IngestionOutcome,
    IngestionStatus,
    Outcome,
    chunks_to_embed,
    configured_embedding_model,
    current_embedding_model,
    embeddings_enabled,
    enqueue,
    get_ingestion_status,
    idempotency_key,
    request_ingestion,
    retry_job,
)
from knowledge.ingestion.liveness import Liveness, worker_liveness
from knowledge.ingestion.pipeline import IngestError, Superseded
from knowledge.ingestion.reaper import reap_if_due, reap_stale_jobs
from knowledge.ingestion.runner import claim, run_job

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "PIPELINE_VERSION",
    "TASK_FUNC",
    "IngestError",
    "IngestionOutcome",
    "IngestionStatus",
    "Liveness",
    "Outcome",
    "Superseded",
    "chunks_to_embed",
    "claim",
    "configured_embedding_model",
    "current_embedding_model",
    "embeddings_enabled",
    "enqueue",
    "get_ingestion_status",
    "idempotency_key",
    "reap_if_due",
    "reap_stale_jobs",
    "request_ingestion",
    "retry_job",
    "run_job",
    "worker_liveness",
]
