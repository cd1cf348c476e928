"""Retrieval latency over HTTP against a real server process, one tenant among several.

    .venv/bin/python benchmarks/bench_latency.py [--sizes 10000,100000] [--requests 300]

For each table size the benchmark database (``kb_bench_latency``) holds several tenants;
``lat-brightsmile`` (the measured tenant) has the demo documents, ingested through the
real pipeline, plus SciFact abstracts with their real MiniLM embeddings (~2,000 chunks, a
small business with a large knowledge base). The other tenants' chunks reuse SciFact text
with **synthetic vectors** (a real MiniLM vector plus Gaussian noise, renormalised) — 100k
MiniLM embeddings would take hours on 2 cores. Chunks are bulk-loaded with COPY; the HNSW
index is rebuilt after loading.

A gunicorn subprocess (as ``make run`` serves: gthread, here one worker; DEBUG off, local
MiniLM provider on ONNX Runtime) serves
``POST /api/v1/retrieve``; one client sends caller-style questions sequentially. The first
pass uses questions never seen before (the query embedding is computed); the second pass
repeats them (embedding served from the cache). Server-side time and the stages come from
the ``Server-Timing`` header (auth, embed, policy, search, audit, serialize, server).
Also measured in-process: exact vs HNSW for the vector leg by tenant size, and the cost of
the audit INSERT with the server's ``synchronous_commit`` (as the API runs it) and with it off.

Writes benchmarks/results/latency.md.
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

MODEL_KEY = "local:all-MiniLM-L6-v2"
TARGET = "lat-brightsmile"
TARGET_SCIFACT_CHUNKS = 2000
# Other tenants' shares of the rest of the table (several businesses, one of them large).
OTHER_SHARES = [0.40, 0.20, 0.15, 0.10, 0.08, 0.04, 0.03]
SUFFIXES = [
    "", "for next week", "for my daughter", "this friday", "for my husband", "tomorrow morning",
    "for two people", "for my son", "next month", "after work", "on my lunch break", "for my mom",
    "for a checkup", "before my trip", "for the kids", "this weekend", "for my wife", "on monday",
]


# --- data ---------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(pct / 100 * (len(ordered) - 1)))))
    return ordered[index]


def synthetic_vectors(base: Any, count: int, rng: Any) -> Any:
    import numpy as np

    rows = base[rng.integers(0, len(base), size=count)]
    noisy = rows + rng.normal(0, 0.04, size=rows.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def ensure_target() -> Any:
    """The measured tenant: demo documents through the real pipeline + SciFact abstracts."""
    from knowledge import models

    tenant = common.ensure_tenant(TARGET, "Bright Smile Dental (latency)")
    if not models.Document.objects.filter(tenant=tenant, source_kind="upload").exists():
        common.load_demo(tenant)
    if not models.Chunk.objects.filter(tenant=tenant, source_kind="snapshot").exists():
        docs = common.load_jsonl(common.SCIFACT_DIR / "corpus.jsonl")[:TARGET_SCIFACT_CHUNKS]
        vectors = corpus_vectors()[:TARGET_SCIFACT_CHUNKS]
        common.bulk_load_chunks(tenant, [(f"kb-{d['_id']}", d["title"], d["text"]) for d in docs], vectors,
                                model=MODEL_KEY)
    return tenant


def corpus_vectors() -> Any:
    docs = common.load_jsonl(common.SCIFACT_DIR / "corpus.jsonl")
    return common.embed_cached("scifact-corpus", [f"{d['title']}\n{d['text']}" for d in docs])


def total_chunks() -> int:
    from knowledge import models

    return models.Chunk.objects.count()


def grow_to(total: int, rng: Any) -> None:
    """Add other tenants' chunks until the table holds ``total`` chunks."""
    from django.db import connection

    from knowledge import models

    have = total_chunks()
    if have >= total:
        return
    docs = common.load_jsonl(common.SCIFACT_DIR / "corpus.jsonl")
    base = corpus_vectors()
    need = total - have
    migration = importlib.import_module("knowledge.migrations.0002_vector_indexes")
    with connection.cursor() as cur:
        cur.execute("DROP INDEX IF EXISTS chunk_embedding_hnsw_384")
    started = time.perf_counter()
    target_share = {f"lat-other-{i}": share for i, share in enumerate(OTHER_SHARES)}
    remaining = need
    for i, (slug, share) in enumerate(target_share.items()):
        count = remaining if i == len(target_share) - 1 else int(round(need * share / sum(OTHER_SHARES)))
        remaining -= count
        if count <= 0:
            continue
        tenant = common.ensure_tenant(slug)
        existing = models.Chunk.objects.filter(tenant=tenant).count()
        picks = [docs[j % len(docs)] for j in range(existing, existing + count)]
        vectors = synthetic_vectors(base, count, rng)
        rows = [(f"s{existing + j}-{d['_id']}", d["title"], d["text"]) for j, d in enumerate(picks)]
        common.bulk_load_chunks(tenant, rows, vectors, model=MODEL_KEY)
    print(f"  loaded {need} synthetic chunks in {time.perf_counter() - started:.0f}s; building the HNSW index…", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute("SET max_parallel_maintenance_workers = 0")
        cur.execute(migration._create_sql(384))
        cur.execute("ANALYZE knowledge_chunk")
    print(f"  HNSW index built in {time.perf_counter() - started:.0f}s", flush=True)


def api_key(tenant: Any) -> str:
    from knowledge import services

    return services.apikey_create(tenant=tenant, scopes=["retrieve"], name="latency-bench").plaintext


# --- server and client --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self) -> None:
        self.port = free_port()
        env = dict(os.environ)
        env.update({
            "DJANGO_SETTINGS_MODULE": "kbsite.settings", "KB_DB_NAME": common.BENCH_DB, "DEBUG": "0",
            "KB_EMBEDDING_PROVIDER": "local", "KB_EMBEDDING_MODEL": "all-MiniLM-L6-v2",
            "KB_RETRIEVAL_ENABLED": "1", "KB_QUERY_CACHE_SIZE": "4096", "LOG_LEVEL": "WARNING",
        })
        self.log = open(common.cache_dir() / "latency-server.log", "w")  # noqa: SIM115
        # As `make run` serves it: gunicorn, gthread; one worker process so that every request
        # hits the same in-process caches (the cached pass measures a warm cache).
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "kbsite.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--worker-class", "gthread", "--threads", "4"],
            cwd=common.ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"server exited; see {self.log.name}") from None
                time.sleep(0.5)
        raise SystemExit("server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


class Client:
    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key
        self.conn: http.client.HTTPConnection | None = None

    def post(self, query: str, top_k: int = 5) -> tuple[float, dict[str, float], dict[str, Any]]:
        body = json.dumps({"query": query, "top_k": top_k, "session_id": "bench"})
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                started = time.perf_counter()
                self.conn.request("POST", "/api/v1/retrieve", body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                elapsed = (time.perf_counter() - started) * 1000
                if response.getheader("Connection", "").lower() == "close" or response.version == 10:
                    self.conn.close()
                    self.conn = None
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn = None
                if attempt == 2:
                    raise
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {data[:300]!r}")
        timing = {}
        for part in (response.getheader("Server-Timing") or "").split(","):
            name, _, dur = part.strip().partition(";dur=")
            if name:
                timing[name] = float(dur)
        return elapsed, timing, json.loads(data)


def questions(count: int, rng: random.Random) -> list[str]:
    """``count`` caller-style questions, distinct after normalisation (the query-embedding
    cache is keyed by the normalised text): the dev-set questions with one suffix each,
    then, when more are needed, with two different suffixes."""
    from knowledge import querytext

    devset = json.loads((Path(__file__).resolve().parent / "caller_devset.json").read_text())["questions"]
    base = [q["query"] for q in devset]
    out: list[str] = []
    seen: set[str] = set()

    def add(texts: list[str]) -> None:
        for text in texts:
            key = querytext.normalize(text)
            if key not in seen:
                seen.add(key)
                out.append(text)

    add([f"{q} {suffix}".strip() for suffix in SUFFIXES for q in base])
    if count > len(out):
        add([f"{q} {a} {b}" for i, a in enumerate(SUFFIXES) for b in SUFFIXES[i + 1:] if a and b for q in base])
    if count > len(out):
        raise SystemExit(f"asked for {count} distinct questions; only {len(out)} can be made")
    rng.shuffle(out)
    return out[:count]


def notes(modes: list[list[Any]]) -> list[str]:
    """The notes under the summary; the HNSW recall figures come from ``vector_modes`` rows
    (tenant, chunks, exact p50, exact p95, HNSW p50, HNSW p95, recall@10) of every size."""
    target = [row[-1] for row in modes if row[0] == TARGET]
    synthetic = [row[-1] for row in modes if row[0] != TARGET]

    def span(values: list[float]) -> str:
        lo, hi = min(values), max(values)
        return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f}"

    recall = []
    if target and synthetic:
        recall = [
            f"* HNSW recall@10 measured {span(synthetic)} on the synthetic tenants and {span(target)} on "
            "the measured tenant's real vectors (tables below)."
            + (" The synthetic tenants' recall is lower because their vectors are noisy copies of one "
               "another (many near-ties), so their index scans often come back short and are re-run "
               "exactly." if max(synthetic) < min(target) else ""),
        ]
    return [*NOTES, *recall, ""]


NOTES = [
    "Notes:",
    "",
    "* `server` runs from the API-key check to the serialised response, inside the server process "
    "(Django's middleware before it is not counted); `client` is the whole HTTP round trip seen by "
    "the benchmark client on the same machine.",
    "* `auth` is the API-key lookup, one plain SQL statement (`knowledge.apikeys`).",
    "* `search` is both legs at once: the vector leg on a second connection while the lexical leg "
    "runs on the request's own, then one statement reading the winners' texts.",
    "* `audit` is the id reservation on the caller's path (ids are taken from the sequence 64 at a "
    "time); the row itself is written after the response has been sent (cost in the last table).",
    "* The web process loads the model at start (ONNX Runtime, ~0.5 s); the benchmark warms up first.",
    "* One server process (one query-embedding cache) serves every measured tenant of a table size; "
    "each tenant's first pass asks questions never asked before on that server.",
]

STAGES = ["auth", "embed", "policy", "search", "audit", "serialize", "server"]


def run_phase(client: Client, qs: list[str]) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {s: [] for s in STAGES + ["client"]}
    for q in qs:
        elapsed, timing, body = client.post(q)
        assert body["retrieval_enabled"] and body["knowledge"], body
        samples["client"].append(elapsed)
        for s in STAGES:
            samples[s].append(timing.get(s, 0.0))
    return samples


# --- in-process measurements ---------------------------------------------------------------------


def vector_modes(tenants: list[Any], rng: random.Random, n: int = 40) -> list[list[Any]]:
    """Vector leg only: exact vs HNSW (iterative scan) time and HNSW recall@10 vs exact."""
    from django.db import transaction

    from knowledge import embeddings, retrieval

    provider = embeddings.get_provider()
    qs = [provider.embed_query(q) for q in questions(n, rng)]
    rows = []
    for tenant in tenants:
        size = retrieval.tenant_chunk_count(tenant.pk)
        times: dict[str, list[float]] = {"exact": [], "hnsw": []}
        recalls = []
        for vec in qs:
            found = {}
            for mode in ("exact", "hnsw"):
                cfg, probe = retrieval.split_config(lexical=False, vector_mode=mode, candidates=40)
                with transaction.atomic():
                    t = time.perf_counter()
                    res = retrieval.search(tenant_id=tenant.pk, query="x", vector=vec, model=MODEL_KEY, top_k=10,
                                           config=cfg, probe=probe)
                    times[mode].append((time.perf_counter() - t) * 1000)
                found[mode] = [h.chunk_id for h in res.hits]
            recalls.append(len(set(found["hnsw"]) & set(found["exact"])) / max(1, len(found["exact"])))
        rows.append([tenant.slug, size, percentile(times["exact"], 50), percentile(times["exact"], 95),
                     percentile(times["hnsw"], 50), percentile(times["hnsw"], 95), statistics.mean(recalls)])
    return rows


def audit_cost(tenant: Any, n: int = 300) -> list[list[Any]]:
    """The audit write, in-process: the id reservation on the caller's path and the INSERT
    (autocommit) that the API runs after the response has been sent, with the server's
    ``synchronous_commit`` (what the API does) and, for comparison, with it off."""
    from django.db import connection

    from audit import services as audit_services
    from audit.models import RecallAudit
    from knowledge import retrieval

    hits = [retrieval.Hit(chunk_id=i, document_id=i, document_name="hours.md", chunk_index=0,
                          text="We are open on Saturday from 9:00 am to 12:00 noon. " * 18, score=0.5,
                          vector_rank=1, lexical_rank=2) for i in range(5)]
    result = retrieval.RetrievalResult(
        tenant=tenant, query="um are you open saturday", normalized_query="are you open saturday", top_k=5,
        retrieval_enabled=True, policy=retrieval.PolicyBlock(text="Never diagnose. " * 150, chunk_ids=(1, 2)),
        knowledge=hits, legs=["vector", "lexical"], embedding_model="all-MiniLM-L6-v2",
        flags={"retrieval_enabled": True}, timings_ms={"embed": 1.0, "search": 2.0},
    )
    def insert() -> None:
        audit_services.recall_record(result=result, source="api", session_id="bench-audit", is_test=True)

    with connection.cursor() as cur:
        # The server's setting, as the web process has it (an in-process ingest job, e.g. the
        # demo upload, turns it off for this session).
        cur.execute("RESET synchronous_commit")
        cur.execute("SHOW synchronous_commit")
        configured = cur.fetchone()[0]
    rows = []
    for label, fn, sync in (
        ("reserve the id (nextval), on the caller's path", audit_services.recall_reserve_id, None),
        (f"INSERT the row (after the response), synchronous_commit={configured} as the API runs it",
         insert, None),
        ("INSERT the row, synchronous_commit=off (for comparison; not what the API does)", insert, "off"),
    ):
        times = []
        with connection.cursor() as cur:
            if sync is not None:
                cur.execute(f"SET synchronous_commit TO {sync}")
            try:
                for _ in range(n):
                    t = time.perf_counter()
                    fn()
                    times.append((time.perf_counter() - t) * 1000)
            finally:
                if sync is not None:
                    cur.execute("RESET synchronous_commit")
        rows.append([label, percentile(times, 50), percentile(times, 95)])
    RecallAudit.objects.filter(tenant=tenant, session_id="bench-audit").delete()
    return rows


# --- main -------------------------------------------------------------------------------------------


def measure(size: int, requests: int, rng: random.Random, np_rng: Any, report: list[str]) -> dict[str, Any]:
    from django.db import connection

    from knowledge import models

    grow_to(size, np_rng)
    # Measure a table at rest: right after a bulk load, autovacuum works through the new rows
    # and the HNSW index for minutes, and the first measurements took 3-5x longer.
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) knowledge_chunk")
    target = models.Tenant.objects.get(slug=TARGET)
    big = models.Tenant.objects.filter(slug="lat-other-0").first()
    actual = total_chunks()
    tenants = models.Tenant.objects.filter(slug__startswith="lat-").count()
    target_chunks = models.Chunk.objects.filter(tenant=target, kind="knowledge").count()
    print(f"{actual} chunks, {tenants} tenants; measured tenant has {target_chunks} knowledge chunks", flush=True)
    server = Server()
    out: dict[str, Any] = {"size": actual}
    try:
        measured = [(target, target_chunks)]
        if big is not None:
            measured.append((big, models.Chunk.objects.filter(tenant=big).count()))
        # One server, so one query-embedding cache, serves every measured tenant: each tenant
        # gets its own slice of questions never asked on this server, so its first pass
        # computes every embedding.
        pool = questions(requests * len(measured), rng)
        for i, (tenant, chunks) in enumerate(measured):
            client = Client(server.port, api_key(tenant))
            qs = pool[i * requests:(i + 1) * requests]
            # Warm up the model, connections and the database cache with other texts, so
            # that the first measured pass still computes every query embedding.
            for q in qs:
                client.post(q + " warmup")
            computed = run_phase(client, qs)
            cached = run_phase(client, qs)
            rows = []
            for label, samples in (("embedding computed", computed), ("embedding cached", cached)):
                rows.append([label] + [f"{percentile(samples[s], 50):.2f} / {percentile(samples[s], 95):.2f}"
                                       for s in STAGES + ["client"]])
            out[tenant.slug] = {
                "computed_p50": percentile(computed["server"], 50), "computed_p95": percentile(computed["server"], 95),
                "cached_p50": percentile(cached["server"], 50), "cached_p95": percentile(cached["server"], 95),
            }
            report += [
                f"### {actual:,} chunks — tenant `{tenant.slug}` ({chunks:,} chunks), {len(qs)} requests per pass",
                "",
                "p50 / p95 in ms. `server` = from authentication to the serialised response, inside the "
                "server process; `client` = HTTP round trip seen by the client.",
                "",
                common.md_table(["pass"] + STAGES + ["client"], rows),
                "",
            ]
            print(common.md_table(["pass"] + STAGES + ["client"], rows), flush=True)
    finally:
        server.stop()
    return out


