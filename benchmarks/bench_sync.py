"""Sync benchmark (issue 12): the Microsoft adapter and the sync engine against the local Graph
server (tests/fakes), embeddings with the ``hash`` provider.

    .venv/bin/python benchmarks/bench_sync.py [--files 2000] [--mails 5000] [--big 50000]

Measures: backfill throughput (sync items/s; then ingestion chunks/s with two in-process
job loops), a delta with nothing changed (Graph requests, ms), a delta after 1% of the items
changed (items fetched, ingest jobs = embedding work, which must equal the changed items),
and the sync process's peak memory on a delta of ``--big`` items (a child process; the fake
server stays in this one so its memory is not counted). Runs on its own database
(``kb_bench_sync``, recreated each run); writes benchmarks/results/sync.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

BENCH_DB = "kb_bench_sync"
RESULT = "sync.md"
WORDS = "appointment cleaning whitening insurance parking hours saturday emergency crown filling".split()


def _text(n: int) -> str:
    return f"Item {n}. " + " ".join(WORDS[(n + i) % len(WORDS)] for i in range(120)) + "."


def _ingest_all() -> tuple[int, float]:
    """Run every queued ingest job with two processes (claims are atomic); (chunks, seconds)."""
    from knowledge import models as kb

    child = ("import django; django.setup()\nfrom knowledge import ingestion, models as kb\n"
             "while True:\n"
             "    ids = list(kb.IngestJob.objects.filter(status='queued').values_list('pk', flat=True)[:50])\n"
             "    if not ids: break\n"
             "    for pk in ids: ingestion.run_job(job_id=pk)\n")
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", child], env=os.environ.copy(), cwd=common.ROOT) for _ in range(2)]
    for p in procs:
        p.wait()
    seconds = time.perf_counter() - start
    return kb.Chunk.objects.count(), seconds


def _sync(connection: object, kind: str) -> tuple[object, float]:
    from connections import models
    from connections.sync import engine

    run = models.SyncRun.objects.create(tenant=connection.tenant, connection=connection, kind=kind)  # type: ignore[attr-defined]
    start = time.perf_counter()
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        prof = cProfile.Profile()
        outcome = prof.runcall(engine.run, run_id=run.pk)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    else:
        outcome = engine.run(run_id=run.pk)
    seconds = time.perf_counter() - start
    run.refresh_from_db()
    assert outcome == "succeeded", (outcome, run.error)
    return run, seconds


_MEM_CHILD = r"""
import json, resource, sys, time
import django
django.setup()
from django.conf import settings
settings.KB_MS_GRAPH_URL = sys.argv[1]
from connections import models
from connections.sync import engine
run = models.SyncRun.objects.create(tenant_id=int(sys.argv[3]), connection_id=int(sys.argv[2]), kind="delta")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
outcome = engine.run(run_id=run.pk)
run.refresh_from_db()
print(json.dumps({"outcome": outcome, "seconds": time.perf_counter() - start, "counts": run.counts,
                  "baseline_mb": before / 1024, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--mails", type=int, default=5000)
    parser.add_argument("--big", type=int, default=50000)
    args = parser.parse_args()
    common.setup(database=BENCH_DB, fresh=True, provider="hash", model="hash-384")
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from connections import models, tokens
    from connections.providers import oauth2
    from knowledge import models as kb
    from knowledge import services
    from tests.fakes.msgraph_server import FakeMicrosoft

    fake = FakeMicrosoft(drive_page_size=200).start()
    settings.KB_MS_CLIENT_ID, settings.KB_MS_CLIENT_SECRET = fake.client_id, fake.client_secret
    settings.KB_MS_AUTHORITY, settings.KB_MS_GRAPH_URL = fake.authority, fake.graph_url
    settings.KB_CONNECTION_MAX_ITEMS = max(settings.KB_CONNECTION_MAX_ITEMS, args.files + args.mails + 10)
    tenant = services.tenant_create(slug="bench-sync", name="Bench sync")
    user = get_user_model().objects.create(username="bench-sync")
    grant = fake.grant()
    connection = tokens.connection_connect(
        tenant=tenant, owner=user, provider="microsoft", external_account_id="user-1", account_label="bench",
        token_set=oauth2.TokenSet(access_token=grant["access_token"], refresh_token=grant["refresh_token"],
                                  expires_in=grant["expires_in"], scope=grant["scope"]),
    ).connection
    store = fake.store
    drive = store.personal_drive_id
    inbox = store.mail_folder_id("inbox") or ""
    file_ids = [store.file_add(drive_id=drive, name=f"doc{n}.txt", content=_text(n).encode()) for n in range(args.files)]
    mail_ids = [store.mail_add(folder_id=inbox, subject=f"Question {n}", body=_text(n), content_type="text")
                for n in range(args.mails)]
    for surface, root in (("onedrive", drive), ("mail_folder", inbox)):
        models.ConnectionSource.objects.create(tenant=tenant, connection=connection, surface=surface, root_id=root,
                                               share="tenant", label=surface, mail_tier="body")
    lines = ["# Sync benchmark (Microsoft adapter, local Graph server, `hash` embeddings)", "",
             f"Machine: {os.cpu_count()} cores. The engine runs in process; ingestion by two job loops. "
             f"Sizes: {args.files} files, {args.mails} mails (the issue's figures are for the defaults, "
             f"2,000 and 5,000), a {args.big:,}-item delta.", ""]

    items = args.files + args.mails
    before = len(fake.requests)
    run, sync_s = _sync(connection, "backfill")
    chunks, ingest_s = _ingest_all()
    lines += ["## Backfill", "", "| items | sync s | sync items/s | Graph requests | chunks | ingest s | chunks/s |",
              "|---|---|---|---|---|---|---|",
              f"| {items} ({args.files} files, {args.mails} mails) | {sync_s:.1f} | {items / sync_s:.0f} | "
              f"{len(fake.requests) - before} | {chunks} | {ingest_s:.1f} | {chunks / ingest_s:.0f} |", ""]
    print(lines[-2], flush=True)

    before = len(fake.requests)
    run, nochange_s = _sync(connection, "delta")
    requests = len(fake.requests) - before
    lines += ["## Delta with nothing changed", "", "| sources | Graph requests | ms | counts |", "|---|---|---|---|",
              f"| 2 | {requests} | {nochange_s * 1000:.0f} | {run.counts} |", ""]  # type: ignore[attr-defined]
    print(lines[-2], flush=True)

    changed_files = file_ids[:: 100]
    changed_mails = mail_ids[:: 100]
    for n, item in enumerate(changed_files):
        store.file_edit(item, (_text(n) + " changed").encode())
    for message in changed_mails:
        store.mail_edit(message, body="A changed body about parking and hours.")
    jobs_before = kb.IngestJob.objects.count()
    downloads_before = len(fake.requests_to("/_download/"))
    run, delta_s = _sync(connection, "delta")
    jobs = kb.IngestJob.objects.count() - jobs_before
    downloads = len(fake.requests_to("/_download/")) - downloads_before
    changed = len(changed_files) + len(changed_mails)
    _ingest_all()
    lines += ["## Delta after 1% changed", "",
              "| changed items | files downloaded | ingest jobs (embedding work) | equal | ms |", "|---|---|---|---|---|",
              f"| {changed} ({len(changed_files)} files, {len(changed_mails)} mails) | {downloads} | {jobs} | "
              f"{'yes' if jobs == changed else 'NO'} | {delta_s * 1000:.0f} |", ""]
    print(lines[-2], flush=True)

    # A large delta: --big files land in a folder outside a folder selection, so the engine
    # streams every page (ancestry check, removals that find nothing) without writing documents.
    other = store.folder_add(drive_id=drive, name="Archive")
    selected = store.folder_add(drive_id=drive, name="Selected")
    big_conn = tokens.connection_connect(
        tenant=tenant, owner=user, provider="microsoft", external_account_id="user-2", account_label="big",
        token_set=oauth2.TokenSet(access_token=fake.grant()["access_token"], refresh_token=None, expires_in=3599, scope=""),
    ).connection
    source = models.ConnectionSource.objects.create(tenant=tenant, connection=big_conn, surface="drive_folder",
                                                    root_id=selected, parent_id=drive, label="Selected")
    from connections.sync import cursors

    cursors.save(source=source, state=cursors.State(phase=cursors.DELTA, link=fake.graph_url + f"/drives/{drive}/root/delta?token={store.seq}"))
    for n in range(args.big):
        store.file_add(drive_id=drive, name=f"old{n}.txt", content=b"x", parent_id=other)
    out = subprocess.run([sys.executable, "-c", _MEM_CHILD, fake.graph_url, str(big_conn.pk), str(tenant.pk)],
                         capture_output=True, text=True, env=os.environ.copy(), cwd=common.ROOT, check=False)
    if out.returncode != 0:
        print(out.stderr[-3000:])
    mem = json.loads(out.stdout.strip().splitlines()[-1])
    lines += [f"## Peak memory of the sync process on a {args.big:,}-item delta", "",
              "| items | outcome | seconds | baseline RSS MB | peak RSS MB |", "|---|---|---|---|---|",
              f"| {mem['counts'].get('seen', 0) + args.big:,} streamed | {mem['outcome']} | {mem['seconds']:.1f} | "
              f"{mem['baseline_mb']:.0f} | {mem['peak_mb']:.0f} |", ""]
    print(lines[-2], flush=True)
    fake.stop()
    path = common.write_result(RESULT, "\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
