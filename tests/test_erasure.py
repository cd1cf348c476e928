"""Erasure end to end (DESIGN §10): a member with personal uploads, a Microsoft connection with
mail and a shared file, recall audit rows, a session and an admin log entry is erased with
``kb_erase``; afterwards no column of any table holds their markers, a similarity search with
one of their chunks' own vectors finds nothing of theirs, everyone else's rows are as they
were, and the dry run before it changed nothing and counted the same."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection as db
from django.test import Client
from pgvector.django import CosineDistance
from psycopg import sql

from audit import models as audit_models
from connections import models as cx
from connections.sync import engine
from knowledge import models, retrieval
from knowledge.erasure import services as erasure
from tests.conftest import ApiClient
from tests.connections.conftest import connect, ms  # noqa: F401  (fixtures)
from tests.fakes.msgraph_server import FakeMicrosoft

SUBJECT = "zyxwv"  # every marker of the erased member starts with this
OTHERS = "qjkvb"  # … and every marker of everyone else with this

TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb", "tsvector")


def marker_counts(prefix: str) -> dict[str, int]:
    """Rows holding ``prefix`` in every text-like column of every table (information_schema)."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = ANY(%s) ORDER BY 1, 2",
            [list(TEXT_TYPES)],
        )
        columns = cur.fetchall()
        found: dict[str, int] = {}
        for table, column in columns:
            query = sql.SQL("SELECT count(*) FROM {} WHERE {}::text ILIKE %s").format(
                sql.Identifier(table), sql.Identifier(column))
            cur.execute(query, [f"%{prefix}%"])
            n = int(cur.fetchone()[0])
            if n:
                found[f"{table}.{column}"] = n
    return found


def fingerprint(exclude: tuple[str, ...] = ("knowledge_erasurereceipt",)) -> dict[str, str]:
    """Every row of every table, as one hash per table: equal fingerprints, nothing changed."""
    with db.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1")
        tables = [t for (t,) in cur.fetchall() if t not in exclude]
        out = {}
        for table in tables:
            cur.execute(sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
            ).format(sql.Identifier(table)))
            n, digest = cur.fetchone()
            out[table] = f"{n}:{digest}"
    return out


def last_json_line(out: str) -> dict[str, Any]:
    return json.loads(out.strip().splitlines()[-1])


def upload_personal(client: Client, text: str, name: str) -> int:
    fh = io.BytesIO(text.encode())
    fh.name = name
    response = client.post("/api/v1/kb/files", {"file": fh, "kind": "knowledge", "scope": "personal"})
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def sync(connection: cx.Connection, run_jobs: Callable[[], list[str]]) -> None:
    run = cx.SyncRun.objects.create(tenant=connection.tenant, connection=connection, kind="backfill")
    assert engine.run(run_id=run.pk) == "succeeded"
    run_jobs()