def storage_of_embedding() -> str:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'knowledge_chunk'::regclass "
            "AND attname = 'embedding'"
        )
        row = cur.fetchone()
    return {"e": "EXTERNAL (pgvector's default: vectors are TOASTed out of line)", "m": "MAIN (inline)",
            "p": "PLAIN", "x": "EXTENDED"}.get(row[0] if row else "", "?")


def server_versions() -> tuple[str, str]:
    """("PostgreSQL 18.1", pgvector's extversion) of the benchmark database."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT version()")
        version = str(cur.fetchone()[0]).split(" on ", 1)[0].split(",", 1)[0]
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cur.fetchone()
    return version, (row[0] if row else "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--fresh", action="store_true", help="drop and rebuild the benchmark database")
    args = parser.parse_args()
    # Its own database: the table size is part of what is measured.
    database = os.environ.get("KB_LATENCY_BENCH_DB", "kb_bench_latency")
    common.setup(database=database, fresh=args.fresh)
    import numpy as np
    from django.conf import settings

    from knowledge import models

    np_rng = np.random.default_rng(7)
    rng = random.Random(7)
    started = time.perf_counter()
    load_at_start = os.getloadavg()
    ensure_target()
    postgres, pgvector = server_versions()
    report = [
        "# Retrieval latency", "",
        f"Generated by `benchmarks/bench_latency.py` on {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} CPU cores (shared with other work), "
        f"{'embedded ' if settings.KB_EMBEDDED_DB else ''}{postgres} + pgvector {pgvector}, "
        "gunicorn (1 worker, 4 threads, HTTP keep-alive), local all-MiniLM-L6-v2 on ONNX Runtime, top_k=5.",
        "",
        f"Embedding column storage: **{storage_of_embedding()}**.",
        "",
        "The measured tenant's chunks have real MiniLM embeddings; the other tenants' vectors are "
        "**synthetic** (real SciFact vectors plus Gaussian noise, renormalised) so that 100k chunks "
        "load in minutes.",
        "",
    ]
    header_len = len(report)
    summary = []
    all_modes: list[list[Any]] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        print(f"== {size:,} chunks", flush=True)
        out = measure(size, args.requests, rng, np_rng, report)
        for slug, v in out.items():
            if slug != "size":
                summary.append([f"{out['size']:,}", slug, v["computed_p50"], v["computed_p95"], v["cached_p50"], v["cached_p95"]])
        tenants = [models.Tenant.objects.get(slug=TARGET)] + list(
            models.Tenant.objects.filter(slug__in=["lat-other-0", "lat-other-3"]))
        modes = vector_modes(tenants, rng)
        all_modes += modes
        report += [
            f"### Vector leg at {out['size']:,} chunks: exact scan vs HNSW (iterative scan), in-process",
            "",
            common.md_table(["tenant", "chunks", "exact p50", "exact p95", "HNSW p50", "HNSW p95", "HNSW recall@10"], modes),
            "",
        ]
        print(common.md_table(["tenant", "chunks", "exact p50", "exact p95", "HNSW p50", "HNSW p95", "recall@10"], modes), flush=True)
    audit = audit_cost(models.Tenant.objects.get(slug=TARGET))
    report = report[:header_len] + [
        "## Summary: server-side latency (ms)", "",
        common.md_table(["table chunks", "tenant", "computed p50", "computed p95", "cached p50", "cached p95"], summary),
        "", "Targets at 100k chunks: p95 ≤ 30 ms with the embedding computed, ≤ 10 ms cached.", "",
        *notes(all_modes),
        "## Details", "",
    ] + report[header_len:] + [
        "### Audit row, in-process (a row with 5 chunks of ~1 KB and a 2.4 KB policy)", "",
        common.md_table(["step", "p50 ms", "p95 ms"], audit), "",
        f"Total benchmark time: {time.perf_counter() - started:.0f} s. Load average (1/5/15 min) at the "
        f"start: {' / '.join(f'{x:.1f}' for x in load_at_start)}; at the end: "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores; other work shares them).",
    ]
    print(common.md_table(["table chunks", "tenant", "computed p50", "computed p95", "cached p50", "cached p95"], summary))
    print(common.md_table(["step", "p50 ms", "p95 ms"], audit))
    path = common.write_result("latency.md", "\n".join(report) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
