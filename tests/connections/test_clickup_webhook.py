"""ClickUp webhooks (POST /api/v1/connections/clickup/webhook): the X-Signature HMAC is
checked before anything happens; a good delivery re-reads the named task at a delta queued
now; the sweep stays. Plus the connection's API across tenants, and no secret in the DB."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from connections import clickup_webhooks, models, services
from knowledge import models as kb
from tests.conftest import ApiClient
from tests.connections.clickup_support import cu as cu  # noqa: PLC0414 - fixtures
from tests.connections.clickup_support import cu_connect as cu_connect  # noqa: PLC0414
from tests.connections.clickup_support import cu_connection as cu_connection  # noqa: PLC0414
from tests.connections.clickup_support import demo as demo  # noqa: PLC0414
from tests.connections.clickup_support import share
from tests.connections.test_secrets import rows_containing
from tests.connections.test_sync import Sync, docs, retrieved, texts
from tests.connections.test_sync import sync as sync  # noqa: F401, PLC0414 - the fixture
from tests.fakes.clickup_server import FakeClickUp

pytestmark = pytest.mark.django_db

URL = "/api/v1/connections/clickup/webhook"


def deliver(body: bytes, signature: str) -> Any:
    # As ClickUp sends it: no cookie, no CSRF token.
    return Client(enforce_csrf_checks=True).post(URL, body, content_type="application/json",
                                                 headers={"X-Signature": signature})


@pytest.fixture
def hooked(cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync) -> str:
    """The connection shares the Clinic space, is backfilled and has its workspace's webhook."""
    share(cu_connection, "Clinic")
    time.sleep(2.1)  # out of the watermark's last 1-2 s, so a delta lists only what changes next
    assert sync(cu_connection, "backfill").status == "succeeded"
    hook_id = clickup_webhooks.webhook_register(connection=cu_connection, team_id=demo["team"])
    assert cu.webhooks[hook_id]["endpoint"] == "http://kb.test/api/v1/connections/clickup/webhook"
    assert set(cu.webhooks[hook_id]["events"]) == {"taskUpdated", "taskDeleted", "taskCommentPosted"}
    return hook_id


def queued(connection: models.Connection) -> list[models.SyncRun]:
    return list(models.SyncRun.objects.filter(connection=connection, status=models.RunStatus.QUEUED))


def test_a_delivery_with_a_bad_signature_is_refused_and_nothing_happens(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, hooked: str
) -> None:
    body, signature = cu.signed_delivery(hooked, event="taskDeleted", task_id=demo["insurance"])
    tampered = body.replace(demo["insurance"].encode(), demo["faq"].encode())
    for payload, sig in ((tampered, signature), (body, "0" * 64), (body, ""), (b"not json", signature)):
        assert deliver(payload, sig).status_code == 401
    unknown = body.replace(hooked.encode(), b"someoneelse")
    assert deliver(unknown, signature).status_code == 401
    assert queued(cu_connection) == []
    assert not models.SyncCursor.objects.filter(stream=clickup_webhooks.RECHECK_STREAM).exists()


def test_a_signed_task_deleted_queues_a_delta_that_removes_the_task(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, hooked: str, sync: Sync,
) -> None:
    cu.store.task_delete(demo["insurance"])
    body, signature = cu.signed_delivery(hooked, event="taskDeleted", task_id=demo["insurance"])
    assert deliver(body, signature).status_code == 200
    [run] = queued(cu_connection)
    assert run.kind == "delta"
    assert deliver(body, signature).status_code == 200  # a second delivery reuses the queued run
    assert len(queued(cu_connection)) == 1
    run.delete()

    assert sync(cu_connection).counts["deleted"] == 1
    assert "Which insurers do we bill directly?" not in [d.name for d in docs(cu_connection)]


def test_a_comment_clickup_did_not_date_is_read_because_the_webhook_named_its_task(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, hooked: str, sync: Sync,
    retrieval_on: Any, retrieve_api: Any,
) -> None:
    cu.store.comments_bump_task = False  # the task's date_updated does not move: no listing shows it
    cu.store.comment_add(demo["insurance"], "Zenith Dental is billed directly from March.")
    assert sync(cu_connection).counts["updated"] == 0  # without the webhook: not seen

    body, signature = cu.signed_delivery(hooked, event="taskCommentPosted", task_id=demo["insurance"])
    assert deliver(body, signature).status_code == 200
    models.SyncRun.objects.filter(connection=cu_connection, status=models.RunStatus.QUEUED).delete()
    run = sync(cu_connection)

    assert run.counts["updated"] == 1
    assert "Zenith Dental" in texts(next(d for d in docs(cu_connection) if d.name.startswith("Which insurers")))
    assert "Zenith Dental" in retrieved(retrieve_api, "is Zenith Dental billed directly")


