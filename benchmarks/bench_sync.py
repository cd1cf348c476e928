"""Sync benchmark (issue 12), per provider: the provider's real client code and the sync engine
against its local wire-format server (the test harness's fake), embeddings with ``hash``.

    .venv/bin/python benchmarks/bench_sync.py [--providers microsoft,google,clickup]
        [--files 2000] [--mails 5000] [--big 50000]

Per provider: backfill throughput (sync items/s; then ingestion chunks/s with two in-process
job loops), a sync with nothing changed (provider requests — the target is one per source —
and ms), a sync after 1% of the items changed (ingest jobs = embedding work, which must equal
the changed items). Microsoft also: the sync process's peak memory on a ``--big``-item delta
(a child process; the fake server stays in this one so its memory is not counted). Runs on
its own database (``kb_bench_sync``, recreated each run); writes benchmarks/results/sync.md.

A provider plugs in through ``BenchProvider``: ``HarnessBench(name)`` works for any provider
with a test harness (tests/connections/harness_<name>.py: its items are files or tasks added
with ``add_item``); a subclass adds surfaces the harness does not cover (Microsoft: mails).
A provider whose harness module is missing is reported as skipped.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

BENCH_DB = "kb_bench_sync"
RESULT = "sync.md"
WORDS = "appointment cleaning whitening insurance parking hours saturday emergency crown filling".split()


def _text(n: int) -> str:
    return f"Item {n}. " + " ".join(WORDS[(n + i) % len(WORDS)] for i in range(120)) + "."


# --- providers -----------------------------------------------------------------------------------


class HarnessBench:
    """A provider through its test harness: ``items`` items added with ``add_item``, the
    harness's root shared with the tenant."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stack = ExitStack()
        self.harness: Any = None
        self.item_ids: list[str] = []

    @classmethod
    def available(cls, name: str) -> bool:
        return importlib.util.find_spec(f"tests.connections.harness_{name}") is not None

    def start(self) -> None:
        from django.conf import settings

        module = importlib.import_module(f"tests.connections.harness_{self.name}")
        self.harness = self.stack.enter_context(module.make_harness(settings))

    def stop(self) -> None:
        self.stack.close()

    def sizes(self, args: argparse.Namespace) -> dict[str, int]:
        return {"items": args.files}

    def populate(self, sizes: dict[str, int]) -> None:
        self.item_ids = [self.harness.add_item(title=f"doc{n}", text=_text(n)) for n in range(sizes["items"])]

    def connect(self, *, tenant: Any, user: Any) -> Any:
        from django.test import Client

        client = Client()
        client.force_login(user)
        return self.harness.connect(client=client, tenant=tenant, user=user)

    def share(self, connection: Any) -> int:
        """Select the roots; the number of sources."""
        self.harness.share(connection, scope="tenant")
        return 1

    def change(self, every: int) -> dict[str, int]:
        """Change one item in ``every`` at the source: the count per kind."""
        changed = self.item_ids[::every]
        for n, item in enumerate(changed):
            self.harness.change_item(item, text=_text(n) + " changed")
        return {"items": len(changed)}

    def request_count(self) -> int:
        return len(self.harness.requests())

    def downloads(self) -> int | None:
        """Item contents fetched so far, where the fake can tell (else None)."""
        return None

    def big_delta(self, *, tenant: Any, user: Any, size: int) -> list[str]:
        return []


