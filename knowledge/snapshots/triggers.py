"""Regeneration on change: signal → ``transaction.on_commit`` → one debounced task per tenant.

A save or delete of a row that feeds a snapshot marks its tenant dirty. After the commit,
a django-q2 ``Schedule`` (type once) named ``kb-snapshots-<tenant id>`` is created to run
``tasks.regenerate_tenant`` ``KB_SNAPSHOT_DEBOUNCE_SECONDS`` later — unless one is already
pending, so a burst of changes (a bulk edit in the admin) costs one run. The scheduler
deletes the schedule when it queues the task, so a change made while the task runs
schedules the next one. Bulk updates send no signals: the nightly reconcile
(``tasks.reconcile_all``) catches those.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from knowledge import models, signals

logger = logging.getLogger(__name__)

TASK = "knowledge.snapshots.tasks.regenerate_tenant"
def schedule_name(tenant_id: int) -> str:
    return f"kb-snapshots-{tenant_id}"


def debounce_seconds() -> int:
    return int(settings.KB_SNAPSHOT_DEBOUNCE_SECONDS)


def schedule_regeneration(tenant_id: int) -> bool:
    """Run the tenant's regeneration soon, once: False when a run is already pending."""
    from django_q.models import Schedule

    name = schedule_name(tenant_id)
    if Schedule.objects.filter(name=name).exists():
        return False
    Schedule.objects.create(
        name=name, func=TASK, args=repr((tenant_id,)), schedule_type=Schedule.ONCE, repeats=-1,
        next_run=timezone.now() + timedelta(seconds=debounce_seconds()),
    )
    return True


def mark_dirty(tenant_id: int | None) -> None:
    if tenant_id is None:
        return

    def later() -> None:
        try:
            schedule_regeneration(tenant_id)
        except Exception:  # after the commit: the change is saved; the nightly reconcile catches up
            logger.exception("could not schedule snapshot regeneration for tenant %s", tenant_id)

    transaction.on_commit(later)


def _tenant_id(instance: Any) -> int | None:
    value = getattr(instance, "tenant_id", None)
    return int(value) if value is not None else None


def on_row_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    if kwargs.get("raw"):  # loading fixtures
        return
    mark_dirty(_tenant_id(instance))


def on_tenant_saved(sender: Any, instance: models.Tenant, created: bool = False, **kwargs: Any) -> None:
    fields = kwargs.get("update_fields")
    if created or kwargs.get("raw") or (fields is not None and "name" not in fields):
        return
    mark_dirty(instance.pk)


def connect_sender(sender: Any, *, relevant: Callable[..., bool] | None = None) -> None:
    """Saves and deletes of ``sender`` rows mark their tenant dirty (when ``relevant`` says so)."""
    uid = f"knowledge.snapshots.{getattr(sender, '_meta', sender)}"
    handler = on_row_changed
    if relevant is not None:
        def handler(sender: Any, instance: Any, **kwargs: Any) -> None:
            if relevant(instance, **kwargs):
                on_row_changed(sender, instance, **kwargs)

        _handlers.append(handler)  # signals keep weak references
    post_save.connect(handler, sender=sender, dispatch_uid=uid + ".save")
    post_delete.connect(handler, sender=sender, dispatch_uid=uid + ".delete")


_handlers: list[Callable[..., None]] = []


def connect() -> None:
    """Called from KnowledgeConfig.ready."""
    for sender in (models.TenantProfile, models.MemberDirectoryEntry):
        connect_sender(sender)
    post_save.connect(on_tenant_saved, sender=models.Tenant, dispatch_uid="knowledge.snapshots.tenant")
    signals.subject_erased.connect(on_subject_erased, dispatch_uid="knowledge.snapshots.erased")


def on_subject_erased(sender: Any, *, tenant_id: int, user_id: int, **kwargs: Any) -> int:
    """An erased member leaves the snapshots that named them now, not after the debounce."""
    from knowledge.snapshots import services

    return services.forget_user(tenant_id=tenant_id, user_id=user_id)
