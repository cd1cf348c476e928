"""Knowledge's own part of an erasure: find the subject's rows (``build``), count them per
table (``count``), and remove them (``erase``), calling the registered participants for the
rest. Everything here runs inside the erasure's transaction (``services``)."""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import models as dj
from django.db.models import Q, QuerySet

from knowledge import models, purge, signals
from knowledge.erasure import registry
from knowledge.erasure.registry import Plan, Subject

logger = logging.getLogger(__name__)

REDACTED = "[erased]"

# What knowledge's plan does with each model that refers to a user or a tenant (the coverage
# test reads this together with the participants' ``covers`` and ``coverage.EXEMPT``).
COVERS: dict[str, str] = {
    "knowledge.Tenant": "tenant: deleted, with every row that belongs to it",
    "knowledge.Membership": "user: ended in the tenant(s) in scope; tenant: deleted",
    "knowledge.Document": (
        "user: their personal documents and their connections' documents purged (chunks, jobs, "
        "files), created_by cleared on the tenant's documents they uploaded; tenant: all purged"
    ),
    "knowledge.Chunk": "purged with their documents (then VACUUM, so the vectors leave the index)",
    "knowledge.IngestJob": "deleted with their documents",
    "knowledge.ApiKey": "user: created_by cleared; tenant: deleted",
    "knowledge.TenantProfile": "user: updated_by cleared (who last saved it); tenant: deleted",
    "knowledge.MemberDirectoryEntry": "user: deleted with the membership (display name and title); tenant: deleted",
    "knowledge.Snapshot": (
        "user: the snapshots that named them regenerated and their old chunks dropped at once "
        "(subject_erased → knowledge.snapshots); tenant: deleted"
    ),
    "knowledge.NeutralisationSettings": "tenant: deleted (holds no personal data)",
    "knowledge.TenantBudget": "tenant: deleted (holds no personal data)",
    "knowledge.BudgetPeriod": "tenant: deleted (holds no personal data)",
    "knowledge.BudgetReservation": "tenant: deleted (token counts only, no personal data)",
    "admin.LogEntry": (
        "user: entries the user made are deleted with the account; entries about their account, "
        "memberships and documents keep the action but lose the object's name"
    ),
    "auth.User": "user: the account is deleted (not with --tenant); tenant: members left without any tenant deleted",
}


def _user_model() -> type[dj.Model]:
    return get_user_model()


def subject_documents(subject: Subject) -> QuerySet[models.Document]:
    """The documents that hold the subject's data (attachments are added by ``build``)."""
    if subject.is_tenant:
        return models.Document.objects.filter(tenant_id=subject.tid)
    wanted = Q(owner_id=subject.uid)
    for participant in registry.participants():
        if participant.documents is not None:
            wanted |= participant.documents(subject)
    return models.Document.objects.filter(subject.tenants()).filter(wanted)


def build(subject: Subject) -> Plan:
    rows = list(subject_documents(subject).values_list("pk", "tenant_id", "file"))
    ids = {pk for pk, _, _ in rows}
    frontier = set(ids)
    while frontier:  # attachments go with their message, at any depth (as in purge)
        children = list(
            models.Document.objects.filter(parent_id__in=frontier).exclude(pk__in=ids)
            .values_list("pk", "tenant_id", "file")
        )
        rows += children
        frontier = {pk for pk, _, _ in children}
        ids |= frontier
    plan = Plan(subject=subject, document_ids=ids, files=sorted({name for _, _, name in rows if name}))
    plan.chunk_ids = set(models.Chunk.objects.filter(document_id__in=ids).values_list("pk", flat=True))
    plan.policy_texts = list(
        models.Chunk.objects.filter(document_id__in=ids, kind=models.Kind.POLICY).values_list("text", flat=True)
    )
    plan.tenant_ids = {tenant_id for _, tenant_id, _ in rows}
    if subject.is_tenant:
        plan.tenant_ids.add(subject.tid)
        plan.user_ids = _members_to_delete(subject)
    else:
        if subject.tenant_id is None:
            plan.user_ids = {subject.uid}
        plan.tenant_ids |= set(
            models.Membership.objects.filter(subject.tenants(), user_id=subject.uid).values_list("tenant_id", flat=True)
        )
    return plan


