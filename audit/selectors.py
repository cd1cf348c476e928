"""Tenant-scoped reads of recall audit rows. Tenant first; other tenants' rows are NotFound."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from audit import models
from kbsite.errors import NotFound
from knowledge import selectors as kb_selectors
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


# --- What one reader may see of a recall's returned chunks ------------------------------------
#
# DESIGN §5: a personal document is visible only to its owner, in recall audit rows too, where
# another reader sees that a personal document of another user was returned but never its
# text or name. Retrieval only ever returns the asking user's own personal documents (and an
# API key's calls none), so a personal hit in a row belongs to the row's user. The rule, for a
# reader (a user, or None for an API key) and each hit:
#   * the document still exists: shown when the reader may open it (knowledge's one
#     visibility rule, ``selectors.document_presence``), else withheld as personal;
#   * the document is gone: shown when the hit says it was tenant-scope, or when the call
#     could not have returned a personal document of someone else (no user, or the reader's
#     own call); otherwise withheld, since it may have been the caller's personal document.
# Every reader of audit rows (the API's serialisation, the pages) goes through ``for_reader``.

WITHHELD_PERSONAL = "personal_document_of_another_user"
WITHHELD_MAYBE_PERSONAL = "deleted_document_maybe_personal"
WITHHELD_LABELS = {
    WITHHELD_PERSONAL: "a personal document of another user",
    WITHHELD_MAYBE_PERSONAL: "a deleted document (it may have been personal to the user who asked)",
}
# What a withheld hit loses: everything that came out of the document.
_WITHHELD_BLANKS: dict[str, Any] = {"document_name": "", "text": "", "heading": "", "page": None}


class ReaderRecall:
    """A recall audit row as one reader may see it: every attribute of the row, except that
    ``results`` holds the returned chunks with what the reader may not see withheld. Each hit
    also says ``document_exists``, ``document_visible`` (the reader may open it) and
    ``withheld`` (None, or one of the WITHHELD_* codes)."""

    def __init__(self, recall: models.RecallAudit, results: list[dict[str, Any]]) -> None:
        self.recall = recall
        self.results = results

    def __getattr__(self, name: str) -> Any:
        if name in {"recall", "results"}:  # not set yet (copy, pickle): never fall through
            raise AttributeError(name)
        return getattr(self.recall, name)


def _withheld(hit: dict[str, Any], *, present: dict[int, bool], reader_id: int | None,
              caller_id: int | None) -> str | None:
    document_id = hit.get("document_id")
    if isinstance(document_id, int) and document_id in present:
        return None if present[document_id] else WITHHELD_PERSONAL
    scope = hit.get("scope")
    if scope == "tenant":
        return None
    owner_id = hit.get("owner_id", caller_id)
    if owner_id is None and scope != "personal":
        return None
    if reader_id is not None and owner_id == reader_id:
        return None
    return WITHHELD_PERSONAL if scope == "personal" else WITHHELD_MAYBE_PERSONAL


def for_reader(
    *, tenant: Tenant, user: Any, recalls: Iterable[models.RecallAudit]
) -> list[ReaderRecall]:
    """These recalls (of ``tenant``) as ``user`` may see them (None: an API key, which sees
    tenant-scope documents only). One query for all their documents, whatever the count."""
    rows = list(recalls)
    hits_of = {row.pk: [hit for hit in (row.results or []) if isinstance(hit, dict)] for row in rows}
    document_ids = {
        hit["document_id"] for hits in hits_of.values() for hit in hits if isinstance(hit.get("document_id"), int)
    }
    present = (
        kb_selectors.document_presence(tenant=tenant, user=user, document_ids=document_ids) if document_ids else {}
    )
    reader_id = getattr(user, "pk", None)
    out = []
    for row in rows:
        results = []
        for hit in hits_of[row.pk]:
            document_id = hit.get("document_id")
            withheld = _withheld(hit, present=present, reader_id=reader_id, caller_id=row.user_id)
            shown = {**hit, **_WITHHELD_BLANKS} if withheld else dict(hit)
            shown.update(
                document_exists=document_id in present,
                document_visible=bool(present.get(document_id)) if isinstance(document_id, int) else False,
                withheld=withheld,
            )
            results.append(shown)
        out.append(ReaderRecall(row, results))
    return out


def recall_get_for_reader(*, tenant: Tenant, user: Any, recall_id: int) -> ReaderRecall:
    """One recall of ``tenant`` as ``user`` may see it; other tenants' ids are NotFound."""
    return for_reader(tenant=tenant, user=user, recalls=[recall_get(tenant=tenant, recall_id=recall_id)])[0]


def document_label(hit: dict[str, Any]) -> str:
    """How a hit's document is named to its reader: its name, or what kind of thing was withheld."""
    withheld = hit.get("withheld")
    if withheld:
        return WITHHELD_LABELS.get(withheld, WITHHELD_LABELS[WITHHELD_PERSONAL])
    return str(hit.get("document_name", ""))


def page_for_reader(*, page: dict[str, Any], principal: Any) -> dict[str, Any]:
    """A ``{items, count}`` page of recalls as the API caller (``auth.Principal``) may see it."""
    return {**page, "items": for_reader(tenant=principal.tenant, user=principal.user, recalls=page["items"])}