def test_a_delivery_for_a_disconnected_connection_answers_410_so_clickup_drops_the_webhook(
    cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, hooked: str
) -> None:
    services.connection_revoke(connection=cu_connection)
    body, signature = cu.signed_delivery(hooked, event="taskUpdated", task_id=demo["faq"])
    assert deliver(body, signature).status_code == 410
    assert [r.kind for r in queued(cu_connection)] == ["purge"]


def test_the_webhook_secret_and_the_access_token_are_in_no_table_row(
    cu: FakeClickUp, demo: dict[str, str], make_user: Callable[..., Any], tenant: kb.Tenant,
    login: Callable[..., Client], settings: Any,
) -> None:
    client = login(make_user("mia", tenant=tenant, role="admin"))
    start = client.post("/kb/connections/connect/clickup")
    assert start.status_code == 302 and start["Location"].startswith(f"{cu.auth_url}?")
    import httpx

    back = httpx.get(start["Location"]).headers["Location"]
    assert back.startswith("http://kb.test/connections/callback/clickup?")
    assert client.get(back.removeprefix("http://kb.test")).status_code == 302
    connection = models.Connection.objects.get(provider="clickup")
    assert connection.status == "active" and connection.account_label == "dana@brightsmile.example"
    hook_id = clickup_webhooks.webhook_register(connection=connection, team_id=demo["team"])
    assert "connections_connection.account_label" in rows_containing("dana@brightsmile.example")
    [token] = list(cu._access)
    assert rows_containing(token) == []
    assert rows_containing(cu.webhooks[hook_id]["secret"]) == []


def test_another_tenants_user_gets_404_on_a_clickup_connection(
    cu: FakeClickUp, demo: dict[str, str], cu_connect: Callable[..., models.Connection], other_tenant: kb.Tenant,
    make_user: Callable[..., Any], login: Callable[..., Client], other_api: ApiClient,
) -> None:
    theirs = cu_connect()
    olga = ApiClient(client=login(make_user("olga", tenant=other_tenant, role="admin")))
    for api in (olga, other_api):
        for path in ("", "/roots", "/runs"):
            assert api.get(f"/api/v1/connections/{theirs.pk}{path}").status_code == 404
        assert api.post(f"/api/v1/connections/{theirs.pk}/sync", {}).status_code == 404
        assert api.delete(f"/api/v1/connections/{theirs.pk}").status_code == 404
    assert olga.client.get(f"/kb/connections/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "active"



def test_a_delivery_signed_for_one_tenants_webhook_touches_no_other_tenants_connection(
    cu: FakeClickUp, demo: dict[str, str], cu_connect: Callable[..., models.Connection], other_tenant: kb.Tenant,
    make_user: Callable[..., Any],
) -> None:
    mine = cu_connect()
    theirs = cu_connect(to=other_tenant, owner=make_user("olga", tenant=other_tenant))
    my_hook = clickup_webhooks.webhook_register(connection=mine, team_id=demo["team"])
    their_hook = clickup_webhooks.webhook_register(connection=theirs, team_id=demo["team"])
    body, signature = cu.signed_delivery(my_hook, event="taskUpdated", task_id=demo["faq"])
    assert deliver(body, signature).status_code == 200
    assert len(queued(mine)) == 1 and queued(theirs) == []
    # My secret does not sign for their webhook.
    forged = body.replace(my_hook.encode(), their_hook.encode())
    assert deliver(forged, signature).status_code == 401
    assert queued(theirs) == []


def test_kb_tokens_rotate_re_encrypts_webhook_secrets_so_deliveries_verify_after_the_old_key_goes(
    settings: Any, cu: FakeClickUp, demo: dict[str, str], cu_connection: models.Connection, sync: Sync,
) -> None:
    import io

    from django.core.management import call_command

    from connections import crypto

    old = list(crypto._keys())  # what encrypted the connection's token and the secret
    new = crypto.generate_key()
    share(cu_connection, "Clinic")
    hook_id = clickup_webhooks.webhook_register(connection=cu_connection, team_id=demo["team"])

    settings.KB_TOKEN_KEYS = [new, *old]
    out = io.StringIO()
    call_command("kb_tokens", "rotate", stdout=out)
    assert "webhook_secrets=1" in out.getvalue()

    settings.KB_TOKEN_KEYS = [new]  # the old key is gone: the stored secret still opens
    body, signature = cu.signed_delivery(hook_id, event="taskUpdated", task_id=demo["insurance"])
    assert deliver(body, signature).status_code == 200
    assert len(queued(cu_connection)) == 1
