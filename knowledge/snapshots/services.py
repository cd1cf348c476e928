"""Writes of snapshots and of what feeds them: the business profile, member directory
entries, and regeneration (DESIGN §10).

* ``profile_put`` / ``directory_entry_put`` validate, refuse a person's contact details,
  save, and regenerate the snapshot they feed in the same transaction: a refusal leaves
  nothing saved and nothing ingested.
* ``regenerate(tenant_id=…)`` recomputes a tenant's snapshots. Each is built from the
  allow-listed fields only (``fields.project``), versioned by the sha256 of its canonical
  facts (unchanged → nothing rendered, no job, no embedding), rendered (``render``), checked
  by the PII detector (a denied type that is not the tenant's own published contact →
  refused, the reason on the ``Snapshot`` row, the previous version stays served), and
  ingested through ``documents.document_put`` as a virtual document (``source_kind=snapshot``,
  tenant scope, knowledge kind). Erasure calls it for the tenants whose snapshots named the
  erased member (``tenants_naming``).
* ``reconcile_all`` — the nightly pass over every tenant (bulk updates send no signals).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kbsite.errors import Conflict, InvalidInput
from knowledge import documents, models, neutralisation
from knowledge.ingestion import neutralise
from knowledge.snapshots import fields, hooks, profile, render

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
Name = models.SnapshotName
TITLES: dict[str, str] = {Name.PROFILE: "Business profile", Name.DIRECTORY: "Member directory",
          Name.SOURCES: "Connected sources"}
RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    Name.PROFILE: render.render_profile, Name.DIRECTORY: render.render_directory,
    Name.SOURCES: render.render_sources,
}


class Outcome(StrEnum):
    INGESTED = "ingested"  # a new version was put and its ingestion requested
    UNCHANGED = "unchanged"  # same canonical content: nothing rendered, no job
    REMOVED = "removed"  # nothing to say any more: the document is gone
    EMPTY = "empty"  # nothing to say, and nothing was there
    REFUSED = "refused"  # the rendered text holds a denied PII type: not ingested


class SnapshotRefused(InvalidInput):
    code = "snapshot_refused"


def external_id(name: str) -> str:
    return f"snapshot:{name}"


# --- Reads ----------------------------------------------------------------------------------


def profile_get(*, tenant: models.Tenant) -> models.TenantProfile | None:
    return models.TenantProfile.objects.filter(tenant=tenant).first()


def profile_json(*, tenant: models.Tenant) -> dict[str, Any]:
    """The profile as DESIGN §10 shapes it; the defaults when the tenant has none yet."""
    row = profile_get(tenant=tenant)
    if row is None:
        return {"name": tenant.name, "description": "", "address": "", "phone": "", "email": "",
                "timezone": settings.TIME_ZONE, "locale": "", "opening_hours": models.empty_opening_hours(),
                "exceptions": [], "service_area": ""}
    data = {name: getattr(row, name) for name in profile.FIELDS}
    data["opening_hours"] = {day: list((row.opening_hours or {}).get(day) or []) for day in profile.WEEKDAYS}
    return data


def snapshot_list(*, tenant: models.Tenant) -> list[models.Snapshot]:
    return list(models.Snapshot.objects.filter(tenant=tenant).select_related("document").order_by("name"))


def tenants_naming(*, user_id: int) -> list[int]:
    """Tenants whose current snapshots (or directory entries) name the user: what erasure regenerates."""
    named = set(models.Snapshot.objects.filter(named_user_ids__contains=[user_id]).values_list("tenant_id", flat=True))
    named |= set(models.MemberDirectoryEntry.objects.filter(membership__user_id=user_id).values_list("tenant_id", flat=True))
    return sorted(named)


def ensure_editable(document: models.Document) -> None:
    """Snapshots are generated: refuse editing or deleting one by hand."""
    if document.source_kind == models.SourceKind.SNAPSHOT:
        raise Conflict(
            f"“{document.name}” is a snapshot generated from the business profile, the member directory or the "
            "shared connection sources; it is read-only. Change those instead and it is regenerated."
        )


# --- PII checks -----------------------------------------------------------------------------


def _regions(tenant: models.Tenant, *locales: str) -> tuple[str, ...]:
    policy = neutralise.policy_for(tenant=tenant, source_kind=models.SourceKind.SNAPSHOT)
    regions: list[str] = []
    for locale in (*locales, policy.locale, settings.KB_DEFAULT_LOCALE):
        for region in neutralisation.regions_for_locale(locale or ""):
            if region not in regions:
                regions.append(region)
    return tuple(regions)


def _allow(tenant: models.Tenant) -> tuple[str, ...]:
    return neutralise.policy_for(tenant=tenant, source_kind=models.SourceKind.SNAPSHOT).allow


def _check_personal(tenant: models.Tenant, values: dict[str, str]) -> None:
    regions, allow = _regions(tenant), _allow(tenant)
    for name, text in values.items():
        found = neutralisation.detect(text, regions=regions, allow=allow) if text else []
        if found:
            raise InvalidInput(f"{name} contains {profile.describe(found)}: it cannot be published in the directory")


# --- The business profile -------------------------------------------------------------------


def profile_put(*, tenant: models.Tenant, data: dict[str, Any], user: Any = None) -> dict[str, Any]:
    """Replace the tenant's profile with ``data`` (DESIGN §10 shape), fill the published
    contacts of its PII settings, and regenerate the profile snapshot — or raise
    InvalidInput and change nothing."""
    try:
        cleaned = profile.clean(data, default_name=tenant.name, default_timezone=settings.TIME_ZONE)
        reason = profile.personal_contacts(cleaned, regions=_regions(tenant, cleaned["locale"]))
    except profile.ProfileError as exc:
        raise InvalidInput(str(exc)) from exc
    if reason:
        raise InvalidInput(reason)
    with transaction.atomic():
        row = models.TenantProfile.objects.select_for_update().filter(tenant=tenant).first()
        if row is None:
            row = models.TenantProfile(tenant=tenant)
        for name, value in cleaned.items():
            setattr(row, name, value)
        row.updated_by = user if getattr(user, "pk", None) else None
        row.save()
        outcome = _regenerate_one(tenant, Name.PROFILE)
        if outcome == Outcome.REFUSED:
            snap = models.Snapshot.objects.get(tenant=tenant, name=Name.PROFILE)
            raise SnapshotRefused(snap.refused_reason)  # rolls the save back
    return profile_json(tenant=tenant)


def _sync_published_contacts(tenant: models.Tenant, facts: dict[str, Any] | None) -> None:
    """NeutralisationSettings.published_contacts follows the profile (phone, e-mail, address)
    once the tenant has one; without a profile the setting is left as the admin set it."""
    if facts is None:
        return
    wanted = profile.published_contacts(facts)
    row = models.NeutralisationSettings.objects.filter(tenant=tenant).first()
    if row is None:
        if wanted:
            models.NeutralisationSettings.objects.create(tenant=tenant, published_contacts=wanted)
    elif row.published_contacts != wanted:
        row.published_contacts = wanted
        row.save(update_fields=["published_contacts", "updated_at"])


# --- Member directory -----------------------------------------------------------------------


def directory_entry_get(*, membership: models.Membership) -> models.MemberDirectoryEntry:
    """The member's entry, unsaved (not listed) when they never set one."""
    entry = models.MemberDirectoryEntry.objects.filter(membership=membership).first()
    return entry or models.MemberDirectoryEntry(tenant_id=membership.tenant_id, membership=membership)