class MicrosoftBench(HarnessBench):
    """OneDrive files (the harness's shared folder, a folder selection: the drive's delta
    filtered by ancestry) and Outlook mails (the inbox, ``body`` tier)."""

    def __init__(self) -> None:
        super().__init__("microsoft")
        self.mail_ids: list[str] = []

    def sizes(self, args: argparse.Namespace) -> dict[str, int]:
        return {"files": args.files, "mails": args.mails}

    def populate(self, sizes: dict[str, int]) -> None:
        super().populate({"items": sizes["files"]})
        store = self.harness.fake.store
        inbox = store.mail_folder_id("inbox") or ""
        self.mail_ids = [store.mail_add(folder_id=inbox, subject=f"Question {n}", body=_text(n), content_type="text")
                         for n in range(sizes["mails"])]

    def share(self, connection: Any) -> int:
        from connections import services

        inbox = self.harness.fake.store.mail_folder_id("inbox") or ""
        services.connection_sources_set(connection=connection, is_admin=True, choices=[
            services.SourceChoice(surface="onedrive", root_id=self.harness.folder, share="tenant"),
            services.SourceChoice(surface="mail_folder", root_id=inbox, share="tenant", mail_tier="body"),
        ])
        return 2

    def change(self, every: int) -> dict[str, int]:
        counts = {"files": super().change(every)["items"]}
        store = self.harness.fake.store
        changed = self.mail_ids[::every]
        for message in changed:
            store.mail_edit(message, body="A changed body about parking and hours.")
        counts["mails"] = len(changed)
        return counts

    def downloads(self) -> int | None:
        return len(self.harness.fake.requests_to("/_download/"))

    def big_delta(self, *, tenant: Any, user: Any, size: int) -> list[str]:
        """--big files land in a folder outside a folder selection, so the engine streams every
        page (ancestry check, removals that find nothing) without writing documents."""
        from connections import models, tokens
        from connections.providers import oauth2
        from connections.sync import cursors

        fake = self.harness.fake
        fake.record_requests = False
        store, drive = fake.store, fake.store.personal_drive_id
        other = store.folder_add(drive_id=drive, name="Archive")
        selected = store.folder_add(drive_id=drive, name="Selected")
        grant = fake.grant()
        big_conn = tokens.connection_connect(
            tenant=tenant, owner=user, provider="microsoft", external_account_id="user-2", account_label="big",
            token_set=oauth2.TokenSet(access_token=grant["access_token"], refresh_token=None, expires_in=3599, scope=""),
        ).connection
        source = models.ConnectionSource.objects.create(tenant=tenant, connection=big_conn, surface="drive_folder",
                                                        root_id=selected, parent_id=drive, label="Selected")
        cursors.save(source=source, state=cursors.State(
            phase=cursors.DELTA, link=fake.graph_url + f"/drives/{drive}/root/delta?token={store.seq}"))
        for n in range(size):
            store.file_add(drive_id=drive, name=f"old{n}.txt", content=b"x", parent_id=other)
        out = subprocess.run([sys.executable, "-c", _MEM_CHILD, fake.graph_url, str(big_conn.pk), str(tenant.pk)],
                             capture_output=True, text=True, env=os.environ.copy(), cwd=common.ROOT, check=False)
        if out.returncode != 0:
            print(out.stderr[-3000:])
            return [f"(the child process failed: exit {out.returncode})"]
        mem = json.loads(out.stdout.strip().splitlines()[-1])
        return [f"### Peak memory of the sync process on a {size:,}-item delta", "",
                "| items | outcome | seconds | baseline RSS MB | peak RSS MB |", "|---|---|---|---|---|",
                f"| {size:,} streamed | {mem['outcome']} | {mem['seconds']:.1f} | "
                f"{mem['baseline_mb']:.0f} | {mem['peak_mb']:.0f} |", ""]


# Adding a provider: a line here (HarnessBench works as it is for a provider with a harness).
PROVIDERS: dict[str, Callable[[], HarnessBench]] = {
    "microsoft": MicrosoftBench,
    "google": lambda: HarnessBench("google"),
    "clickup": lambda: HarnessBench("clickup"),
}


# --- measuring -----------------------------------------------------------------------------------


def _ingest_all() -> tuple[int, float]:
    """Run every queued ingest job with two processes (claims are atomic); (chunks, seconds)."""
    from knowledge import models as kb

    child = ("import django; django.setup()\nfrom knowledge import ingestion, models as kb\n"
             "while True:\n"
             "    ids = list(kb.IngestJob.objects.filter(status='queued').values_list('pk', flat=True)[:50])\n"
             "    if not ids: break\n"
             "    for pk in ids: ingestion.run_job(job_id=pk)\n")
    before = kb.Chunk.objects.count()
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", child], env=os.environ.copy(), cwd=common.ROOT) for _ in range(2)]
    for p in procs:
        p.wait()
    seconds = time.perf_counter() - start
    return kb.Chunk.objects.count() - before, seconds


def _sync(connection: Any) -> tuple[Any, float]:
    """The run "sync now" asks for (the selection's queued backfill first), in process."""
    from connections import models, services
    from connections.sync import engine

    kind = services.sync_kind_for(connection=connection, full=False)
    run = services.sync_request(connection=connection, kind=kind, trigger=models.RunTrigger.MANUAL).run
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


