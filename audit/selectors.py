"""Tenant-scoped reads of recall audit rows. Tenant first; other tenants' rows are NotFound."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from audit import models
from kbsite.errors import NotFound
from knowledge.models import Tenant


def _start_of(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    return timezone.make_aware(dt.datetime.combine(value, dt.time.min))


def _end_of(value: dt.date | dt.datetime) -> tuple[dt.datetime, bool] | None:
    """(bound, inclusive): a datetime is an inclusive bound, a date covers its whole day.
    None when there is no bound (the last day of the calendar, 9999-12-31: nothing is after it)."""
    if isinstance(value, dt.datetime):
        return (value if timezone.is_aware(value) else timezone.make_aware(value)), True
    if value >= dt.date.max:
        return None
    return timezone.make_aware(dt.datetime.combine(value + dt.timedelta(days=1), dt.time.min)), False


def recall_list(
    *,
    tenant: Tenant,
    date_from: dt.date | dt.datetime | None = None,
    date_to: dt.date | dt.datetime | None = None,
    text: str | None = None,
    session: str | None = None,
    source: str | None = None,
) -> QuerySet[models.RecallAudit]:
    """The tenant's recall audits, newest first.

    ``date_from``/``date_to`` are inclusive (a date covers the whole day, in the current
    time zone); ``text`` matches the caller's query (raw or normalised) or the caller id,
    case-insensitively; ``session`` is an exact session id.
    """
    qs = models.RecallAudit.objects.filter(tenant=tenant)
    if date_from is not None:
        qs = qs.filter(created_at__gte=_start_of(date_from))
    end = _end_of(date_to) if date_to is not None else None
    if end is not None:
        bound, inclusive = end
        qs = qs.filter(created_at__lte=bound) if inclusive else qs.filter(created_at__lt=bound)
    if text:
        text = text.strip()
        qs = qs.filter(
            Q(query__icontains=text) | Q(normalized_query__icontains=text) | Q(caller__icontains=text)
        )
    if session:
        qs = qs.filter(session_id=session.strip())
    if source:
        qs = qs.filter(source=source)
    return qs.order_by("-created_at", "-id")


def recall_get(*, tenant: Tenant, recall_id: int) -> models.RecallAudit:
    recall = models.RecallAudit.objects.filter(tenant=tenant, pk=recall_id).first()
    if recall is None:
        raise NotFound("recall audit not found")
    return recall


def recall_session(*, tenant: Tenant, session_id: str) -> QuerySet[models.RecallAudit]:
    """Every recall of one caller session, in the order they happened."""
    return models.RecallAudit.objects.filter(tenant=tenant, session_id=session_id).order_by("created_at", "id")