def directory_entry_put(
    *, membership: models.Membership, listed: bool, display_name: str, title: str
) -> models.MemberDirectoryEntry:
    """A member sets how they appear in the directory (their own entry only: the caller passes
    the session user's membership). Refuses contact details in the name or title."""
    display_name, title = " ".join(display_name.split()), " ".join(title.split())
    if len(display_name) > 120 or len(title) > 120:
        raise InvalidInput("display name and title are at most 120 characters")
    if listed and not display_name:
        raise InvalidInput("a display name is needed to appear in the directory")
    tenant = membership.tenant
    _check_personal(tenant, {"display name": display_name, "title": title})
    with transaction.atomic():
        entry, _ = models.MemberDirectoryEntry.objects.select_for_update().get_or_create(
            membership=membership, defaults={"tenant": tenant}
        )
        entry.listed, entry.display_name, entry.title = listed, display_name, title
        entry.save()
        if _regenerate_one(tenant, Name.DIRECTORY) == Outcome.REFUSED:
            snap = models.Snapshot.objects.get(tenant=tenant, name=Name.DIRECTORY)
            raise SnapshotRefused(snap.refused_reason)
    return entry


# --- Facts: the allow-listed content of each snapshot ---------------------------------------


def _business_name(tenant: models.Tenant, row: models.TenantProfile | None) -> str:
    if row is not None:
        return str(fields.project(row, fields.SPECS["knowledge.TenantProfile"])["name"])
    return str(fields.project(tenant, fields.SPECS["knowledge.Tenant"])["name"])


