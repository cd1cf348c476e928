"""Curated snapshots (DESIGN §10): the business profile API, what reaches retrieval, the
allow-list coverage, PII refusals, versioning by content hash, triggers and the reconcile."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django_q.models import Schedule

from knowledge import models, services
from knowledge.snapshots import fields, render, tasks, triggers
from knowledge.snapshots import services as snapshots
from tests.conftest import ApiClient

URL = "/api/v1/tenant/profile"

PROFILE: dict[str, Any] = {
    "name": "BrightSmile Family Dental",
    "description": "A family dental practice: check-ups, cleanings, fillings and emergency appointments.",
    "address": "12 Harbour Road, Springfield 4021",
    "phone": "+1 415 555 0134",
    "email": "info@brightsmile.example",
    "timezone": "America/Los_Angeles",
    "locale": "en-US",
    "opening_hours": {
        "monday": ["08:00-12:00", "13:00-17:00"], "tuesday": ["08:00-17:00"], "wednesday": ["08:00-17:00"],
        "thursday": ["08:00-17:00"], "friday": ["08:00-14:00"], "saturday": [], "sunday": [],
    },
    "exceptions": [{"date": "2099-12-24", "hours": [], "note": "closed"}],
    "service_area": "Springfield and the towns around the harbour",
}


def snapshot_doc(tenant: models.Tenant, name: str = "profile") -> models.Document | None:
    return models.Document.objects.filter(
        tenant=tenant, source_kind=models.SourceKind.SNAPSHOT, external_id=f"snapshot:{name}"
    ).first()


@pytest.fixture
def profile_saved(api: ApiClient, tenant: models.Tenant, run_jobs: Callable[[], list[str]]) -> models.Document:
    response = api.client.put(URL, PROFILE, content_type="application/json", headers=api._headers(None))
    assert response.status_code == 200, response.content
    run_jobs()
    doc = snapshot_doc(tenant)
    assert doc is not None
    return doc


def put(client: ApiClient, body: Any) -> Any:
    return client.client.put(URL, body, content_type="application/json", headers=client._headers(None))


# --- The API --------------------------------------------------------------------------------


def test_get_answers_the_design_shape_with_defaults_before_any_profile(api: ApiClient, tenant: models.Tenant) -> None:
    body = api.get(URL).json()

    assert set(body) == {"name", "description", "address", "phone", "email", "timezone", "locale",
                         "opening_hours", "exceptions", "service_area"}
    assert body["name"] == tenant.name
    assert list(body["opening_hours"]) == ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                           "sunday"]
    assert all(v == [] for v in body["opening_hours"].values()) and body["exceptions"] == []


def test_put_saves_the_profile_and_get_returns_it(api: ApiClient, profile_saved: models.Document) -> None:
    assert api.get(URL).json() == PROFILE


def test_put_ingests_the_profile_as_a_read_only_tenant_snapshot(
    tenant: models.Tenant, profile_saved: models.Document
) -> None:
    doc = profile_saved
    assert (doc.source_kind, doc.scope, doc.kind, doc.status) == ("snapshot", "tenant", "knowledge", "ready")
    assert "BrightSmile Family Dental is open Monday 8:00–12:00 and 13:00–17:00" in doc.inline_text
    assert "Thursday 24 December 2099: BrightSmile Family Dental is closed (closed)" in doc.inline_text
    assert "The address of BrightSmile Family Dental is 12 Harbour Road, Springfield 4021." in doc.inline_text
    assert "+1 415 555 0134" in doc.inline_text and "info@brightsmile.example" in doc.inline_text
    assert doc.chunk_count >= 1


def test_put_fills_the_published_contacts_never_neutralised(tenant: models.Tenant, profile_saved: models.Document) -> None:
    row = models.NeutralisationSettings.objects.get(tenant=tenant)
    assert row.published_contacts == [PROFILE["phone"], PROFILE["email"], PROFILE["address"]]


def test_a_profile_change_reaches_retrieval(
    retrieval_on: Any, api: ApiClient, retrieve_api: ApiClient, tenant: models.Tenant,
    profile_saved: models.Document, run_jobs: Callable[[], list[str]],
) -> None:
    assert put(api, {**PROFILE, "address": "7 Lighthouse Lane, Springfield 4022"}).status_code == 200
    run_jobs()

    body = retrieve_api.post("/api/v1/retrieve", {"query": "what's your address?", "top_k": 3}).json()
    texts = [hit["text"] for hit in body["knowledge"]]
    assert any("7 Lighthouse Lane" in t for t in texts), texts
    assert not any("12 Harbour Road" in t for t in texts)
    assert body["knowledge"][0]["document_name"] == "Business profile"


def test_are_you_open_saturday_finds_the_hours(
    retrieval_on: Any, retrieve_api: ApiClient, profile_saved: models.Document
) -> None:
    body = retrieve_api.post("/api/v1/retrieve", {"query": "are you open saturday", "top_k": 3}).json()

    top = body["knowledge"][0]
    assert top["document_name"] == "Business profile"
    assert "Saturday: closed" in top["text"]


def test_an_unchanged_save_embeds_nothing(
    api: ApiClient, tenant: models.Tenant, profile_saved: models.Document, run_jobs: Callable[[], list[str]],
) -> None:
    jobs_before = models.IngestJob.objects.filter(tenant=tenant).count()
    chunks_before = list(models.Chunk.objects.filter(document=profile_saved).values_list("pk", flat=True))

    assert put(api, copy.deepcopy(PROFILE)).status_code == 200
    # Same facts written differently (key order, spacing, lower-case weekday keys in another order).
    reordered = {k: PROFILE[k] for k in reversed(list(PROFILE))}
    reordered["opening_hours"] = dict(reversed(list(PROFILE["opening_hours"].items())))
    assert put(api, reordered).status_code == 200
    assert snapshots.regenerate(tenant_id=tenant.pk) == {"profile": "unchanged", "directory": "empty",
                                                          "sources": "empty"}
    run_jobs()

    assert models.IngestJob.objects.filter(tenant=tenant).count() == jobs_before
    assert list(models.Chunk.objects.filter(document=profile_saved).values_list("pk", flat=True)) == chunks_before


def test_a_person_email_smuggled_into_description_is_refused(api: ApiClient, tenant: models.Tenant) -> None:
    body = {**PROFILE, "description": "Questions? Write to our hygienist jane.doe@gmail.com any time."}

    response = put(api, body)

    assert response.status_code == 400
    assert "description contains an e-mail address" in response.json()["detail"]
    assert not models.TenantProfile.objects.filter(tenant=tenant).exists()
    assert snapshot_doc(tenant) is None and not models.IngestJob.objects.filter(tenant=tenant).exists()


def test_the_business_own_email_and_phone_may_appear_in_the_description(api: ApiClient) -> None:
    body = {**PROFILE, "description": "Call +1 415 555 0134 or write to info@brightsmile.example."}
    assert put(api, body).status_code == 200


@pytest.mark.parametrize(("change", "message"), [
    ({"opening_hours": {"monday": ["8-12"]}}, "opening_hours.monday: '8-12' is not a time interval"),
    ({"opening_hours": {"monday": ["17:00-08:00"]}}, "must start before it ends"),
    ({"opening_hours": {"monday": ["08:00-12:00", "11:00-13:00"]}}, "overlap"),
    ({"opening_hours": {"someday": []}}, "someday is not a weekday"),
    ({"opening_hours": "always"}, "opening_hours must be an object"),
    ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not a known IANA time zone"),
    ({"locale": "klingon"}, "is not a language-COUNTRY locale"),
    ({"exceptions": [{"date": "24.12.2026", "hours": []}]}, "exceptions[0].date '24.12.2026' is not a date"),
    ({"email": "not-an-address"}, "is not an e-mail address"),
    ({"phone": "call us"}, "is not a phone number"),
    ({"colour": "blue"}, "unknown profile field(s): colour"),
    ({"service_area": "IBAN DE89 3704 0044 0532 0130 00 for payments"}, "service_area contains an IBAN"),
])
def test_bad_input_answers_400_with_what_is_wrong(
    api: ApiClient, tenant: models.Tenant, change: dict[str, Any], message: str
) -> None:
    response = put(api, {**PROFILE, **change})

    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert not models.TenantProfile.objects.filter(tenant=tenant).exists()


def test_a_body_that_is_not_an_object_answers_400(api: ApiClient) -> None:
    response = api.client.put(URL, "[1, 2]", content_type="application/json", headers=api._headers(None))
    assert response.status_code == 400 and "JSON object" in response.json()["detail"]


# --- Who may call it ------------------------------------------------------------------------


def test_the_tenant_comes_from_the_key_never_another_tenants(
    api: ApiClient, other_api: ApiClient, tenant: models.Tenant, other_tenant: models.Tenant,
    profile_saved: models.Document,
) -> None:
    assert other_api.get(URL).json()["name"] == other_tenant.name  # its own defaults, not ours
    assert put(other_api, {**PROFILE, "name": "Other Co Plumbing"}).status_code == 200

    assert models.TenantProfile.objects.get(tenant=tenant).name == PROFILE["name"]
    assert models.TenantProfile.objects.get(tenant=other_tenant).name == "Other Co Plumbing"
    assert snapshot_doc(other_tenant) is not None and snapshot_doc(tenant).pk == profile_saved.pk  # type: ignore[union-attr]


def test_another_tenants_admin_session_cannot_read_or_change_the_profile(
    make_user: Callable[..., Any], tenant: models.Tenant, other_tenant: models.Tenant, profile_saved: models.Document,
) -> None:
    intruder = make_user("mallory", tenant=other_tenant, role="admin")
    client = ApiClient()
    client.client.force_login(intruder)

    assert client.get(URL, headers={"X-KB-Tenant": tenant.slug}).status_code == 403
    response = client.client.put(URL, {**PROFILE, "name": "Hacked"}, content_type="application/json",
                                 headers={"X-KB-Tenant": tenant.slug})
    assert response.status_code == 403
    assert models.TenantProfile.objects.get(tenant=tenant).name == PROFILE["name"]
    assert client.get(URL).json()["name"] == other_tenant.name  # their own tenant only


@pytest.mark.parametrize("role", ["member", "support"])
def test_only_admins_and_manage_keys_may_use_it(
    make_user: Callable[..., Any], tenant: models.Tenant, role: str, retrieve_api: ApiClient, anon_api: ApiClient,
) -> None:
    client = ApiClient()
    client.client.force_login(make_user("bob", tenant=tenant, role=role))

    assert client.get(URL).status_code == 403
    assert retrieve_api.get(URL).status_code == 403
    assert anon_api.get(URL).status_code == 401
    assert put(client, PROFILE).status_code == 403
    assert not models.TenantProfile.objects.filter(tenant=tenant).exists()


def test_an_admin_session_may_put_the_profile(admin_member: Any, tenant: models.Tenant) -> None:
    client = ApiClient()
    client.client.force_login(admin_member)
    assert put(client, PROFILE).status_code == 200
    assert models.TenantProfile.objects.get(tenant=tenant).updated_by == admin_member


# --- Read-only snapshots --------------------------------------------------------------------


def test_deleting_a_snapshot_over_the_api_is_refused(api: ApiClient, profile_saved: models.Document) -> None:
    response = api.delete(f"/api/v1/kb/files/{profile_saved.pk}")

    assert response.status_code == 409
    assert "read-only" in response.json()["detail"] and "business profile" in response.json()["detail"]
    assert models.Document.objects.filter(pk=profile_saved.pk).exists()


def test_another_tenants_snapshot_is_not_found(other_api: ApiClient, profile_saved: models.Document) -> None:
    assert other_api.get(f"/api/v1/kb/files/{profile_saved.pk}").status_code == 404
    assert other_api.delete(f"/api/v1/kb/files/{profile_saved.pk}").status_code == 404


# --- Allow-lists ----------------------------------------------------------------------------


def concrete_fields(label: str) -> list[str]:
    model = apps.get_model(label)
    # Columns and forward many-to-many fields: what a row holds (reverse relations are other models' rows).
    return [f.name for f in model._meta.get_fields() if f.concrete or (f.many_to_many and not f.auto_created)]


def test_every_field_of_every_model_feeding_a_snapshot_is_allowed_or_denied() -> None:
    problems: list[str] = []
    for label, spec in fields.SPECS.items():
        problems += fields.check(spec)
        problems += fields.unclassified(spec, concrete_fields(label))
        gone = (spec.allow | spec.deny) - set(concrete_fields(label))
        problems += [f"{label}.{name} is classified but is no field" for name in sorted(gone)]
    assert problems == []


def test_a_field_nobody_classified_fails_the_coverage_check() -> None:
    spec = fields.SPECS["connections.Connection"]
    without = fields.FieldSpec(label=spec.label, allow=spec.allow, deny=spec.deny - {"external_account_id"})

    assert fields.unclassified(without, concrete_fields(spec.label)) == ["connections.Connection.external_account_id"]


@pytest.mark.parametrize("name", ["access_token_enc", "api_key", "secret_hash", "email", "owner_phone", "mail"])
def test_tokens_keys_emails_and_phones_cannot_be_allowed(name: str) -> None:
    spec = fields.FieldSpec(label="x.Y", allow=frozenset({name}), deny=frozenset())

    assert fields.check(spec) == [f"x.Y.{name} looks secret or personal: it must be denied"]
    with pytest.raises(ValueError):
        fields.project(object(), spec)


def test_a_projection_holds_the_allowed_fields_only(tenant: models.Tenant) -> None:
    assert fields.project(tenant, fields.SPECS["knowledge.Tenant"]) == {"name": tenant.name}


# --- Refusal of what the detector finds -----------------------------------------------------


def test_a_rendered_snapshot_holding_a_persons_phone_is_refused_and_nothing_ingested(
    tenant: models.Tenant, make_user: Callable[..., Any]
) -> None:
    user = make_user("dana", tenant=tenant, role="member")
    membership = models.Membership.objects.get(user=user, tenant=tenant)
    # Written around the service (as a bulk import might): the render check still holds.
    models.MemberDirectoryEntry.objects.create(
        tenant=tenant, membership=membership, listed=True, display_name="Dana", title="Nurse, mobile +33 6 12 34 56 78"
    )

    assert snapshots.regenerate(tenant_id=tenant.pk, names=["directory"]) == {"directory": "refused"}
    row = models.Snapshot.objects.get(tenant=tenant, name="directory")
    assert "a phone number" in row.refused_reason and row.document is None
    assert snapshot_doc(tenant, "directory") is None


# --- Triggers and the reconcile -------------------------------------------------------------


def test_changes_schedule_one_debounced_regeneration_per_tenant(
    tenant: models.Tenant, other_tenant: models.Tenant, django_capture_on_commit_callbacks: Any,
    run_jobs: Callable[[], list[str]],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        row = models.TenantProfile.objects.create(tenant=tenant, name="BrightSmile", address="1 Quay Street")
    with django_capture_on_commit_callbacks(execute=True):
        row.address = "2 Quay Street"
        row.save()
        models.TenantProfile.objects.create(tenant=other_tenant, name="Other Co")

    pending = Schedule.objects.filter(func=triggers.TASK)
    names = list(pending.values_list("name", flat=True))
    assert sorted(names) == sorted([f"kb-snapshots-{tenant.pk}", f"kb-snapshots-{other_tenant.pk}"])
    mine = pending.get(name=f"kb-snapshots-{tenant.pk}")
    assert mine.schedule_type == Schedule.ONCE and mine.next_run is not None

    assert tasks.regenerate_tenant(tenant.pk)["profile"] == "ingested"
    run_jobs()
    assert "2 Quay Street" in snapshot_doc(tenant).inline_text  # type: ignore[union-attr]


def test_the_nightly_reconcile_is_scheduled(db: Any) -> None:
    row = Schedule.objects.get(name="kb-snapshots-reconcile")
    assert (row.func, row.schedule_type, row.repeats) == ("knowledge.snapshots.tasks.reconcile_all", Schedule.DAILY, -1)


def test_the_nightly_reconcile_regenerates_after_a_bulk_update(
    tenant: models.Tenant, profile_saved: models.Document, run_jobs: Callable[[], list[str]],
) -> None:
    models.TenantProfile.objects.filter(tenant=tenant).update(address="99 Bulk Avenue")  # no signal

    counts = tasks.reconcile_all()
    run_jobs()

    assert counts["ingested"] == 1 and counts["failed"] == 0
    profile_saved.refresh_from_db()
    assert "99 Bulk Avenue" in profile_saved.inline_text
    assert models.TaskRun.objects.filter(name="snapshot-reconcile", status="ok").exists()
    assert tasks.reconcile_all()["unchanged"] == 1


# --- Member directory and connection sources ------------------------------------------------


def test_the_directory_names_only_members_who_opted_in_with_name_and_title(
    tenant: models.Tenant, make_user: Callable[..., Any], run_jobs: Callable[[], list[str]],
) -> None:
    anna = make_user("anna", tenant=tenant, role="member", email="anna.berg@gmail.com")
    make_user("carl", tenant=tenant, role="member", email="carl@gmail.com")
    snapshots.directory_entry_put(membership=anna.kb_memberships.get(), listed=True, display_name="Dr. Anna Berg",
                                  title="Dentist")
    run_jobs()

    doc = snapshot_doc(tenant, "directory")
    assert doc is not None and "- Dr. Anna Berg, Dentist" in doc.inline_text
    assert "carl" not in doc.inline_text.lower() and "@" not in doc.inline_text
    assert snapshots.tenants_naming(user_id=anna.pk) == [tenant.pk]


def test_a_member_leaving_leaves_the_directory_on_regeneration(
    tenant: models.Tenant, make_user: Callable[..., Any], run_jobs: Callable[[], list[str]],
) -> None:
    anna = make_user("anna", tenant=tenant, role="member")
    snapshots.directory_entry_put(membership=anna.kb_memberships.get(), listed=True, display_name="Anna", title="")
    run_jobs()
    models.Membership.objects.filter(user=anna).delete()

    assert snapshots.regenerate(tenant_id=tenant.pk, names=["directory"]) == {"directory": "removed"}
    assert snapshot_doc(tenant, "directory") is None and snapshots.tenants_naming(user_id=anna.pk) == []


def test_erasing_a_listed_member_takes_them_out_of_the_directory_and_its_chunks_at_once(
    tenant: models.Tenant, make_user: Callable[..., Any], run_jobs: Callable[[], list[str]],
) -> None:

    anna = make_user("anna", tenant=tenant, role="member")
    bo = make_user("bo", tenant=tenant, role="member")
    snapshots.directory_entry_put(membership=anna.kb_memberships.get(), listed=True, display_name="Annabel Quist",
                                  title="Hygienist")
    snapshots.directory_entry_put(membership=bo.kb_memberships.get(), listed=True, display_name="Bo Lind",
                                  title="Receptionist")
    run_jobs()
    doc = snapshot_doc(tenant, "directory")
    assert doc is not None and models.Chunk.objects.filter(document=doc, text__contains="Annabel Quist").exists()

    call_command("kb_erase", "--user", "anna", "--tenant", tenant.slug, stdout=io.StringIO())

    # No chunk names her, before the worker has re-embedded the directory…
    assert not models.Chunk.objects.filter(text__contains="Annabel Quist").exists()
    doc = snapshot_doc(tenant, "directory")
    assert doc is not None and "Annabel Quist" not in doc.inline_text and "Bo Lind" in doc.inline_text
    assert snapshots.tenants_naming(user_id=anna.pk) == []
    receipt = models.ErasureReceipt.objects.get()
    assert receipt.details.get("snapshots_regenerated") == 1
    assert receipt.counts_before.get("knowledge_memberdirectoryentry") == 1
    # …and after it, the directory answers again, without her.
    run_jobs()
    assert models.Chunk.objects.filter(document=doc, text__contains="Bo Lind").exists()


def test_a_display_name_with_contact_details_is_refused(tenant: models.Tenant, make_user: Callable[..., Any]) -> None:
    anna = make_user("anna", tenant=tenant, role="member")
    with pytest.raises(services.InvalidInput, match="display name contains an e-mail address"):
        snapshots.directory_entry_put(membership=anna.kb_memberships.get(), listed=True,
                                      display_name="Anna anna@gmail.com", title="")
    assert not models.MemberDirectoryEntry.objects.exists()


def connect_with_sources(tenant: models.Tenant, owner: Any, *shares: str) -> Any:
    """A Microsoft connection (labelled with its owner's address) with one mail folder per share."""
    from connections import models as cm
    from connections import registry, tokens
    from connections import services as cs
    from connections.providers import oauth2

    connection = tokens.connection_connect(
        tenant=tenant, owner=owner, provider=cm.Provider.MICROSOFT, external_account_id="u-1",
        account_label="dana.private@gmail.com",
        token_set=oauth2.TokenSet(access_token="at-secret", refresh_token="rt-secret", expires_in=3600, scope=""),
    ).connection
    labels = {"tenant": "Support inbox", "personal": "Private notes"}
    roots = registry.RootListing(items=[
        registry.Root(surface=cm.Surface.MAIL_FOLDER, root_id=f"inbox-{share}", label=labels[share]) for share in shares
    ])
    cs.connection_sources_set(connection=connection, is_admin=True, roots=roots, choices=[
        cs.SourceChoice(surface=cm.Surface.MAIL_FOLDER, root_id=f"inbox-{share}", share=share) for share in shares
    ])
    return connection


def test_sharing_a_source_schedules_regeneration_and_a_personal_one_does_not(
    tenant: models.Tenant, admin_member: Any, django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        connect_with_sources(tenant, admin_member, "personal")
    assert not Schedule.objects.filter(name=triggers.schedule_name(tenant.pk)).exists()

    from connections import models as cm

    with django_capture_on_commit_callbacks(execute=True):
        source = cm.ConnectionSource.objects.get()
        source.share = cm.Share.TENANT
        source.save(update_fields=["share", "updated_at"])
    assert Schedule.objects.filter(name=triggers.schedule_name(tenant.pk)).exists()


def test_shared_sources_are_summarised_without_the_owners_address(
    tenant: models.Tenant, admin_member: Any, run_jobs: Callable[[], list[str]],
) -> None:
    connect_with_sources(tenant, admin_member, "tenant", "personal")

    assert snapshots.regenerate(tenant_id=tenant.pk, names=["sources"]) == {"sources": "ingested"}
    text = snapshot_doc(tenant, "sources").inline_text  # type: ignore[union-attr]
    assert "Mail folder “Support inbox” from a Microsoft 365 account" in text
    assert "Private notes" not in text and "gmail" not in text and "secret" not in text


# --- Pure renderer --------------------------------------------------------------------------


def test_the_profile_renders_every_weekday_and_the_exceptions() -> None:
    text = render.render_profile({**PROFILE, "exceptions": [
        {"date": "2026-12-24", "hours": [], "note": "closed"},
        {"date": "2026-12-31", "hours": ["09:00-12:00"], "note": "New Year's Eve"},
    ]})

    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        assert f"- {day}: " in text
    assert "closed on Saturday and Sunday" in text
    assert "- Thursday 24 December 2026: BrightSmile Family Dental is closed (closed)." in text
    assert "- Thursday 31 December 2026: BrightSmile Family Dental is open only 9:00–12:00 (New Year's Eve)." in text


def test_the_canonical_hash_ignores_key_order() -> None:
    assert render.canonical_sha256({"a": 1, "b": [1, 2]}) == render.canonical_sha256({"b": [1, 2], "a": 1})
    assert render.canonical_sha256({"a": 1}) != render.canonical_sha256({"a": 2})


def test_published_contacts_set_by_hand_stay_while_there_is_no_profile(tenant: models.Tenant) -> None:
    models.NeutralisationSettings.objects.create(tenant=tenant, published_contacts=["+1 415 555 0100"])

    tasks.reconcile_all()

    assert models.NeutralisationSettings.objects.get(tenant=tenant).published_contacts == ["+1 415 555 0100"]


def test_a_pending_regeneration_is_a_once_schedule_calling_the_task_with_the_tenant_id(
    tenant: models.Tenant, profile_saved: models.Document
) -> None:
    import ast

    from django.utils.module_loading import import_string

    assert triggers.schedule_regeneration(tenant.pk) is True
    assert triggers.schedule_regeneration(tenant.pk) is False  # debounced: one pending run per tenant
    row = Schedule.objects.get(name=triggers.schedule_name(tenant.pk))

    # What django-q2's scheduler does with it: literal_eval the args, call the function.
    result = import_string(row.func)(*ast.literal_eval(row.args))

    assert (row.schedule_type, row.repeats) == (Schedule.ONCE, -1)  # deleted once queued
    assert result == {"profile": "unchanged", "directory": "empty", "sources": "empty"}
