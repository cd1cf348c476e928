"""Ingestion benchmark: throughput through the real worker, extraction overhead over bare
pypdf, and the worker's peak memory on the largest shared files.

    .venv/bin/python benchmarks/bench_ingest.py [--providers hash,local] [--docs 300]

Runs against a dedicated database (``kb_bench``, recreated each run) on the embedded server,
never the dev one. Prints tables and writes benchmarks/results/ingest.md; sections this run did
not measure (``--skip``, fewer ``--providers``) are kept from the previous file, each marked
"(from an earlier run)" under its heading.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ROOT = common.ROOT
EVAL = common.EVAL_DIR
BENCH_DB = "kb_bench"
RESULT = "ingest.md"
# Marks a section copied from the previous results file because this run did not measure it.
KEPT = "(from an earlier run)"

WORDS = (
    "appointment cleaning whitening insurance parking hours saturday weekday emergency crown filling "
    "hygienist x-ray payment plan deposit cancellation fee reminder patient family children orthodontic "
    "braces implant consultation checkup fluoride sealant referral specialist"
).split()


def _doc_text(rng: random.Random, sections: int) -> str:
    parts = []
    for s in range(sections):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "."
            for _ in range(rng.randint(8, 14))
        ]
        parts.append(f"## Topic {s}\n\n" + " ".join(sentences))
    return "# Practice handbook\n\n" + "\n\n".join(parts)


def bench_throughput(provider: str, n_docs: int, workers: int) -> dict:
    from django.db import connection

    from knowledge import models, services

    models.Document.objects.all().delete()
    models.Tenant.objects.filter(slug="bench").delete()
    tenant = services.tenant_create(slug="bench", name="Bench")
    rng = random.Random(7)
    texts = [_doc_text(rng, rng.randint(3, 8)) for _ in range(n_docs)]
    env = {**os.environ, "KB_EMBEDDING_PROVIDER": provider, "KB_EMBEDDING_MODEL": "", "KB_WORKERS": str(workers),
           "KB_DB_NAME": BENCH_DB, "LOG_LEVEL": "WARNING"}
    # Start the worker first and let it warm up (model load), so we time the pipeline: one
    # warm-up document per worker process, queued at once, so that each idle worker takes one.
    proc = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], env=env, cwd=ROOT,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    warm_ids: list[int] = []
    try:
        for w in range(workers):
            warm = services.document_upload(tenant=tenant, fileobj=io.BytesIO(f"warm up worker {w}".encode()),
                                            filename=f"warm{w}.txt")
            warm_ids.append(warm.document.pk)
        common.wait_until(lambda: models.Document.objects.filter(
            pk__in=warm_ids, status__in=["ready", "failed"]).count() == len(warm_ids))
        started = time.perf_counter()
        for i, text in enumerate(texts):
            services.document_upload(tenant=tenant, fileobj=io.BytesIO(text.encode()), filename=f"doc{i}.md")
        common.wait_until(
            lambda: not models.Document.objects.filter(tenant=tenant).exclude(status__in=["ready", "failed"]).exists(),
            timeout=3600)
        elapsed = time.perf_counter() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # The warm-up documents count nowhere: not in docs, chunks nor the stage totals.
    docs = models.Document.objects.filter(tenant=tenant).exclude(pk__in=warm_ids)
    failed = docs.filter(status="failed").count()
    chunks = models.Chunk.objects.filter(tenant=tenant).exclude(document_id__in=warm_ids).count()
    stage_totals: dict[str, float] = {}
    jobs = models.IngestJob.objects.filter(tenant=tenant, status="ready").exclude(document_id__in=warm_ids)
    for stats in jobs.values_list("stats", flat=True):
        for stage, ms in (stats or {}).get("timings_ms", {}).items():
            stage_totals[stage] = stage_totals.get(stage, 0.0) + ms
    connection.close()
    return {"provider": provider, "docs": docs.count(), "failed": failed, "chunks": chunks, "seconds": elapsed,
            "docs_per_s": docs.count() / elapsed, "chunks_per_s": chunks / elapsed,
            "stage_ms_per_chunk": {k: v / max(chunks, 1) for k, v in stage_totals.items()}}


def bench_extraction() -> dict:
    import pypdf

    from knowledge import extraction

    rows = []
    for path in sorted((EVAL / "docs" / "pdf").glob("*.pdf")):
        data = path.read_bytes()
        try:
            t0 = time.perf_counter()
            reader = pypdf.PdfReader(io.BytesIO(data))
            pages = len(reader.pages)
            for page in reader.pages:
                page.extract_text()
            bare = time.perf_counter() - t0
        except Exception:
            continue  # bare pypdf cannot read it (encrypted, corrupt): nothing to compare
        t0 = time.perf_counter()
        try:
            extraction.extract(data, file_type="pdf", filename=path.name)
        except extraction.ExtractionError:
            pass
        ours = time.perf_counter() - t0
        rows.append({"file": path.name, "pages": pages, "bare_s": bare, "ours_s": ours})
    total_bare = sum(r["bare_s"] for r in rows)
    total_ours = sum(r["ours_s"] for r in rows)
    pages = sum(r["pages"] for r in rows)
    return {"files": len(rows), "pages": pages, "bare_ms_per_page": 1000 * total_bare / pages,
            "ours_ms_per_page": 1000 * total_ours / pages, "ratio": total_ours / total_bare,
            "median_file_ratio": statistics.median(r["ours_s"] / max(r["bare_s"], 1e-9) for r in rows), "rows": rows}


_MEM_CHILD = r"""
import io, json, os, resource, sys
import django
django.setup()
from knowledge import ingestion, models, services
from django.core.files.uploadedfile import SimpleUploadedFile
path = sys.argv[1]
tenant = models.Tenant.objects.get_or_create(slug="bench-mem", defaults={"name": "mem"})[0]
models.Document.objects.filter(tenant=tenant).delete()
data = open(path, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
doc = services.document_upload(tenant=tenant, fileobj=io.BytesIO(data), filename=os.path.basename(path)).document
job = doc.jobs.get()
status = ingestion.run_job(job_id=job.pk)
doc.refresh_from_db()
print(json.dumps({"status": doc.status, "chunks": doc.chunk_count, "error": doc.ingest_error[:80],
                  "baseline_mb": before / 1024, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_memory(provider: str, top: int = 5) -> list[dict]:
    files = sorted((p for p in (EVAL / "docs").rglob("*") if p.suffix in (".pdf", ".docx")),
                   key=lambda p: p.stat().st_size, reverse=True)[:top]
    pages_heavy = [EVAL / "docs" / n for n in ("pdf/unst__DA-619p.pdf", "pdf/unst__pdf2image-memory-error-test-400p.pdf",
                                                "docx/unst__handbook-872p.docx")]
    files += [p for p in pages_heavy if p.exists() and p not in files]
    env = {**os.environ, "KB_EMBEDDING_PROVIDER": provider, "KB_EMBEDDING_MODEL": "", "KB_DB_NAME": BENCH_DB,
           "LOG_LEVEL": "ERROR"}
    out = []
    for path in files:
        proc = subprocess.run([sys.executable, "-c", _MEM_CHILD, str(path)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=1800)
        line = (proc.stdout.strip().splitlines() or ["{}"])[-1]
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = {"status": "crashed", "error": proc.stderr[-200:]}
        row.update({"file": path.name, "size_mb": path.stat().st_size / 1e6})
        out.append(row)
    return out


def _keep_other_sections(old: str, lines: list[str]) -> list[str]:
    """The new report plus the previous file's sections that this run did not produce
    (a run with --skip or fewer --providers refreshes only what it measured), each marked
    with a line ``(from an earlier run)`` under its heading."""
    sections: list[list[str]] = []
    for line in old.splitlines():
        if line.startswith("## "):
            sections.append([])
        if sections:
            sections[-1].append(line)
    new_heads = {line for line in lines if line.startswith("## ")}
    kept: list[str] = []
    for section in sections:
        if section[0] in new_heads:
            continue
        body = section[1:]
        while body and (not body[0].strip() or body[0] == KEPT):  # KEPT: kept by an earlier run
            body = body[1:]
        kept += [section[0], "", KEPT, "", *body]
    return lines + kept


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", default="hash,local")
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip", default="", help="comma list of: throughput,extraction,memory")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    # A fresh dedicated database each run; the main process only uploads (the workers embed).
    common.setup(database=BENCH_DB, fresh=True, provider=os.environ.get("KB_EMBEDDING_PROVIDER", "local"),
                 model=os.environ.get("KB_EMBEDDING_MODEL", ""))
    lines = ["# Ingestion benchmark", "", f"Machine: {os.cpu_count()} cores. Worker: django-q2 qcluster, "
             f"{args.workers} worker processes, ORM broker on the embedded PostgreSQL.", ""]
    if "throughput" not in skip:
        lines += ["## Throughput end to end through the worker", "",
                  "| provider | docs | chunks | seconds | docs/s | chunks/s | ms/chunk by stage |", "|---|---|---|---|---|---|---|"]
        for provider in args.providers.split(","):
            n = args.docs if provider == "hash" else max(args.docs // 3, 20)
            r = bench_throughput(provider, n, args.workers)
            stages = ", ".join(f"{k} {v:.2f}" for k, v in r["stage_ms_per_chunk"].items())
            lines.append(f"| {provider} | {r['docs']} | {r['chunks']} | {r['seconds']:.1f} | {r['docs_per_s']:.1f} | "
                         f"{r['chunks_per_s']:.0f} | {stages} |")
            print(lines[-1], flush=True)
        lines.append("")
    if "extraction" not in skip:
        e = bench_extraction()
        lines += ["## PDF extraction vs bare pypdf (shared PDFs that bare pypdf can read)", "",
                  "| files | pages | bare pypdf ms/page | ours ms/page | total ratio | median per-file ratio |",
                  "|---|---|---|---|---|---|",
                  f"| {e['files']} | {e['pages']} | {e['bare_ms_per_page']:.2f} | {e['ours_ms_per_page']:.2f} | "
                  f"{e['ratio']:.2f}× | {e['median_file_ratio']:.2f}× |", ""]
        print(lines[-2], flush=True)
    if "memory" not in skip:
        for provider in args.providers.split(","):
            rows = bench_memory(provider)
            lines += [f"## Worker peak memory, provider `{provider}` (largest shared files, one process each)", "",
                      "| file | MB | outcome | chunks | baseline RSS MB | peak RSS MB |", "|---|---|---|---|---|---|"]
            for r in rows:
                lines.append(f"| {r['file']} | {r['size_mb']:.1f} | {r.get('status')} {r.get('error', '')[:50]} | "
                             f"{r.get('chunks', '')} | {r.get('baseline_mb', 0):.0f} | {r.get('peak_mb', 0):.0f} |")
                print(lines[-1], flush=True)
            lines.append("")
    previous = common.RESULTS_DIR / RESULT
    if previous.exists():
        lines = _keep_other_sections(previous.read_text(), lines)
    common.write_result(RESULT, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
