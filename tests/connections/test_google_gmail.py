"""Gmail through the sync engine against the local Google server: a label's backfill within
the mail window, history deltas (added, deleted, label moves, trash), a stale history id
(full resync and sweep), throttling, the MIME walk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from connections import models
from connections.sync import cursors, engine
from knowledge import models as kb
from tests.connections.google_fixtures import gconnect as gconnect  # noqa: F401, PLC0414 - fixtures
from tests.connections.google_fixtures import gconnection as gconnection  # noqa: F401, PLC0414
from tests.connections.google_fixtures import gfake as gfake  # noqa: F401, PLC0414
from tests.connections.test_sync import Sync, add_source, docs, retrieved, texts
from tests.connections.test_sync import sync as sync  # noqa: F401, PLC0414 - the fixture
from tests.fakes.google_server import FakeGoogle

pytestmark = pytest.mark.django_db


@pytest.fixture
def label(gfake: FakeGoogle) -> str:
    return gfake.store.label_add(name="Front desk")


def mail(gfake: FakeGoogle, label: str, subject: str, body: str, **kw: Any) -> str:
    return gfake.store.mail_add(labels=["INBOX", label], subject=subject, body=body, **kw)


def test_a_label_backfill_takes_its_mails_within_the_window_and_retrieval_finds_them(
    gfake: FakeGoogle, gconnection: models.Connection, label: str, sync: Sync, retrieval_on: Any,
    retrieve_api: Any, settings: Any,
) -> None:
    settings.KB_MAIL_WINDOW_DAYS = 30
    mail(gfake, label, "Kinder card", "Yes, we accept the Kinder health card for children.\n\n"
         "On Mon, 3 Nov 2026, Pat wrote:\n> Do you take the Kinder card?", sender=("Dana", "dana@example.org"))
    mail(gfake, label, "Christmas closing", "<p>Closed from 24 December to 1 January.</p>", html=True)
    mail(gfake, label, "Old news", "From last year.", received=datetime.now(UTC) - timedelta(days=90))
    gfake.store.mail_add(labels=["INBOX"], subject="Invoice", body="Not in the label.")
    source = add_source(gconnection, surface="gmail_label", root_id=label, mail_tier="body")

    run = sync(gconnection, "backfill")

    assert run.status == "succeeded", run.error
    assert [d.name for d in docs(gconnection)] == ["Christmas closing", "Kinder card"]
    assert all(d.source_kind == "gmail" for d in docs(gconnection))
    kinder = next(d for d in docs(gconnection) if d.name == "Kinder card")
    assert kinder.external_id in gfake.store.mails  # the Gmail message id
    assert "Kinder health card" in texts(kinder) and "Do you take" not in texts(kinder)  # the quote is cleaned away
    assert "24 December" in retrieved(retrieve_api, "when is the clinic closed at christmas")
    calls = [r.path for r in gfake.requests if r.path.startswith("/gmail/")]
    assert calls.index("/gmail/v1/users/me/profile") < calls.index("/gmail/v1/users/me/messages")
    state = cursors.load(source=source)
    assert state is not None and state.phase == cursors.DELTA and state.link == str(gfake.store.history_id)
    assert all(r.query.get("format") == "full" for r in gfake.requests if r.path.count("/messages/") == 1)


def test_a_new_mail_arrives_and_a_deleted_one_leaves_at_the_next_delta(
    gfake: FakeGoogle, gconnection: models.Connection, label: str, sync: Sync
) -> None:
    first = mail(gfake, label, "Hygienist", "Jonas works Tuesdays.")
    add_source(gconnection, surface="gmail_label", root_id=label)
    sync(gconnection, "backfill")

    mail(gfake, label, "Parking", "Park in the courtyard.")
    gfake.store.mail_delete(first)
    gfake.store.mail_add(labels=["INBOX"], subject="Elsewhere", body="Another label's mail.")
    run = sync(gconnection)

    assert run.status == "succeeded" and run.counts["created"] == 1 and run.counts["deleted"] == 1
    assert [d.name for d in docs(gconnection)] == ["Parking"]
    assert gfake.requests_to("/history")[-1].query["startHistoryId"]


def test_a_label_removed_takes_the_mail_out_and_a_label_added_brings_one_in(
    gfake: FakeGoogle, gconnection: models.Connection, label: str, sync: Sync
) -> None:
    leaving = mail(gfake, label, "Leaving", "Moves out of the label.")
    mail(gfake, label, "Staying", "Stays in the label.")
    arriving = gfake.store.mail_add(labels=["INBOX"], subject="Arriving", body="Gets the label later.")
    add_source(gconnection, surface="gmail_label", root_id=label)
    sync(gconnection, "backfill")
    assert [d.name for d in docs(gconnection)] == ["Leaving", "Staying"]

    gfake.store.mail_label(leaving, remove=(label,))
    gfake.store.mail_label(arriving, add=(label,))
    run = sync(gconnection)

    assert run.counts["created"] == 1 and run.counts["deleted"] == 1
    assert [d.name for d in docs(gconnection)] == ["Arriving", "Staying"]


def test_a_trashed_mail_leaves_even_though_it_keeps_its_label(
    gfake: FakeGoogle, gconnection: models.Connection, label: str, sync: Sync
) -> None:
    binned = mail(gfake, label, "Binned", "To the bin.")
    add_source(gconnection, surface="gmail_label", root_id=label)
    sync(gconnection, "backfill")

    gfake.store.mail_label(binned, add=("TRASH",), remove=("INBOX",))
    run = sync(gconnection)

    assert run.counts["deleted"] == 1 and docs(gconnection) == []


def test_a_stale_history_id_resyncs_the_window_and_sweeps_what_is_gone(
    gfake: FakeGoogle, gconnection: models.Connection, label: str, sync: Sync
) -> None:
    gfake.page_size = 2
    ids = [mail(gfake, label, f"Mail {n}", f"Body number {n}.") for n in range(5)]
    add_source(gconnection, surface="gmail_label", root_id=label)
    sync(gconnection, "backfill")

    gfake.store.mail_delete(ids[0])
    gfake.expire_history()
    run = sync(gconnection)

    assert run.status == "succeeded", run.error
    assert any(r.status == 404 for r in gfake.requests_to("/history"))
    assert run.counts["deleted"] == 1 and run.counts["created"] == 0 and run.counts["updated"] == 0
    assert run.counts["unchanged"] == 4
    assert sorted(d.name for d in docs(gconnection)) == ["Mail 1", "Mail 2", "Mail 3", "Mail 4"]
    after = sync(gconnection)
    assert after.status == "succeeded" and after.counts["seen"] == 0


def test_too_many_concurrent_requests_pauses_the_run_and_it_resumes(
    gfake: FakeGoogle, gconnection: models.Connection, label: str, sync: Sync, run_jobs: Callable[[], list[str]]
) -> None:
    mail(gfake, label, "One", "First mail.")
    add_source(gconnection, surface="gmail_label", root_id=label)
    sync(gconnection, "backfill")
    mail(gfake, label, "Two", "Second mail.")

    gfake.throttle_next(1, retry_after="90", status=429)
    run = models.SyncRun.objects.create(tenant=gconnection.tenant, connection=gconnection, kind="delta")
    assert engine.run(run_id=run.pk) == engine.PAUSED
    run.refresh_from_db()
    assert run.status == "queued" and run.resume_at is not None and run.attempts == 0

    models.SyncRun.objects.filter(pk=run.pk).update(resume_at=timezone.now())  # the pause is over
    assert engine.run(run_id=run.pk) == "succeeded"
    run_jobs()
    assert [d.name for d in docs(gconnection)] == ["One", "Two"]


def test_a_mail_that_cannot_be_read_is_recorded_and_the_others_land(
    gfake: FakeGoogle, gconnection: models.Connection, label: str, sync: Sync
) -> None:
    bad = mail(gfake, label, "Broken", "Unreadable.")
    mail(gfake, label, "Fine", "Readable.")
    gfake.break_item(bad)
    add_source(gconnection, surface="gmail_label", root_id=label)

    run = sync(gconnection, "backfill")

    assert run.status == "succeeded" and run.counts["failed"] == 1 and run.counts["created"] == 1
    assert [d.name for d in docs(gconnection)] == ["Fine"]


def test_a_delta_with_no_change_costs_one_history_request_and_fetches_nothing(
    gfake: FakeGoogle, gconnection: models.Connection, label: str, sync: Sync
) -> None:
    for n in range(3):
        mail(gfake, label, f"Mail {n}", f"Body {n}.")
    add_source(gconnection, surface="gmail_label", root_id=label)
    sync(gconnection, "backfill")
    gfake.store.mail_add(labels=["INBOX"], subject="Elsewhere", body="Another label's mail: no fetch.")
    before = len(gfake.requests)

    run = sync(gconnection)

    sent = gfake.requests[before:]
    assert run.status == "succeeded" and run.counts["seen"] == 0
    assert [r.path for r in sent] == ["/gmail/v1/users/me/history"]


def test_a_mails_attachment_is_a_child_document_and_leaves_with_its_mail(
    gfake: FakeGoogle, gconnection: models.Connection, label: str, sync: Sync, retrieval_on: Any, retrieve_api: Any
) -> None:
    prices = b"Price list 2027. A root canal treatment costs 640 euros; a crown costs 890 euros."
    message = mail(gfake, label, "Our new prices", "See the attached list.", attachments=[("prices-2027.txt", prices)])
    add_source(gconnection, surface="gmail_label", root_id=label, mail_tier="body")

    run = sync(gconnection, "backfill")

    assert run.status == "succeeded" and run.counts["failed"] == 0, run.item_errors
    parent = kb.Document.objects.get(connection=gconnection, external_id=message)
    [child] = kb.Document.objects.filter(connection=gconnection, parent=parent)
    assert child.name == "prices-2027.txt" and child.source_kind == "gmail"
    assert "640 euros" in retrieved(retrieve_api, "how much does a root canal cost")

    gfake.store.mail_delete(message)
    sync(gconnection)
    assert not kb.Document.objects.filter(connection=gconnection).exists()