@pytest.fixture
def world(
    transactional_db: Any, tenant: models.Tenant, other_tenant: models.Tenant, make_user: Callable[..., Any],
    admin_member: Any, login: Callable[..., Client], ms: FakeMicrosoft,  # noqa: F811
    connect: Callable[..., cx.Connection],  # noqa: F811
    run_jobs: Callable[[], list[str]], retrieval_on: Any, retrieve_key: str,
) -> dict[str, Any]:
    subject = make_user(f"{SUBJECT}dana", tenant=tenant, role="support", email=f"{SUBJECT}dana@example.test")
    from knowledge import services

    services.membership_set(tenant=other_tenant, user=subject, role="member")
    bob = make_user(f"{OTHERS}bob", tenant=tenant, role="support", email=f"{OTHERS}bob@example.test")
    olga = make_user(f"{OTHERS}olga", tenant=other_tenant, role="admin")

    dana = login(subject)
    upload_personal(dana, f"{SUBJECT}plum my parking notes: the {SUBJECT}garage code is 4411.", "parking.md")
    upload_personal(dana, f"{SUBJECT}pear my allergy list for the office party.", "allergies.txt")
    upload_personal(login(bob), f"{OTHERS}fig bob keeps his parking notes here too.", "bob.md")
    upload_personal(login(olga), f"{OTHERS}lime olga's parking notes for otherco.", "olga.md")
    services.document_upload(tenant=tenant, fileobj=io.BytesIO(f"{OTHERS}rule never give diagnoses.".encode()),
                             filename="rules.md", kind="policy")
    upload_personal(_client_for(subject, other_tenant), f"{SUBJECT}plum her personal notes in otherco.", "otherco.md")
    run_jobs()

    # Her Microsoft connection: a personal mail folder and a OneDrive shared with the tenant.
    conn = connect(owner=subject, account_id="dana-1")
    inbox = ms.store.mail_folder_id("inbox")
    assert inbox
    ms.store.mail_add(folder_id=inbox, subject=f"{SUBJECT}mango appointment",
                      body=f"Dear Dana, your {SUBJECT}mango appointment is on Friday.", content_type="text")
    drive = ms.store.personal_drive_id
    ms.store.file_add(drive_id=drive, name="prices.txt", content=f"{SUBJECT}kiwi whitening costs 250.".encode())
    cx.ConnectionSource.objects.create(tenant=tenant, connection=conn, surface="mail_folder", root_id=inbox,
                                       label="Inbox", share="personal", mail_tier="body")
    cx.ConnectionSource.objects.create(tenant=tenant, connection=conn, surface="onedrive", root_id=drive,
                                       label="OneDrive", share="tenant", extra={"drive_id": drive})
    # A mail folder she shared with the assistant as policy: its text reaches every audit row's policy.
    rules = ms.store.mail_folder_add(name="House rules")
    ms.store.mail_add(folder_id=rules, subject="Rule", content_type="text",
                      body=f"Never book {SUBJECT}quince appointments before 8:00.")
    cx.ConnectionSource.objects.create(tenant=tenant, connection=conn, surface="mail_folder", root_id=rules,
                                       label="House rules", share="tenant", kind="policy", mail_tier="body")
    sync(conn, run_jobs)
    assert models.Document.objects.filter(connection=conn).count() == 3

    # Recall audit: her own retrievals (her query, her personal text returned), the voice
    # router's retrieval that returned her shared file, and Bob's.
    retrieval.retrieve(tenant=tenant, query=f"{SUBJECT}query where do I park garage plum", user=subject,
                       source="ui_test", is_test=True, caller=f"ui:{subject.username}", session_id=f"{SUBJECT}sess")
    retrieval.retrieve(tenant=tenant, query=f"{SUBJECT}query mango appointment", user=subject, source="ui_test",
                       is_test=True, caller=f"ui:{subject.username}")
    router = ApiClient(retrieve_key).post("/api/v1/retrieve", json={"query": "whitening costs kiwi", "top_k": 10})
    assert router.status_code == 200 and SUBJECT in json.dumps(router.json()["knowledge"])
    retrieval.retrieve(tenant=tenant, query=f"{OTHERS}query parking fig", user=bob, source="ui_test", is_test=True,
                       caller=f"ui:{bob.username}")
    # An operator edited her account in the Django admin.
    LogEntry.objects.create(user=admin_member, content_type=ContentType.objects.get_for_model(get_user_model()),
                            object_id=str(subject.pk), object_repr=str(subject), action_flag=CHANGE,
                            change_message=f"Changed email of {subject.username}.")
    return {"subject": subject, "connection": conn, "bob": bob, "olga": olga}


def _client_for(user: Any, tenant: models.Tenant) -> Client:
    client = Client(headers={"X-KB-Tenant": tenant.slug})
    client.force_login(user)
    return client