def _sizes_text(sizes: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {kind}" for kind, n in sizes.items())


def bench_provider(bench: HarnessBench, args: argparse.Namespace, n: int) -> list[str]:
    from django.contrib.auth import get_user_model

    from knowledge import models as kb
    from knowledge import services

    sizes = bench.sizes(args)
    items = sum(sizes.values())
    tenant = services.tenant_create(slug=f"bench-sync-{n}", name=f"Bench sync {bench.name}")
    user = get_user_model().objects.create(username=f"bench-sync-{n}")
    services.membership_set(tenant=tenant, user=user, role="admin")
    lines = [f"## {bench.name}", ""]
    bench.start()
    try:
        t0 = time.perf_counter()
        bench.populate(sizes)
        print(f"[{bench.name}] populated {_sizes_text(sizes)} in {time.perf_counter() - t0:.0f}s", flush=True)
        connection = bench.connect(tenant=tenant, user=user)
        source_count = bench.share(connection)

        before = bench.request_count()
        run, sync_s = _sync(connection)
        requests = bench.request_count() - before
        chunks, ingest_s = _ingest_all()
        lines += ["### Backfill", "",
                  "| items | sync s | sync items/s | requests | failed | chunks | ingest s | chunks/s |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| {items:,} ({_sizes_text(sizes)}) | {sync_s:.1f} | {items / sync_s:.1f} | {requests} | "
                  f"{run.counts.get('failed', 0)} | {chunks:,} | {ingest_s:.1f} | {chunks / max(ingest_s, 1e-9):.0f} |", ""]
        print(lines[-2], flush=True)

        before = bench.request_count()
        run, nochange_s = _sync(connection)
        requests = bench.request_count() - before
        lines += ["### Sync with nothing changed", "",
                  "| sources | requests | one per source | ms | counts |", "|---|---|---|---|---|",
                  f"| {source_count} | {requests} | {'yes' if requests == source_count else 'NO'} | "
                  f"{nochange_s * 1000:.0f} | {run.counts} |", ""]
        print(lines[-2], flush=True)

        changed = bench.change(100)
        total_changed = sum(changed.values())
        last_job = kb.IngestJob.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        downloads_before = bench.downloads()
        run, delta_s = _sync(connection)
        jobs = kb.IngestJob.objects.filter(pk__gt=last_job).count()
        downloads_after = bench.downloads()
        downloads = "n/a" if downloads_before is None or downloads_after is None else downloads_after - downloads_before
        _ingest_all()
        lines += ["### Sync after 1% changed", "",
                  "| changed items | files downloaded | ingest jobs (embedding work) | re-embedded == changed | ms |",
                  "|---|---|---|---|---|",
                  f"| {total_changed} ({_sizes_text(changed)}) | {downloads} | {jobs} | "
                  f"{'yes' if jobs == total_changed else 'NO'} | {delta_s * 1000:.0f} |", ""]
        print(lines[-2], flush=True)
        if args.big:
            lines += bench.big_delta(tenant=tenant, user=user, size=args.big)
            print("\n".join(lines[-3:]), flush=True)
    finally:
        bench.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", default="microsoft,google,clickup")
    parser.add_argument("--files", type=int, default=2000, help="files (or a harness's items) per provider")
    parser.add_argument("--mails", type=int, default=5000)
    parser.add_argument("--big", type=int, default=50000, help="items in the memory delta (0: skip)")
    parser.add_argument("--result", default=RESULT, help="file name under benchmarks/results/")
    args = parser.parse_args()
    names = [p.strip() for p in args.providers.split(",") if p.strip()]
    unknown = [p for p in names if p not in PROVIDERS]
    if unknown:
        raise SystemExit(f"unknown provider(s): {', '.join(unknown)} (known: {', '.join(PROVIDERS)})")
    common.setup(database=BENCH_DB, fresh=True, provider="hash", model="hash-384")
    from django.conf import settings

    settings.KB_CONNECTION_MAX_ITEMS = max(settings.KB_CONNECTION_MAX_ITEMS, args.files + args.mails + 10)
    load = os.getloadavg()
    lines = ["# Sync benchmark (local wire-format servers, `hash` embeddings)", "",
             f"Machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
             "(1 / 5 / 15 min) at the start: the cores are shared with other sessions, so throughput is a floor. "
             "The engine runs in process; ingestion by two job loops.", ""]
    for n, name in enumerate(names):
        if not HarnessBench.available(name):
            lines += [f"## {name}", "", f"Skipped: no tests/connections/harness_{name}.py yet.", ""]
            print(f"[{name}] skipped: no harness", flush=True)
            continue
        started = time.perf_counter()
        lines += bench_provider(PROVIDERS[name](), args, n)
        lines += [f"_{name}: {time.perf_counter() - started:.0f} s in all._", ""]
    load = os.getloadavg()
    lines += [f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.", ""]
    path = common.write_result(args.result, "\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