def _profile_facts(tenant: models.Tenant) -> tuple[dict[str, Any] | None, list[int]]:
    row = profile_get(tenant=tenant)
    if row is None:
        return None, []
    facts = fields.project(row, fields.SPECS["knowledge.TenantProfile"])
    try:
        today = datetime.now(ZoneInfo(facts["timezone"])).date().isoformat()
    except (KeyError, ValueError):
        today = timezone.localdate().isoformat()
    # Past exceptions drop out (the nightly reconcile notices the date change).
    facts["exceptions"] = [e for e in facts.get("exceptions") or [] if str(e.get("date", "")) >= today]
    facts["opening_hours"] = {day: list((facts.get("opening_hours") or {}).get(day) or []) for day in profile.WEEKDAYS}
    return facts, []


def _directory_facts(tenant: models.Tenant) -> tuple[dict[str, Any] | None, list[int]]:
    entries = list(
        models.MemberDirectoryEntry.objects.filter(
            tenant=tenant, listed=True, membership__tenant=tenant, membership__user__is_active=True,
        ).exclude(display_name="").select_related("membership").order_by("display_name", "id")
    )
    if not entries:
        return None, []
    spec = fields.SPECS["knowledge.MemberDirectoryEntry"]
    people = [fields.project(e, spec) for e in entries]
    facts = {"business": _business_name(tenant, profile_get(tenant=tenant)), "people": people}
    return facts, sorted(e.membership.user_id for e in entries)


def _source_facts(tenant: models.Tenant) -> tuple[dict[str, Any] | None, list[int]]:
    summaries = hooks.source_summaries(tenant.pk)
    if not summaries:
        return None, []
    regions, allow = _regions(tenant), _allow(tenant)
    items = []
    for s in summaries:
        label = s.account_label.strip()
        # An account label is usually its owner's mail address: a person's, so left out.
        if label and neutralisation.detect(label, regions=regions, allow=allow):
            label = ""
        items.append({"provider": s.provider, "account_label": label, "source_label": s.source_label.strip(),
                      "surface": s.surface})
    items.sort(key=lambda i: (i["provider"], i["account_label"], i["surface"], i["source_label"]))
    return {"business": _business_name(tenant, profile_get(tenant=tenant)), "sources": items}, []


FACTS: dict[str, Callable[[models.Tenant], tuple[dict[str, Any] | None, list[int]]]] = {
    Name.PROFILE: _profile_facts, Name.DIRECTORY: _directory_facts, Name.SOURCES: _source_facts,
}


def facts_sha256(name: str, facts: dict[str, Any]) -> str:
    return render.canonical_sha256({"schema": SCHEMA_VERSION, "snapshot": name, "facts": facts})


# --- Regeneration ---------------------------------------------------------------------------