# --- counting -----------------------------------------------------------------------------------


def _sessions_of(user_ids: set[int]) -> list[str]:
    if not user_ids:
        return []
    wanted = {str(pk) for pk in user_ids}
    keys = []
    for session in Session.objects.all().iterator():
        # get_decoded() answers {} for a session it cannot read (a rotated key): it names nobody.
        if str(session.get_decoded().get("_auth_user_id", "")) in wanted:
            keys.append(session.session_key)
    return keys


def _log_entries_about(subject: Subject, plan: Plan) -> QuerySet[LogEntry]:
    about = Q(pk__in=[])
    def objects(model: type[dj.Model], ids: Any) -> Q:
        ct = ContentType.objects.get_for_model(model)
        return Q(content_type=ct, object_id__in=[str(pk) for pk in ids])

    if plan.document_ids:
        about |= objects(models.Document, plan.document_ids)
    if subject.is_tenant:
        about |= objects(models.Tenant, [subject.tid])
        about |= objects(models.Membership, models.Membership.objects.filter(tenant_id=subject.tid)
                         .values_list("pk", flat=True))
    else:
        about |= objects(models.Membership, models.Membership.objects.filter(subject.tenants(), user_id=subject.uid)
                         .values_list("pk", flat=True))
        if subject.tenant_id is None:
            about |= objects(_user_model(), [subject.uid])
    return LogEntry.objects.filter(about).exclude(object_repr=REDACTED, change_message="")


def _members_to_delete(subject: Subject) -> set[int]:
    """Tenant erasure: its members who belong to no other tenant (operators — staff and
    superusers — keep their accounts)."""
    members = models.Membership.objects.filter(tenant_id=subject.tid).values_list("user_id", flat=True)
    elsewhere = models.Membership.objects.filter(user_id__in=members).exclude(tenant_id=subject.tid)
    return set(
        _user_model()._default_manager.filter(pk__in=members, is_staff=False, is_superuser=False)
        .exclude(pk__in=elsewhere.values("user_id")).values_list("pk", flat=True)
    )


def _tenant_models() -> list[tuple[type[dj.Model], str]]:
    """Every model with a direct foreign key to Tenant (but the receipts), with that field."""
    found = []
    for model in apps.get_models():
        if model is models.ErasureReceipt:
            continue
        for f in model._meta.get_fields():
            if f.is_relation and f.concrete and f.many_to_one and f.related_model is models.Tenant:
                found.append((model, f.name))
    return found


def count(subject: Subject, plan: Plan) -> dict[str, int]:
    """Rows that hold the subject's data, per table (knowledge's tables, accounts, sessions,
    the admin log); the participants count theirs."""
    counts: dict[str, int] = {}
    ids = plan.document_ids | set(build(subject).document_ids)
    if subject.is_tenant:
        counts["knowledge_tenant"] = models.Tenant.objects.filter(pk=subject.tid).count()
        for model, field_name in _tenant_models():
            table = model._meta.db_table
            counts[table] = counts.get(table, 0) + model._default_manager.filter(**{field_name: subject.tenant_id}).count()
        counts["auth_user"] = _user_model()._default_manager.filter(pk__in=plan.user_ids).count()
        counts["django_session"] = len(_sessions_of(plan.user_ids))
    else:
        counts["knowledge_document"] = models.Document.objects.filter(pk__in=ids).count()
        counts["knowledge_chunk"] = models.Chunk.objects.filter(Q(document_id__in=ids) | Q(pk__in=plan.chunk_ids)).count()
        counts["knowledge_ingestjob"] = models.IngestJob.objects.filter(document_id__in=ids).count()
        counts["knowledge_membership"] = models.Membership.objects.filter(subject.tenants(), user_id=subject.uid).count()
        counts["knowledge_document.created_by"] = (
            models.Document.objects.filter(subject.tenants(), created_by_id=subject.uid).exclude(pk__in=ids).count()
        )
        counts["knowledge_apikey.created_by"] = models.ApiKey.objects.filter(
            subject.tenants(), created_by_id=subject.uid
        ).count()
        counts["knowledge_tenantprofile.updated_by"] = models.TenantProfile.objects.filter(
            subject.tenants(), updated_by_id=subject.uid
        ).count()
        counts["knowledge_memberdirectoryentry"] = models.MemberDirectoryEntry.objects.filter(
            subject.tenants(), membership__user_id=subject.uid
        ).count()
        counts["knowledge_snapshot.named"] = models.Snapshot.objects.filter(
            subject.tenants(), named_user_ids__contains=[subject.uid]
        ).count()
        if subject.tenant_id is None:
            counts["auth_user"] = _user_model()._default_manager.filter(pk__in=plan.user_ids).count()
            counts["django_session"] = len(_sessions_of(plan.user_ids))
            counts["django_admin_log.user"] = LogEntry.objects.filter(user_id=subject.uid).count()
    counts["django_admin_log"] = _log_entries_about(subject, plan).count()
    for participant in registry.participants():
        for table, n in participant.count(subject, plan).items():
            counts[table] = counts.get(table, 0) + n
    return dict(sorted(counts.items()))


