"""Erasure writes: ask for one (``erasure_request`` → a queued receipt) and run it
(``erasure_run``: claim, count, erase, count again, files, vacuum). ``erasure_queue`` asks and
queues the django-q2 task (the receipt id only) on commit."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.core.files.storage import Storage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from kbsite.errors import InvalidInput
from knowledge import models
from knowledge.erasure import plan as core
from knowledge.erasure import subjects
from knowledge.erasure.registry import Plan, Subject

logger = logging.getLogger(__name__)

TASK_FUNC = "knowledge.erasure.tasks.erasure_run"
TASK_GROUP = "knowledge.erasure"
# Vacuumed after an erasure that removed documents: deleted vectors leave the HNSW index only
# at a vacuum (pgvector zeroes them there), deleted text leaves the heap's live tuples.
VACUUM_TABLES = ("knowledge_chunk", "knowledge_document")


def erasure_request(
    *, scope: str, user: Any = None, tenant: models.Tenant | None = None, requested_by: Any = None,
    via: str = models.ErasureVia.COMMAND, dry_run: bool = False,
) -> models.ErasureReceipt:
    """A queued receipt for erasing ``user`` (in ``tenant`` only, or — scope ``user`` — in every
    tenant and the account too) or the whole ``tenant``."""
    if scope not in models.ErasureScope.values:
        raise InvalidInput(f"scope must be one of {', '.join(models.ErasureScope.values)}")
    if scope == models.ErasureScope.TENANT:
        if tenant is None or user is not None:
            raise InvalidInput("a tenant erasure names the tenant only")
        digest = subjects.subject_hash(tenant_id=tenant.pk)
    else:
        if user is None:
            raise InvalidInput("name the user to erase")
        if (scope == models.ErasureScope.USER_IN_TENANT) != (tenant is not None):
            raise InvalidInput("a user's erasure in one tenant names that tenant (and only that one)")
        digest = subjects.subject_hash(user_id=user.pk)
    return models.ErasureReceipt.objects.create(
        tenant=tenant, scope=scope, subject_hash=digest, key_id=subjects.key_id(),
        pending_user_id=user.pk if user is not None else None,
        requested_by=requested_by if getattr(requested_by, "pk", None) else None,
        requested_via=via, dry_run=dry_run,
    )


def erasure_queue(**kwargs: Any) -> models.ErasureReceipt:
    """``erasure_request`` and the task that runs it, queued on commit."""
    with transaction.atomic():
        receipt = erasure_request(**kwargs)
        receipt_id = receipt.pk
        transaction.on_commit(lambda: enqueue(receipt_id=receipt_id))
    return receipt


def task_timeout() -> int:
    from django.conf import settings

    return max(int(settings.KB_INGEST_TIMEOUT), 3600)


def enqueue(*, receipt_id: int) -> None:
    from django_q.tasks import async_task

    async_task(TASK_FUNC, receipt_id, task_name=f"erasure-{receipt_id}", group=TASK_GROUP, timeout=task_timeout())


def _subject(receipt: models.ErasureReceipt) -> Subject:
    if receipt.scope == models.ErasureScope.TENANT:
        return Subject(scope=receipt.scope, tenant_id=receipt.tenant_id)
    if receipt.pending_user_id is None:
        raise InvalidInput("this receipt no longer names a user to erase")
    tenant_id = receipt.tenant_id if receipt.scope == models.ErasureScope.USER_IN_TENANT else None
    if receipt.scope == models.ErasureScope.USER_IN_TENANT and tenant_id is None:
        raise InvalidInput("the tenant of this erasure no longer exists")
    return Subject(scope=receipt.scope, user_id=int(receipt.pending_user_id), tenant_id=tenant_id)


def _claim(receipt_id: int) -> bool:
    """Queued → running, only for the one process that wins the row. A failed run may be run
    again, and so may a ``running`` one older than the task's time limit: its process died, and
    its transaction with it (the erasure is one transaction), so running it again is safe."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=task_timeout())
    claimable = Q(status__in=[models.ErasureStatus.QUEUED, models.ErasureStatus.FAILED]) | Q(
        status=models.ErasureStatus.RUNNING, started_at__lt=stale
    )
    return bool(
        models.ErasureReceipt.objects.filter(claimable, pk=receipt_id).update(
            status=models.ErasureStatus.RUNNING, started_at=now, error="", finished_at=None
        )
    )


def erasure_run(*, receipt_id: int) -> models.ErasureReceipt:
    """Run a queued (or failed) erasure: counts before, the erasure in one transaction, counts
    after; the files after commit (checked by count); then the vacuum, outside any
    transaction. A dry run only counts. A receipt another process runs is returned as it is."""
    if not _claim(receipt_id):
        return models.ErasureReceipt.objects.get(pk=receipt_id)
    receipt = models.ErasureReceipt.objects.get(pk=receipt_id)
    try:
        subject = _subject(receipt)
        after: list[Any] = []
        with transaction.atomic():
            found = core.build(subject)
            receipt.counts_before = core.count(subject, found)
            if receipt.dry_run:
                receipt.details = {"documents": len(found.document_ids), "files": len(found.files)}
            else:
                info, after = core.erase(subject, found)
                receipt.details = info
            receipt.counts_after = core.count(subject, found)
        if not receipt.dry_run:
            for name, work in after:
                try:
                    for key, n in work().items():
                        receipt.details[f"{name}.{key}"] = n
                except Exception:  # noqa: BLE001 — best effort (a provider's grant revocation)
                    logger.warning("erasure %s: %s after commit failed", receipt_id, name, exc_info=True)
                    receipt.details[f"{name}.after_commit_failed"] = 1
            receipt.files_deleted, receipt.files_failed = _files_gone(found, subject)
    except Exception as exc:
        logger.exception("erasure %s failed", receipt_id)
        # No message: it could quote a value of the subject's rows. The log has the detail.
        models.ErasureReceipt.objects.filter(pk=receipt_id).update(
            status=models.ErasureStatus.FAILED, error=f"{type(exc).__name__}: see the server log",
            finished_at=timezone.now(),
        )
        receipt.refresh_from_db()
        return receipt
    receipt.status = models.ErasureStatus.FINISHED
    receipt.finished_at = timezone.now()
    receipt.pending_user_id = None
    receipt.save(update_fields=["counts_before", "counts_after", "details", "files_deleted", "files_failed",
                                "status", "finished_at", "pending_user_id"])
    if not receipt.dry_run:
        vacuumed_at = vacuum()
        if vacuumed_at is not None:
            receipt.vacuum_finished_at = vacuumed_at
            receipt.save(update_fields=["vacuum_finished_at"])
    return receipt


def _storage() -> Storage:
    return models.Document._meta.get_field("file").storage  # type: ignore[attr-defined, no-any-return]


def _files_gone(found: Plan, subject: Subject) -> tuple[int, int]:
    """Files of the erased documents checked after commit (the purge deleted them then): how
    many are gone and how many are still there. A tenant's whole storage prefix goes too."""
    if connection.in_atomic_block:
        # Inside a caller's transaction nothing has committed, so nothing was deleted yet.
        return 0, 0
    storage = _storage()
    names = list(found.files)
    if subject.is_tenant:
        prefix = f"kb/{subject.tenant_id}"
        try:
            _dirs, left = storage.listdir(prefix) if storage.exists(prefix) else ([], [])
        except (FileNotFoundError, NotImplementedError):
            left = []
        for name in left:  # orphans of the tenant: no row names them any more
            full = f"{prefix}/{name}"
            if full not in names:
                try:
                    storage.delete(full)
                except OSError:
                    logger.warning("erasure: could not delete %s", full, exc_info=True)
                names.append(full)
    failed = 0
    for name in names:
        if storage.exists(name):
            try:
                storage.delete(name)
            except OSError:
                logger.warning("erasure: could not delete %s", name, exc_info=True)
            if storage.exists(name):
                failed += 1
    return len(names) - failed, failed


def vacuum() -> Any:
    """``VACUUM (ANALYZE)`` of the tables that held erased vectors and text. VACUUM cannot run
    in a transaction: inside one (a caller's ``atomic``), nothing is done and None returned."""
    if connection.in_atomic_block:
        logger.warning("erasure: inside a transaction, the vacuum is left to autovacuum")
        return None
    with connection.cursor() as cur:
        for table in VACUUM_TABLES:
            cur.execute(f'VACUUM (ANALYZE) "{table}"')
    return timezone.now()


def erase_now(**kwargs: Any) -> models.ErasureReceipt:
    """Request and run at once (``kb_erase``)."""
    receipt = erasure_request(**kwargs)
    return erasure_run(receipt_id=receipt.pk)
