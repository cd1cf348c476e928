"""The real worker: qcluster processes, claims, heartbeats, reaping after SIGKILL."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from knowledge import ingestion, models, services
from tests.conftest import Worker, wait_for
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _upload(tenant: models.Tenant, text: str, name: str = "doc.md") -> models.Document:
    return services.document_upload(
        tenant=tenant, fileobj=io.BytesIO(text.encode()), filename=name
    ).document


def _status(doc: models.Document) -> str:
    doc.refresh_from_db()
    return doc.status


def test_a_real_worker_ingests_an_upload_to_ready(tenant: models.Tenant, worker: Any) -> None:
    doc = _upload(tenant, "# Office hours\n\nSaturday 9 to 12. Closed Sundays.", "hours.md")
    wait_for(lambda: _status(doc) in ("ready", "failed"), timeout=90)
    assert doc.status == "ready", doc.ingest_error
    job = models.IngestJob.objects.get(document=doc)
    assert job.status == "ready" and job.attempts == 1
    assert job.stats["chunks"] == doc.chunk_count >= 1
    assert set(job.stats["timings_ms"]) >= {"extract", "chunk", "embed", "store"}
    assert (
        models.Chunk.objects.filter(document=doc, embedding__isnull=False).count()
        == doc.chunk_count
    )


def test_health_reports_the_worker_heartbeat(worker: Any, client: Any) -> None:
    body = wait_for(lambda: (b := client.get("/api/v1/health").json())["worker"]["running"] and b, timeout=60)
    assert body["worker"]["clusters"] >= 1
    assert body["worker"]["heartbeat_age_s"] < 30


def test_a_broken_file_fails_with_a_reason_and_the_worker_survives(
    tenant: models.Tenant, worker: Any
) -> None:
    bad = services.document_upload(
        tenant=tenant,
        fileobj=io.BytesIO(b"%PDF-1.7\n" + b"\x00garbage" * 100),
        filename="broken.pdf",
    ).document
    wait_for(lambda: _status(bad) in ("ready", "failed"), timeout=90)
    assert bad.status == "failed" and bad.ingest_error
    good = _upload(tenant, "Parking is free behind the building.", "parking.txt")
    wait_for(lambda: _status(good) in ("ready", "failed"), timeout=90)
    assert good.status == "ready"
    assert worker.alive()


class SlowOpenAI(FakeOpenAI):
    """The embeddings API, answering after ``delay`` seconds: long enough to kill a worker mid-job."""

    delay: float = 0.0
    started: int = 0  # requests received (``requests`` records them only once answered)

    def _answer(self, record: Any) -> Any:
        self.started += 1
        time.sleep(self.delay)
        return super()._answer(record)


def test_a_worker_killed_mid_job_is_reaped_and_the_job_finishes_exactly_once(
    tenant: models.Tenant, worker_env: dict[str, str], settings: Any
) -> None:
    fake = SlowOpenAI()
    with fake:
        fake.delay = 30
        env = {**worker_env, "KB_EMBEDDING_PROVIDER": "openai", "KB_EMBEDDING_MODEL": "text-embedding-3-small",
               "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key, "KB_OPENAI_MAX_RETRIES": "0"}
        first = Worker(env).start()
        try:
            doc = _upload(tenant, "# Hours\n\nSaturday 9 to 12.\n\n# Parking\n\nFree lot behind the building.")
            job = models.IngestJob.objects.get(document=doc)
            wait_for(lambda: fake.started >= 1, timeout=60)  # mid-job: waiting on embeddings
            first.kill(signal.SIGKILL)
        finally:
            first.kill()
        job.refresh_from_db()
        assert job.status == "running" and job.attempts == 1
        assert not models.Chunk.objects.filter(document=doc).exists()  # nothing half-written
        # Its heartbeat goes stale; the reaper puts it back in the queue.
        settings.KB_INGEST_STALE_SECONDS = 2
        wait_for(lambda: ingestion.reap_stale_jobs()["requeued"] == 1, timeout=30, interval=0.5)
        fake.delay = 0
        second = Worker(env).start()
        try:
            wait_for(lambda: _status(doc) in ("ready", "failed"), timeout=90)
        finally:
            second.kill()
    job.refresh_from_db()
    assert doc.status == "ready", doc.ingest_error
    assert job.status == "ready" and job.attempts == 2
    chunks = models.Chunk.objects.filter(document=doc)
    assert chunks.count() == doc.chunk_count
    assert sorted(chunks.values_list("chunk_index", flat=True)) == list(range(doc.chunk_count))
    assert set(chunks.values_list("embedding_dim", flat=True)) == {1536}


def test_the_openai_provider_in_the_worker_survives_a_429(
    tenant: models.Tenant, worker_env: dict[str, str]
) -> None:
    with FakeOpenAI() as fake:
        fake.fail_next(1, status=429)
        env = {**worker_env, "KB_EMBEDDING_PROVIDER": "openai", "KB_EMBEDDING_MODEL": "text-embedding-3-small",
               "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key}
        handle = Worker(env).start()
        try:
            doc = _upload(tenant, "Saturday 9 to 12.")
            wait_for(lambda: _status(doc) in ("ready", "failed"), timeout=90)
        finally:
            handle.kill()
        assert doc.status == "ready", doc.ingest_error
        assert [r.status for r in fake.requests] == [429, 200]
    job = models.IngestJob.objects.get(document=doc)
    assert job.stats["embedding_tokens"] > 0


# --- a cluster that stops making progress (issue 10 item 1) ------------------------------------


def _process_table() -> dict[int, tuple[int, int]]:
    """pid → (parent pid, process group) of every live (not zombie) process, from /proc."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            table[int(entry)] = (int(fields[1]), int(fields[2]))
    return table


