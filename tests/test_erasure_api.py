"""Erasure over the API and on the receipts page (DESIGN §10): a tenant admin erases a member of
their tenant; another tenant's member, receipt or admin → 404 or nothing; keys and non-admins
are refused. ``kb_erase`` in one tenant and of a whole tenant."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django_q.models import OrmQ

from knowledge import models, services
from knowledge.erasure import tasks
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def post(client: Client, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/erasure", json.dumps(body), content_type="application/json")


def personal(user: Any, tenant: models.Tenant, text: str) -> models.Document:
    return services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(text.encode()), filename="notes.txt", kind="knowledge",
        scope="personal", owner=user,
    ).document


@pytest.fixture
def dana(make_user: Callable[..., Any], tenant: models.Tenant) -> Any:
    return make_user("dana", tenant=tenant, role="member", email="dana@example.test")


@pytest.fixture
def olga(make_user: Callable[..., Any], other_tenant: models.Tenant) -> Any:
    return make_user("olga", tenant=other_tenant, role="member", email="olga@example.test")


@pytest.fixture
def other_admin(make_user: Callable[..., Any], other_tenant: models.Tenant) -> Any:
    return make_user("oscar", tenant=other_tenant, role="admin")


def test_an_admin_erases_a_member_of_their_tenant_and_follows_the_receipt(
    admin_member: Any, dana: Any, tenant: models.Tenant, other_tenant: models.Tenant,
    login: Callable[..., Client], run_jobs: Callable[[], list[str]], django_capture_on_commit_callbacks: Any,
) -> None:
    services.membership_set(tenant=other_tenant, user=dana, role="member")
    here = personal(dana, tenant, "dana's parking notes")
    there = personal(dana, other_tenant, "dana's notes at otherco")
    run_jobs()
    client = login(admin_member)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, {"user": "dana@example.test", "dry_run": False})

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["scope"] == "user_in_tenant" and body["requested_by"] == "alice"
    assert "dana" not in json.dumps(body)
    queued = OrmQ.objects.get()  # the task carries the receipt id only
    assert queued.task["func"] == "knowledge.erasure.tasks.erasure_run" and queued.task["args"] == (body["id"],)

    assert tasks.erasure_run(body["id"]) == "finished"
    done = client.get(f"/api/v1/erasure/{body['id']}").json()
    assert done["status"] == "finished" and done["counts_before"]["knowledge_document"] == 1
    assert done["counts_before"]["knowledge_membership"] == 1
    assert all(n == 0 for n in done["counts_after"].values())
    # Her membership here ended and her documents here went; her account and otherco stay.
    assert not models.Document.objects.filter(pk=here.pk).exists()
    assert models.Document.objects.filter(pk=there.pk).exists()
    assert not models.Membership.objects.filter(user=dana, tenant=tenant).exists()
    assert models.Membership.objects.filter(user=dana, tenant=other_tenant).exists()
    assert get_user_model().objects.filter(pk=dana.pk).exists()


def test_a_dry_run_over_the_api_changes_nothing(
    admin_member: Any, dana: Any, tenant: models.Tenant, login: Callable[..., Client], run_jobs: Callable[[], list[str]],
) -> None:
    doc = personal(dana, tenant, "dana's parking notes")
    run_jobs()
    client = login(admin_member)
    receipt = post(client, {"user": "dana", "dry_run": True}).json()

    assert tasks.erasure_run(receipt["id"]) == "finished"
    done = client.get(f"/api/v1/erasure/{receipt['id']}").json()
    assert done["dry_run"] is True and done["counts_before"]["knowledge_document"] == 1
    assert done["counts_after"] == done["counts_before"]
    assert models.Document.objects.filter(pk=doc.pk).exists()
    assert models.Membership.objects.filter(user=dana, tenant=tenant).exists()


def test_a_member_of_another_tenant_is_not_found_and_nothing_is_queued(
    admin_member: Any, olga: Any, login: Callable[..., Client],
) -> None:
    client = login(admin_member)
    for name in ("olga", "olga@example.test", "nobody"):
        response = post(client, {"user": name})
        assert response.status_code == 404, response.content
    assert models.ErasureReceipt.objects.count() == 0
    assert models.Membership.objects.filter(user=olga).exists()


def test_another_tenants_admin_cannot_read_a_receipt_or_see_it_on_the_page(
    admin_member: Any, dana: Any, other_admin: Any, login: Callable[..., Client],
) -> None:
    receipt = post(login(admin_member), {"user": "dana"}).json()
    other = login(other_admin)

    assert other.get(f"/api/v1/erasure/{receipt['id']}").status_code == 404
    page = other.get("/kb/erasure/")
    assert page.status_code == 200 and f"erasure-{receipt['id']}" not in page.content.decode()
    mine = login(admin_member).get("/kb/erasure/")
    assert mine.status_code == 200 and f"erasure-{receipt['id']}" in mine.content.decode()
    assert "dana" not in mine.content.decode()


def test_api_keys_and_members_who_are_not_admins_are_refused(
    admin_member: Any, dana: Any, support_member: Any, login: Callable[..., Client], api: ApiClient,
) -> None:
    receipt = post(login(admin_member), {"user": "dana"}).json()
    assert api.post("/api/v1/erasure", json={"user": "dana"}).status_code == 403
    assert api.get(f"/api/v1/erasure/{receipt['id']}").status_code == 403
    support = login(support_member)
    assert post(support, {"user": "dana"}).status_code == 403
    assert support.get(f"/api/v1/erasure/{receipt['id']}").status_code == 403
    assert support.get("/kb/erasure/").status_code == 403
    assert ApiClient(None).post("/api/v1/erasure", json={"user": "dana"}).status_code == 401
    assert models.ErasureReceipt.objects.count() == 1


def test_the_session_needs_a_csrf_token(admin_member: Any, dana: Any, login: Callable[..., Client]) -> None:
    client = login(admin_member, enforce_csrf=True)
    assert post(client, {"user": "dana"}).status_code == 403
    assert models.ErasureReceipt.objects.count() == 0


def test_kb_erase_in_one_tenant_ends_the_membership_there_and_keeps_the_account(
    dana: Any, tenant: models.Tenant, other_tenant: models.Tenant, run_jobs: Callable[[], list[str]],
) -> None:
    services.membership_set(tenant=other_tenant, user=dana, role="member")
    here = personal(dana, tenant, "dana's parking notes")
    there = personal(dana, other_tenant, "dana's notes at otherco")
    run_jobs()
    out = io.StringIO()

    call_command("kb_erase", "--user", "dana@example.test", "--tenant", tenant.slug, stdout=out)

    receipt = json.loads(out.getvalue().strip().splitlines()[-1])
    assert receipt["scope"] == "user_in_tenant" and receipt["status"] == "finished"
    assert receipt["counts_before"]["knowledge_document"] == 1 and "auth_user" not in receipt["counts_before"]
    assert not models.Document.objects.filter(pk=here.pk).exists() and models.Document.objects.filter(pk=there.pk).exists()
    assert list(models.Membership.objects.filter(user=dana).values_list("tenant__slug", flat=True)) == [other_tenant.slug]
    assert models.ErasureReceipt.objects.get(pk=receipt["id"]).tenant == tenant


def test_kb_erase_of_a_tenant_removes_it_and_its_members_and_leaves_the_other_tenant_alone(
    admin_member: Any, olga: Any, other_admin: Any, dana: Any, tenant: models.Tenant, other_tenant: models.Tenant,
    run_jobs: Callable[[], list[str]],
) -> None:
    services.membership_set(tenant=other_tenant, user=dana, role="member")  # dana belongs to both
    kept = personal(dana, tenant, "dana's parking notes")
    personal(olga, other_tenant, "olga's notes")
    services.apikey_create(tenant=other_tenant, scopes=["retrieve"], name="router")
    run_jobs()
    out = io.StringIO()

    call_command("kb_erase", "--tenant", other_tenant.slug, stdout=out)

    receipt = json.loads(out.getvalue().strip().splitlines()[-1])
    assert receipt["scope"] == "tenant" and receipt["status"] == "finished"
    before = receipt["counts_before"]
    assert before["knowledge_tenant"] == 1 and before["knowledge_document"] == 1 and before["knowledge_apikey"] == 1
    assert before["knowledge_membership"] == 3 and before["auth_user"] == 2  # olga and oscar; dana stays
    assert all(n == 0 for n in receipt["counts_after"].values())
    assert not models.Tenant.objects.filter(slug="otherco").exists()
    users = set(get_user_model().objects.values_list("username", flat=True))
    assert {"alice", "dana"} <= users and not {"olga", "oscar"} & users
    assert models.Document.objects.filter(pk=kept.pk).exists()
    assert models.ErasureReceipt.objects.get(pk=receipt["id"]).tenant is None  # the receipt outlives the tenant


def test_kb_erase_dry_run_of_a_tenant_changes_nothing(other_tenant: models.Tenant, olga: Any) -> None:
    out = io.StringIO()
    call_command("kb_erase", "--tenant", other_tenant.slug, "--dry-run", stdout=out)
    receipt = json.loads(out.getvalue().strip().splitlines()[-1])
    assert receipt["counts_before"]["auth_user"] == 1 and receipt["counts_after"] == receipt["counts_before"]
    assert models.Tenant.objects.filter(pk=other_tenant.pk).exists()
    assert get_user_model().objects.filter(pk=olga.pk).exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_queued_erasure_and_vacuums_after_it(
    worker: Any, admin_member: Any, dana: Any, tenant: models.Tenant, login: Callable[..., Client],
) -> None:
    from tests.conftest import wait_for

    doc = personal(dana, tenant, "dana's parking notes")
    client = login(admin_member)
    receipt = post(client, {"user": "dana"}).json()

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/api/v1/erasure/{receipt['id']}").json()
        return body if body["status"] in ("finished", "failed") else None

    done = wait_for(finished, timeout=90)
    assert done["status"] == "finished" and done["vacuum_finished_at"] is not None
    assert done["files_deleted"] == 1 and done["counts_before"]["knowledge_document"] == 1
    assert not models.Document.objects.filter(pk=doc.pk).exists()


def test_an_erasure_whose_worker_died_is_run_again_and_a_live_one_is_left_alone(
    dana: Any, tenant: models.Tenant, run_jobs: Callable[[], list[str]],
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from knowledge.erasure import services as erasure

    doc = personal(dana, tenant, "dana's parking notes")
    run_jobs()
    receipt = erasure.erasure_request(scope="user_in_tenant", user=dana, tenant=tenant)
    models.ErasureReceipt.objects.filter(pk=receipt.pk).update(status="running", started_at=timezone.now())
    assert erasure.erasure_run(receipt_id=receipt.pk).status == "running"  # another process has it
    assert models.Document.objects.filter(pk=doc.pk).exists()

    models.ErasureReceipt.objects.filter(pk=receipt.pk).update(started_at=timezone.now() - timedelta(hours=2))
    assert erasure.erasure_run(receipt_id=receipt.pk).status == "finished"
    assert not models.Document.objects.filter(pk=doc.pk).exists()


def test_operators_see_receipts_in_the_django_admin_read_only_and_tenant_staff_only_their_tenants(
    make_user: Callable[..., Any], admin_member: Any, other_admin: Any, dana: Any, tenant: models.Tenant,
    login: Callable[..., Client],
) -> None:
    from knowledge.erasure import services as erasure

    receipt = erasure.erase_now(scope="user_in_tenant", user=dana, tenant=tenant)
    operator = login(make_user("root", is_staff=True, is_superuser=True))
    listing = operator.get("/admin/knowledge/erasurereceipt/")
    assert listing.status_code == 200 and f"erasurereceipt/{receipt.pk}/" in listing.content.decode()
    detail = operator.get(f"/admin/knowledge/erasurereceipt/{receipt.pk}/change/")
    assert detail.status_code == 200 and receipt.subject_hash in detail.content.decode()
    assert operator.post(f"/admin/knowledge/erasurereceipt/{receipt.pk}/delete/").status_code == 403
    other_admin.is_staff = True
    other_admin.save(update_fields=["is_staff"])
    from django.contrib.auth.models import Permission

    other_admin.user_permissions.add(Permission.objects.get(codename="view_erasurereceipt"))
    staff = login(other_admin)
    assert staff.get(f"/admin/knowledge/erasurereceipt/{receipt.pk}/change/").status_code in (302, 404)
    theirs = staff.get("/admin/knowledge/erasurereceipt/")
    assert theirs.status_code == 200 and f"erasurereceipt/{receipt.pk}/" not in theirs.content.decode()


def test_an_erased_member_is_announced_per_tenant_so_snapshots_naming_them_are_regenerated(
    dana: Any, tenant: models.Tenant, other_tenant: models.Tenant,
) -> None:
    from knowledge import signals
    from knowledge.erasure import services as erasure

    services.membership_set(tenant=other_tenant, user=dana, role="member")
    heard: list[tuple[int, int, bool]] = []

    def regenerate(sender: Any, *, tenant_id: int, user_id: int, **kwargs: Any) -> int:
        still_member = models.Membership.objects.filter(tenant_id=tenant_id, user_id=user_id).exists()
        heard.append((tenant_id, user_id, still_member))
        return 1

    signals.subject_erased.connect(regenerate, dispatch_uid="test.regenerate")
    try:
        dry = erasure.erase_now(scope="user", user=dana, dry_run=True)
        assert heard == []  # a dry run announces nothing
        receipt = erasure.erase_now(scope="user", user=dana)
    finally:
        signals.subject_erased.disconnect(dispatch_uid="test.regenerate")

    assert dry.status == "finished"
    assert sorted(heard) == sorted([(tenant.pk, dana.pk, False), (other_tenant.pk, dana.pk, False)])
    assert receipt.details["snapshots_regenerated"] == 2


def test_an_erasure_that_cannot_run_fails_with_a_reason_and_keeps_what_it_needs_to_be_retried(
    dana: Any, other_tenant: models.Tenant,
) -> None:
    from knowledge import purge
    from knowledge.erasure import services as erasure

    services.membership_set(tenant=other_tenant, user=dana, role="member")
    receipt = erasure.erasure_request(scope="user_in_tenant", user=dana, tenant=other_tenant)
    purge.tenant_delete(tenant=other_tenant, reason="test")  # the tenant went before the run

    failed = erasure.erasure_run(receipt_id=receipt.pk)

    assert failed.status == "failed" and failed.error.startswith("InvalidInput")
    assert failed.pending_user_id == dana.pk and failed.finished_at is not None
    assert "dana" not in failed.error
