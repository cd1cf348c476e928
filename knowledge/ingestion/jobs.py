"""The job-row state machine, written once for every kind of background job row.

A job row (``IngestJob`` today, connectors' ``SyncRun`` next) is the truth about its work.
It moves ``queued → running → (finished | failed)``, and back to ``queued`` when an attempt
fails in a way a later one may not, or when its worker dies (the reaper). The rules:

* **claim** — a conditional UPDATE takes a ``queued`` row with attempts left, counts the
  attempt and stamps the heartbeat. Whoever's UPDATE matched owns the attempt; everyone
  else goes away.
* **holds** — *the* claim predicate: ``pk``, ``status = running`` and ``attempts = the
  attempt number the claim returned``. Heartbeats, finishing, failing, requeueing and
  reaping all write through it, so an attempt that lost its claim (the reaper took the row
  back, a second delivery won it) can never write over the attempt that holds it.
* **stale** — a ``running`` row whose heartbeat is older than a bound: its worker is gone.
  The reaper requeues it (or fails it after the attempt limit), again through ``holds``.

The heartbeat column doubles as the table's progress clock: claims, beats and every end of
an attempt the worker writes stamp it, the reaper's writes do not (see ``liveness``).

The row model needs the fields ``status, attempts, max_attempts, queued_at, heartbeat_at,
started_at, finished_at, error, updated_at``; a :class:`JobTable` names the model and its status values.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, models
from django.db.models import F, Q
from django.utils import timezone

from knowledge import models as kb_models

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobTable:
    """A job-row model and the values its ``status`` column uses."""

    model: type[models.Model]
    queued: str = "queued"
    running: str = "running"
    failed: str = "failed"

    @property
    def objects(self) -> Any:
        return self.model._default_manager

    # --- the predicates: each written here only ------------------------------------------

    def claimable(self) -> Q:
        return Q(status=self.queued, attempts__lt=F("max_attempts"))

    def holds(self, *, pk: int, attempt: int) -> Q:
        """The claim predicate: this attempt still owns the row."""
        return Q(pk=pk, status=self.running, attempts=attempt)

    def stale(self, *, before: datetime) -> Q:
        """Running rows whose worker stopped heartbeating before ``before``."""
        return Q(status=self.running, heartbeat_at__lt=before)

    # --- transitions ---------------------------------------------------------------------

    def claim(self, *, pk: int) -> bool:
        """Take a queued row and count the attempt (read the row again for its number).
        False when someone else has it (or it is finished, out of attempts, or gone)."""
        now = timezone.now()
        return bool(self.objects.filter(self.claimable(), pk=pk).update(
            status=self.running, attempts=F("attempts") + 1, heartbeat_at=now,
            started_at=now, error="", updated_at=now,
        ))

    def beat(self, *, pk: int, attempt: int) -> bool:
        return bool(self.objects.filter(self.holds(pk=pk, attempt=attempt)).update(heartbeat_at=timezone.now()))

    def finish(self, *, pk: int, attempt: int, status: str, now: datetime | None = None, **fields: Any) -> bool:
        """End the attempt with ``status`` if it still holds the row. Call it inside the
        transaction that stores the attempt's work and roll that back when it returns False:
        this conditional UPDATE decides, so two attempts can never both store their work."""
        now = now or timezone.now()
        return bool(self.objects.filter(self.holds(pk=pk, attempt=attempt)).update(
            status=status, finished_at=now, heartbeat_at=now, updated_at=now, **fields,
        ))

    def lock_held(self, *, pk: int, attempt: int) -> Any:
        """The row, locked FOR UPDATE, if this attempt still holds it (inside a transaction)."""
        return self.objects.select_for_update().filter(self.holds(pk=pk, attempt=attempt)).first()

    def requeue(self, *, pk: int, attempt: int, error: str, **fields: Any) -> bool:
        """The worker puts its attempt's row back in the queue (it sends the task on commit).
        The heartbeat is stamped: a worker that ends an attempt is making progress."""
        now = timezone.now()
        return bool(self.objects.filter(self.holds(pk=pk, attempt=attempt)).update(
            status=self.queued, error=error, queued_at=now, heartbeat_at=now, updated_at=now, **fields,
        ))

    def fail(self, *, pk: int, attempt: int, error: str, **fields: Any) -> bool:
        """The worker ends its attempt, and the job, as failed."""
        now = timezone.now()
        return bool(self.objects.filter(self.holds(pk=pk, attempt=attempt)).update(
            status=self.failed, error=error, finished_at=now, heartbeat_at=now, updated_at=now, **fields,
        ))

    def reap_one(self, *, pk: int, attempt: int, max_attempts: int, stale_before: datetime) -> str:
        """Take a stale row back: ``requeued``, ``failed`` (no attempts left) or ``""`` when
        its worker came back to life or someone else reaped it first."""
        still_stale = self.objects.filter(self.holds(pk=pk, attempt=attempt), heartbeat_at__lt=stale_before)
        now = timezone.now()
        if attempt >= max_attempts:
            error = (
                f"gave up after {attempt} attempts: the worker stopped while processing this "
                "file (it may be too large or malformed)"
            )
            won = still_stale.update(status=self.failed, error=error, finished_at=now, updated_at=now)
            return "failed" if won else ""
        won = still_stale.update(
            status=self.queued, queued_at=now, updated_at=now,
            error=f"attempt {attempt} stopped responding; retrying",
        )
        return "requeued" if won else ""

    @contextmanager
    def heartbeat(self, *, pk: int, attempt: int, every: float) -> Iterator[None]:
        """Stamp the row's heartbeat every ``every`` seconds from a thread while the block runs."""
        stop = threading.Event()

        def run() -> None:
            try:
                while not stop.wait(every):
                    self.beat(pk=pk, attempt=attempt)
            except Exception:  # a missed heartbeat only risks a re-run, never data
                logger.warning("heartbeat for %s %s failed", self.model.__name__, pk, exc_info=True)
            finally:
                connection.close()

        thread = threading.Thread(target=run, name=f"heartbeat-{pk}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)


INGEST_JOBS = JobTable(model=kb_models.IngestJob)