def _children(pid: int) -> list[int]:
    return sorted(p for p, (ppid, _) in _process_table().items() if ppid == pid)


def _group(pgid: int) -> list[int]:
    return sorted(p for p, (_, group) in _process_table().items() if group == pgid)


def _supervised_env(worker_env: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        **worker_env, "KB_WORKERS": "2", "KB_WORKER_STALLED_SECONDS": "8", "KB_WORKER_DEGRADED_SECONDS": "4",
        "KB_INGEST_STALE_SECONDS": "4", "KB_REAPER_INTERVAL_SECONDS": "1", "KB_TASK_RETRY_SECONDS": "5",
        "KB_INGEST_LOST_SECONDS": "3", "KB_WORKER_STOP_SECONDS": "3", **extra,
    }


def _start_kb_worker(env: dict[str, str], log: Any) -> subprocess.Popen[Any]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "kb_worker"], cwd=ROOT, env=env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _cluster_of(supervisor_pid: int) -> tuple[int, int]:
    """(qcluster pid, its sentinel's pid) once the cluster under ``supervisor_pid`` runs its
    children (workers, pusher, monitor)."""
    def found() -> tuple[int, int] | None:
        for qcluster in _children(supervisor_pid):
            for sentinel in _children(qcluster):
                if len(_children(sentinel)) >= 3:
                    return qcluster, sentinel
        return None

    return wait_for(found, timeout=90, interval=0.2)


def _kill_groups(*pgids: int) -> None:
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