# --- erasing ----------------------------------------------------------------------------------------


def erase(subject: Subject, plan: Plan) -> tuple[dict[str, int], list[Any]]:
    """Remove what ``plan`` found, in the caller's transaction. Returns what each step did and
    the participants' after-commit work."""
    info: dict[str, int] = {}
    after: list[Any] = []
    users_to_delete = set(plan.user_ids)
    # The admin log first: its queries need the memberships and documents that go below.
    info["admin_log_redacted"] = _log_entries_about(subject, plan).update(object_repr=REDACTED, change_message="")
    receipt = purge.PurgeReceipt(documents=0, chunks=0, files=0, audit_rows_redacted=0, finished_at=_now())
    tenants = set(models.Document.objects.filter(pk__in=plan.document_ids).values_list("tenant_id", flat=True))
    for tenant_id in sorted(tenants):
        receipt = receipt + purge.documents_purge(
            tenant=tenant_id, documents=models.Document.objects.filter(pk__in=plan.document_ids), reason="erasure"
        )
    info.update(documents_purged=receipt.documents, chunks_purged=receipt.chunks,
                audit_rows_redacted_by_purge=receipt.audit_rows_redacted)
    if not subject.is_tenant:
        info["documents_creator_cleared"] = models.Document.objects.filter(
            subject.tenants(), created_by_id=subject.uid).update(created_by=None)
        info["api_keys_creator_cleared"] = models.ApiKey.objects.filter(
            subject.tenants(), created_by_id=subject.uid).update(created_by=None)
        info["profiles_editor_cleared"] = models.TenantProfile.objects.filter(
            subject.tenants(), updated_by_id=subject.uid).update(updated_by=None)
    for participant in registry.participants():
        part = participant.erase(subject, plan)
        for key, n in part.info.items():
            info[f"{participant.name}.{key}"] = n
        if part.after_commit is not None:
            after.append((participant.name, part.after_commit))
    sessions = _sessions_of(users_to_delete)
    info["sessions_deleted"] = Session.objects.filter(session_key__in=sessions).delete()[0] if sessions else 0
    if subject.is_tenant:
        tenant = models.Tenant.objects.filter(pk=subject.tid).first()
        if tenant is not None:
            purge.tenant_delete(tenant=tenant, reason="erasure")
        info["accounts_deleted"] = _delete_users(users_to_delete)
    else:
        info["memberships_ended"] = models.Membership.objects.filter(
            subject.tenants(), user_id=subject.uid).delete()[0]
        info["accounts_deleted"] = _delete_users(users_to_delete)
        snapshots = 0
        for tenant_id in sorted(plan.tenant_ids):
            for _receiver, response in signals.subject_erased.send(
                sender=models.ErasureReceipt, tenant_id=tenant_id, user_id=subject.uid
            ):
                if isinstance(response, int):
                    snapshots += response
        info["snapshots_regenerated"] = snapshots
    return info, after


def _delete_users(user_ids: set[int]) -> int:
    deleted = 0
    for user in _user_model()._default_manager.filter(pk__in=user_ids):
        user.delete()  # the pre_delete receiver purges anything of theirs still left
        deleted += 1
    return deleted


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()