def test_kb_erase_leaves_a_receipt_and_no_trace_of_the_user_and_the_dry_run_changes_nothing(
    world: dict[str, Any], tenant: models.Tenant, other_tenant: models.Tenant, retrieve_key: str,
) -> None:
    subject = world["subject"]
    seeded = marker_counts(SUBJECT)
    # Seeded everywhere the test means to check: documents, chunks, audit, accounts, admin log.
    for where in ("knowledge_document.inline_text", "knowledge_chunk.text", "knowledge_chunk.search_vector",
                  "audit_recallaudit.query", "audit_recallaudit.results", "audit_recallaudit.policy_text",
                  "auth_user.username",
                  "django_admin_log.object_repr"):
        assert seeded.get(where), (where, seeded)
    others_before = marker_counts(OTHERS)
    theirs = set(models.Document.objects.filter(owner=subject).values_list("pk", flat=True)) | set(
        models.Document.objects.filter(connection=world["connection"]).values_list("pk", flat=True))
    chunk = models.Chunk.objects.filter(document_id__in=theirs).exclude(embedding=None).first()
    assert chunk is not None
    vector, dim = chunk.embedding, chunk.embedding_dim
    files = [d.file.name for d in models.Document.objects.filter(pk__in=theirs) if d.file]
    storage = models.Document._meta.get_field("file").storage  # type: ignore[attr-defined]
    assert len(files) == 4 and all(storage.exists(name) for name in files)
    assert any(Session.objects.all()), "the member has a session"
    bob_rows = fingerprint_of_bob(world)

    before = fingerprint()
    out = io.StringIO()
    call_command("kb_erase", "--user", subject.username, "--dry-run", stdout=out)
    dry = last_json_line(out.getvalue())
    assert fingerprint() == before, "the dry run changed nothing"
    assert dry["dry_run"] is True and dry["status"] == "finished" and dry["vacuum_finished_at"] is None
    assert dry["counts_before"] == dry["counts_after"]

    out = io.StringIO()
    call_command("kb_erase", "--user", str(subject.pk), stdout=out)
    receipt = last_json_line(out.getvalue())

    assert receipt["status"] == "finished" and receipt["dry_run"] is False and receipt["scope"] == "user"
    assert receipt["counts_before"] == dry["counts_before"], "the dry run counted what the erasure found"
    assert all(n == 0 for n in receipt["counts_after"].values()), receipt["counts_after"]
    assert receipt["counts_before"]["knowledge_document"] == len(theirs) == 6
    assert receipt["counts_before"]["connections_connection"] == 1
    assert receipt["counts_before"]["connections_connectiontoken"] == 1
    assert receipt["counts_before"]["audit_recallaudit"] >= 3
    assert receipt["counts_before"]["auth_user"] == 1 and receipt["counts_before"]["knowledge_membership"] == 2
    assert receipt["files_deleted"] == 4 and receipt["files_failed"] == 0
    assert receipt["vacuum_finished_at"] is not None
    assert not any(storage.exists(name) for name in files)
    print("erasure counts:", json.dumps({t: [receipt["counts_before"][t], receipt["counts_after"][t]]
                                         for t in receipt["counts_before"]}, sort_keys=True))
    print("erasure details:", json.dumps(receipt["details"], sort_keys=True))

    # No column of any table holds her markers — her username and e-mail address are markers too.
    assert marker_counts(SUBJECT) == {}
    assert SUBJECT not in out.getvalue()
    # Her chunk's own vector finds nothing of hers (the nearest chunks of every tenant).
    nearest = list(
        models.Chunk.objects.filter(embedding_dim=dim).annotate(d=CosineDistance("embedding", vector))
        .order_by("d").values_list("document_id", "text")[:20]
    )
    assert nearest and not any(doc in theirs or SUBJECT in text for doc, text in nearest)
    # Everyone else's rows are as they were (the tenant's own policy still in the audit rows' policy text).
    assert marker_counts(OTHERS) == others_before
    router = ApiClient(retrieve_key).post("/api/v1/retrieve", json={"query": f"{SUBJECT}kiwi whitening", "top_k": 10})
    answer = router.json()
    assert SUBJECT not in json.dumps([answer["policy"], answer["knowledge"], answer["prompt"]])
    assert fingerprint_of_bob(world) == bob_rows
    assert not get_user_model().objects.filter(pk=subject.pk).exists()
    assert not any(s.get_decoded().get("_auth_user_id") == str(subject.pk) for s in Session.objects.all())
    kept = models.ErasureReceipt.objects.get(pk=receipt["id"])
    assert kept.pending_user_id is None and len(kept.subject_hash) == 64


def fingerprint_of_bob(world: dict[str, Any]) -> dict[str, Any]:
    bob, olga = world["bob"], world["olga"]
    return {
        "docs": sorted(models.Document.objects.filter(owner__in=[bob, olga]).values_list("pk", "content_sha256")),
        "chunks": sorted(models.Chunk.objects.filter(owner__in=[bob, olga]).values_list("pk", "text")),
        "audit": sorted(audit_models.RecallAudit.objects.filter(user=bob).values_list("pk", "query")),
        "members": sorted(models.Membership.objects.filter(user__in=[bob, olga]).values_list("pk", "role")),
    }


def test_erasure_outside_a_transaction_vacuums_the_chunk_table(transactional_db: Any) -> None:
    assert erasure.vacuum() is not None