@pytest.mark.parametrize("sentinel_stuck", [True, False], ids=["sentinel-stuck", "children-killed-only"])
def test_a_cluster_whose_children_are_killed_is_restarted_and_every_job_still_ends(
    tenant: models.Tenant, worker_env: dict[str, str], settings: Any, client: Any, tmp_path: Path,
    sentinel_stuck: bool,
) -> None:
    """Stuck: the sentinel cannot respawn its children (as when respawned processes sleep on a
    lock a killed one held) — health must say ``stalled`` and the supervisor must restart the
    cluster. Killed only: django-q2 respawns them, whatever state its queues are left in."""
    settings.KB_WORKER_STALLED_SECONDS = 8
    settings.KB_WORKER_DEGRADED_SECONDS = 4
    settings.KB_INGEST_STALE_SECONDS = 4
    settings.KB_REAPER_INTERVAL_SECONDS = 1
    fake = SlowOpenAI()
    with fake, open(tmp_path / "worker.log", "w") as log:
        fake.delay = 3
        env = _supervised_env(
            worker_env, KB_EMBEDDING_PROVIDER="openai", KB_EMBEDDING_MODEL="text-embedding-3-small",
            OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY=fake.api_key, KB_OPENAI_MAX_RETRIES="0",
        )
        proc = _start_kb_worker(env, log)
        first_cluster = 0
        try:
            qcluster, sentinel = _cluster_of(proc.pid)
            first_cluster = qcluster
            docs = [_upload(tenant, f"# Note {i}\n\nSaturday {i} to 12.", f"note-{i}.md") for i in range(6)]
            wait_for(lambda: models.IngestJob.objects.filter(status="running").exists(), timeout=60)
            wait_for(lambda: fake.started >= 1, timeout=60)  # a job is mid-embedding
            if sentinel_stuck:
                os.kill(sentinel, signal.SIGSTOP)
            for child in _children(sentinel):  # workers, pusher, monitor
                os.kill(child, signal.SIGKILL)
            fake.delay = 0
            statuses: list[tuple[int, str]] = []

            def all_done() -> bool:
                response = client.get("/api/v1/health")
                statuses.append((response.status_code, response.json()["status"]))
                return not models.IngestJob.objects.filter(status__in=("queued", "running")).exists()

            wait_for(all_done, timeout=150, interval=0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            finally:
                _kill_groups(proc.pid, first_cluster)
    log_text = (tmp_path / "worker.log").read_text()
    for doc in docs:
        doc.refresh_from_db()
        assert doc.status == "ready", (doc.ingest_error, log_text[-3000:])
        assert models.Chunk.objects.filter(document=doc).count() == doc.chunk_count >= 1
    assert statuses[-1] in ((200, "ok"), (200, "degraded")), statuses[-5:]
    assert models.TaskRun.objects.filter(name="ingest-reaper", runner="kb_worker").exists()
    if sentinel_stuck:
        # While it was stuck, health said so (503); once it was restarted, the work drained.
        assert (503, "stalled") in statuses, statuses
        assert "restarting the worker cluster: no progress" in log_text
    assert proc.returncode == 0
    assert not _group(first_cluster)  # the stuck cluster is gone, children and all


def test_sigterm_stops_a_stuck_cluster_within_the_bound(worker_env: dict[str, str], tmp_path: Path) -> None:
    with open(tmp_path / "worker.log", "w") as log:
        proc = _start_kb_worker(_supervised_env(worker_env), log)
        qcluster = 0
        try:
            qcluster, sentinel = _cluster_of(proc.pid)
            os.kill(sentinel, signal.SIGSTOP)  # the cluster's own graceful stop will hang on it
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
            elapsed = time.monotonic() - started
        finally:
            _kill_groups(proc.pid, qcluster)
    assert proc.returncode == 0
    assert elapsed < 3 + 5, elapsed  # KB_WORKER_STOP_SECONDS, then SIGKILL of the group
    assert not _group(qcluster)  # nothing of the cluster is left, not even its stuck sentinel


def test_tasks_a_killed_cluster_had_taken_are_delivered_again_within_the_retry_bound(
    tenant: models.Tenant, worker_env: dict[str, str], settings: Any
) -> None:
    from django.utils import timezone
    from django_q.models import OrmQ

    fake = SlowOpenAI()
    with fake:
        fake.delay = 30
        env = {**worker_env, "KB_EMBEDDING_PROVIDER": "openai", "KB_EMBEDDING_MODEL": "text-embedding-3-small",
               "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key, "KB_OPENAI_MAX_RETRIES": "0",
               "KB_TASK_RETRY_SECONDS": "20"}
        first = Worker(env).start()
        try:
            docs = [_upload(tenant, f"Saturday {i} to 12.", f"n{i}.txt") for i in range(4)]
            wait_for(lambda: fake.started >= 1, timeout=60)
            # The pusher has taken the next task too (it waits in the cluster's own queue).
            wait_for(lambda: OrmQ.objects.filter(lock__gt=timezone.now()).count() >= 2, timeout=30)
            first.kill(signal.SIGKILL)
        finally:
            first.kill()
        taken = OrmQ.objects.filter(lock__gt=timezone.now()).count()
        assert taken >= 2  # locked by the dead cluster: nobody else may take them until the lock runs out
        settings.KB_INGEST_STALE_SECONDS = 2
        wait_for(lambda: ingestion.reap_stale_jobs()["requeued"] == 1, timeout=30, interval=0.5)
        fake.delay = 0
        started = time.monotonic()
        second = Worker(env).start()
        try:
            wait_for(lambda: all(_status(d) in ("ready", "failed") for d in docs), timeout=90)
        finally:
            second.kill()
    assert [d.status for d in docs] == ["ready"] * 4
    assert time.monotonic() - started < 60  # not the ten minutes a long lock would take


def test_a_revision_landing_after_the_claim_and_before_the_store_is_what_the_document_serves(
    tenant: models.Tenant, worker_env: dict[str, str]
) -> None:
    import hashlib

    from knowledge import documents

    rev1 = "# Hours\n\nRevision one: the clinic opens on Monday mornings."
    rev2 = "# Hours\n\nRevision two: the clinic opens on Tuesday evenings."

    def put(text: str, revision: str) -> documents.PutResult:
        return documents.document_put(
            tenant=tenant, source_kind="outlook", external_id="msg-1", title="Hours", text=text, revision=revision,
        )

    fake = SlowOpenAI()
    with fake:
        fake.delay = 4
        env = {**worker_env, "KB_EMBEDDING_PROVIDER": "openai", "KB_EMBEDDING_MODEL": "text-embedding-3-small",
               "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key}
        handle = Worker(env).start()
        try:
            doc = put(rev1, "ck-1").document
            first = models.IngestJob.objects.get(document=doc)
            wait_for(lambda: fake.started >= 1, timeout=90)  # claimed, embedding revision one
            first.refresh_from_db()
            assert first.status == "running"
            second = put(rev2, "ck-2")
            assert second.ingestion is not None and second.ingestion.outcome == "queued"
            fake.delay = 0
            wait_for(lambda: models.IngestJob.objects.filter(document=doc, status__in=["queued", "running"])
                     .count() == 0 and _status(doc) in ("ready", "failed"), timeout=120)
        finally:
            handle.kill()
    doc.refresh_from_db()
    first.refresh_from_db()
    assert first.status == "skipped" and "superseded" in first.skip_reason
    assert doc.status == "ready", doc.ingest_error
    assert doc.content_sha256 == hashlib.sha256(rev2.encode()).hexdigest() and doc.revision == "ck-2"
    texts = " ".join(models.Chunk.objects.filter(document=doc).values_list("text", flat=True))
    assert "Tuesday" in texts and "Monday" not in texts
    ready = models.IngestJob.objects.get(document=doc, status="ready")
    assert ready.content_sha256 == doc.content_sha256