def _regenerate_one(tenant: models.Tenant, name: str) -> Outcome:
    with transaction.atomic():
        models.Snapshot.objects.get_or_create(tenant=tenant, name=name)
        row = models.Snapshot.objects.select_for_update().get(tenant=tenant, name=name)
        facts, named = FACTS[name](tenant)
        if name == Name.PROFILE:
            _sync_published_contacts(tenant, facts)
        now = timezone.now()
        if facts is None:
            removed = documents.document_remove(
                tenant=tenant, source_kind=models.SourceKind.SNAPSHOT, external_id=external_id(name)
            )
            row.content_sha256, row.document, row.named_user_ids = "", None, []
            row.refused_reason, row.refused_at, row.generated_at = "", None, now
            row.save()
            return Outcome.REMOVED if removed else Outcome.EMPTY
        sha = facts_sha256(name, facts)
        if (sha == row.content_sha256 and row.document_id is not None and not row.refused_reason
                and row.schema_version == SCHEMA_VERSION):
            return Outcome.UNCHANGED
        text = RENDERERS[name](facts)
        found = neutralisation.detect(text, regions=_regions(tenant), allow=_allow(tenant))
        if found:
            row.refused_reason = (
                f"The {TITLES[name].lower()} snapshot was not ingested: its text contains {profile.describe(found)} "
                "that is not the business's own published contact."
            )
            row.refused_at = now
            row.save(update_fields=["refused_reason", "refused_at"])
            logger.warning("snapshot %s of tenant %s refused: %s", name, tenant.pk,
                           sorted({f.entity for f in found}))
            return Outcome.REFUSED
        result = documents.document_put(
            tenant=tenant, source_kind=models.SourceKind.SNAPSHOT, external_id=external_id(name),
            title=TITLES[name], text=text, text_format="md", kind=models.Kind.KNOWLEDGE,
            scope=models.DocScope.TENANT, metadata={"snapshot": name, "snapshot_sha256": sha,
                                                    "schema_version": SCHEMA_VERSION},
            trigger=models.Trigger.SNAPSHOT,
        )
        row.content_sha256, row.document, row.named_user_ids = sha, result.document, named
        row.schema_version, row.generated_at, row.refused_reason, row.refused_at = SCHEMA_VERSION, now, "", None
        row.save()
        return Outcome.INGESTED if result.content_changed else Outcome.UNCHANGED


def regenerate(*, tenant_id: int, names: Iterable[str] | None = None) -> dict[str, str]:
    """Recompute the tenant's snapshots (all, or ``names``): ``{name: outcome}``. A missing
    tenant (deleted meanwhile) is nothing to do."""
    tenant = models.Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return {}
    return {name: str(_regenerate_one(tenant, name)) for name in (names or Name.values)}


def forget_user(*, tenant_id: int, user_id: int) -> int:
    """Erasure (``signals.subject_erased``): the tenant's snapshots that named the user are
    regenerated without them, and the chunks of their old text dropped at once (the new text
    is embedded by its job). Returns how many snapshots were regenerated."""
    rows = list(models.Snapshot.objects.filter(tenant_id=tenant_id, named_user_ids__contains=[user_id]))
    if not rows:
        return 0
    models.Chunk.objects.filter(
        tenant_id=tenant_id, document_id__in=[r.document_id for r in rows if r.document_id is not None]
    ).delete()
    regenerate(tenant_id=tenant_id, names=[r.name for r in rows])
    return len(rows)


def reconcile_all() -> dict[str, int]:
    """Every tenant's snapshots, recomputed: counts per outcome (and tenants that failed)."""
    counts: dict[str, int] = {"tenants": 0, "failed": 0}
    for tenant_id in models.Tenant.objects.order_by("pk").values_list("pk", flat=True):
        counts["tenants"] += 1
        try:
            outcomes = regenerate(tenant_id=tenant_id)
        except Exception:  # one tenant's failure must not stop the others; the run records it
            logger.exception("snapshot reconcile failed for tenant %s", tenant_id)
            counts["failed"] += 1
            continue
        for outcome in outcomes.values():
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts
