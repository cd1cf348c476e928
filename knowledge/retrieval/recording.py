"""The recall audit hook: how a retrieval gets its ``RecallAudit`` row without ``knowledge``
importing ``audit`` (DESIGN §2: the audit app uses knowledge, never the reverse).

The audit app registers a ``Recorder`` in its ``AppConfig.ready()``. Every retrieval is
audited or fails: with no recorder registered, or when reserving the row's id fails, the
call raises ``AuditUnavailable`` (HTTP 503, JSON) before anything is returned. The API
writes the row after its response has gone out (off the caller's path); a write that fails
then cannot fail the call any more, so it is counted — persistently, in the database cache
the worker stats use — logged, and shown by ``failure_stats()`` on ``/api/v1/health`` and
the jobs page. The browser's test page writes before it answers and fails on error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from django.core.cache import caches
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from kbsite.errors import ServiceError

if TYPE_CHECKING:
    from knowledge import models
    from knowledge.retrieval.entry import RetrievalResult

logger = logging.getLogger(__name__)

FAILURES_KEY = "kb:recall_audit:failures"
LAST_FAILURE_KEY = "kb:recall_audit:last_failure"
COUNTER_CACHE = "djangoq"  # the database cache (kb_worker_cache): shared by every process
# Failures that mean "this row could not be written" (NUL bytes raise ValueError in psycopg).
WRITE_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, ValueError)


class AuditUnavailable(ServiceError):
    status_code = 503
    code = "audit_unavailable"


class Writer(Protocol):
    def __call__(
        self, *, result: RetrievalResult, source: str, session_id: str, caller: str,
        api_key: models.ApiKey | None, user_id: int | None, is_test: bool, recall_id: int | None,
    ) -> int: ...


@dataclass(frozen=True)
class Recorder:
    """What the audit app provides: an id reservation (no round trip for most calls) and the
    write of one row (returns its id)."""

    reserve_id: Callable[[], int]
    write: Writer


_recorder: list[Recorder] = []


def register(recorder: Recorder) -> None:
    """Install the recorder (the audit app's ready()); a second registration replaces it."""
    _recorder[:] = [recorder]


def unregister() -> None:
    """Remove the recorder (tests of the "no recorder" path)."""
    _recorder.clear()


def recorder() -> Recorder:
    if not _recorder:
        raise AuditUnavailable("retrieval is not available: no recall audit recorder is registered")
    return _recorder[0]


def reserve_id() -> int:
    try:
        return recorder().reserve_id()
    except WRITE_ERRORS as exc:
        note_failure(exc)
        raise AuditUnavailable("retrieval is not available: the recall audit cannot be written") from exc


def write_now(write: Callable[[], int]) -> int:
    """Write a row before answering; any failure is counted and fails the call. Inside a
    transaction the write runs in a savepoint, so a failure leaves the transaction usable."""
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                return write()
        return write()
    except WRITE_ERRORS as exc:
        note_failure(exc)
        raise AuditUnavailable("the recall audit row could not be written; nothing was returned") from exc


def write_after_response(write: Callable[[], int], *, recall_id: int | None) -> bool:
    """Write a row whose response has already gone out: a failure is counted and logged
    (it can no longer fail the call). True when the row was written."""
    try:
        write()
    except WRITE_ERRORS as exc:
        logger.error("could not write recall audit %s: %s", recall_id, type(exc).__name__, exc_info=True)
        note_failure(exc)
        return False
    return True


def note_failure(exc: BaseException) -> None:
    """Count one failed audit write, persistently (best effort: the database may be what
    failed; then the log line is all there is)."""
    try:
        cache = caches[COUNTER_CACHE]
        with transaction.atomic():
            # Serialise increments across processes (the database cache's incr is get+set).
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [FAILURES_KEY])
            cache.add(FAILURES_KEY, 0, timeout=None)
            cache.incr(FAILURES_KEY)
            cache.set(LAST_FAILURE_KEY, {"at": timezone.now().isoformat(), "error": type(exc).__name__}, timeout=None)
    except (DatabaseError, ValueError):
        logger.exception("could not count a failed recall audit write")


def failure_stats() -> dict[str, Any]:
    """``{"write_failures": n, "last_failure": {"at", "error"} | None}`` (health, jobs page)."""
    try:
        cache = caches[COUNTER_CACHE]
        return {
            "write_failures": int(cache.get(FAILURES_KEY) or 0),
            "last_failure": cache.get(LAST_FAILURE_KEY),
        }
    except DatabaseError as exc:
        return {"write_failures": None, "error": type(exc).__name__}
