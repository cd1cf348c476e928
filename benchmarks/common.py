"""Shared helpers for the benchmarks: a dedicated benchmark database, the SciFact files,
and an on-disk cache of MiniLM embeddings (kept under KB_DATA_DIR, never in the repo).

Import this module *before* anything from Django: ``setup()`` points the settings at the
benchmark database (``KB_DB_NAME``, default ``kb_bench_retrieval``; bench_ingest uses its own), creates it when missing and
migrates it, so benchmarks never touch the development or test databases.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# run_all.py points quick runs elsewhere, so they never overwrite the published figures.
RESULTS_DIR = Path(os.environ.get("KB_BENCH_RESULTS_DIR") or ROOT / "benchmarks" / "results")
EVAL_DIR = ROOT.parent / "shared" / "eval"
SCIFACT_DIR = EVAL_DIR / "scifact"
BENCH_DB = os.environ.get("KB_RETRIEVAL_BENCH_DB", "kb_bench_retrieval")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def setup(
    *, provider: str = "local", model: str = "all-MiniLM-L6-v2", migrate: bool = True, database: str = "",
    fresh: bool = False,
) -> None:
    """Configure Django for a benchmark database and make sure it exists and is migrated
    (``fresh``: drop it first). Must run before anything else sets Django up."""
    global BENCH_DB
    BENCH_DB = database or BENCH_DB
    if not BENCH_DB.startswith("kb_bench"):
        raise SystemExit(f"refusing to use {BENCH_DB!r}: benchmark databases are named kb_bench*")
    os.environ["DJANGO_SETTINGS_MODULE"] = "kbsite.settings"
    os.environ["KB_DB_NAME"] = BENCH_DB
    os.environ["KB_EMBEDDING_PROVIDER"] = provider
    os.environ["KB_EMBEDDING_MODEL"] = model
    os.environ.setdefault("KB_RETRIEVAL_ENABLED", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    # Settings are read once per process: if Django was set up before, this is not our DB.
    if connection.settings_dict["NAME"] != BENCH_DB:
        raise SystemExit(f"Django is configured for {connection.settings_dict['NAME']!r}, not {BENCH_DB!r}")
    if settings.KB_EMBEDDED_DB:
        from kbsite import embedded_pg

        params = embedded_pg.ensure_running(Path(settings.KB_DATA_DIR))
        import psycopg
        from psycopg import sql

        with psycopg.connect(host=params["HOST"], user=params["USER"], dbname="postgres", autocommit=True) as conn:
            if fresh:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))
    elif fresh:
        raise SystemExit("fresh=True only works with the embedded database")
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def cache_dir() -> Path:
    from django.conf import settings

    path = Path(settings.KB_DATA_DIR) / "bench-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def embed_cached(name: str, texts: Sequence[str], *, batch: int = 64, label: str = "") -> Any:
    """MiniLM embeddings of ``texts`` (numpy float32, normalised), cached on disk by content."""
    import numpy as np

    from knowledge import embeddings

    provider = embeddings.get_provider()
    digest = hashlib.sha256(("\x1e".join(texts) + provider.model).encode()).hexdigest()[:16]
    path = cache_dir() / f"{name}-{provider.name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    started = time.perf_counter()
    out = np.zeros((len(texts), provider.dim), dtype=np.float32)
    for start in range(0, len(texts), batch):
        vecs = provider.embed_documents(list(texts[start : start + batch])).vectors
        out[start : start + len(vecs)] = np.asarray(vecs, dtype=np.float32)
        done = start + len(vecs)
        if done % (batch * 20) == 0 or done == len(texts):
            rate = done / (time.perf_counter() - started)
            print(f"  embedded {label or name}: {done}/{len(texts)} ({rate:.0f}/s)", flush=True)
    np.save(path, out)
    return out


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")
            qrels.setdefault(qid, {})[did] = int(score)
    return qrels


@contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    print(f"  {label}: {time.perf_counter() - started:.1f}s", flush=True)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def wait_until(predicate: Callable[[], Any], timeout: float = 300, interval: float = 0.2) -> None:
    """Poll ``predicate`` until it is true; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError("benchmark condition not met")


def write_result(name: str, text: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(text)
    return path


# --- loading a benchmark corpus straight into the chunk table ------------------------------


def ensure_tenant(slug: str, name: str = "") -> Any:
    from knowledge import models

    tenant, _ = models.Tenant.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    return tenant


def bulk_load_chunks(
    tenant: Any,
    docs: Sequence[tuple[str, str, str]],
    vectors: Any | None,
    *,
    model: str,
    kind: str = "knowledge",
) -> None:
    """Insert one document and one chunk per (name, title, text), the way ingestion stores
    them (title in metadata; search_vector = title+heading weight A, text weight B), with
    ``vectors`` (numpy rows, may be None). Fast path: COPY, then one UPDATE for the tsvector."""
    import numpy as np
    from django.db import connection, transaction
    from django.utils import timezone

    from knowledge import models

    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cur:
        raw = cur.connection  # psycopg connection
        with raw.cursor() as pc:
            with pc.copy(
                "COPY knowledge_document (tenant_id, name, kind, source_kind, external_id, revision, "
                "scope, file, inline_text, content_type, file_type, size_bytes, content_sha256, status, "
                "ingest_error, chunk_count, metadata, created_at, updated_at, ingested_at) FROM STDIN"
            ) as copy:
                for name, _title, text in docs:
                    sha = hashlib.sha256(f"{tenant.pk}:{name}".encode()).hexdigest()
                    copy.write_row((
                        tenant.pk, name[:255], kind, "snapshot", name[:512], "", "tenant", "", "",
                        "text/plain", "txt", len(text), sha, "ready", "", 1, "{}", now, now, now,
                    ))
        ids = dict(models.Document.objects.filter(tenant=tenant).values_list("name", "pk"))
        with raw.cursor() as pc:
            with pc.copy(
                "COPY knowledge_chunk (tenant_id, document_id, chunk_index, text, heading, page, metadata, "
                "embedding, embedding_dim, embedding_model, kind, scope, owner_id, source_kind, created_at) "
                "FROM STDIN"
            ) as copy:
                for i, (name, title, text) in enumerate(docs):
                    vec = None
                    if vectors is not None:
                        vec = "[" + ",".join(f"{x:.6g}" for x in np.asarray(vectors[i])) + "]"
                    copy.write_row((
                        tenant.pk, ids[name[:255]], 0, text, "", None, json.dumps({"title": title}),
                        vec, len(vectors[i]) if vec else None, model if vec else "", kind, "tenant", None,
                        "snapshot", now,
                    ))
        cur.execute(
            "UPDATE knowledge_chunk SET search_vector = "
            "setweight(to_tsvector('english', coalesce(metadata->>'title', '') || ' ' || heading), 'A') || "
            "setweight(to_tsvector('english', text), 'B') || kb_tenant_lexeme(tenant_id) "
            "WHERE tenant_id = %s AND search_vector IS NULL",
            [tenant.pk],
        )
    with connection.cursor() as cur:
        cur.execute("ANALYZE knowledge_chunk")
        cur.execute("ANALYZE knowledge_document")


def with_db_retry(fn: Any, *args: Any, attempts: int = 4, **kwargs: Any) -> Any:
    """Run ``fn`` again after a lost connection: the shared embedded server can be stopped
    by another process (a test session that started it); the next connection restarts it."""
    from django.db import InterfaceError, OperationalError, connection

    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except (OperationalError, InterfaceError):
            if attempt == attempts - 1:
                raise
            print("  (database connection lost; reconnecting)", flush=True)
            from kbsite import embedded_pg

            embedded_pg._ready.clear()
            connection.close()
            time.sleep(2)
    return None


def load_demo(tenant: Any) -> None:
    """Upload the Bright Smile Dental demo documents (``knowledge/demo``; ``policy*`` files as
    the policy) to ``tenant`` and run its queued ingest jobs in this process, through the real
    pipeline (extraction, chunking, embeddings). Files already uploaded are duplicates and
    are not ingested again."""
    import io

    from knowledge import ingestion, models, services

    demo = ROOT / "knowledge" / "demo"
    for path in sorted(demo.iterdir()):
        if path.suffix not in (".md", ".html", ".txt"):
            continue
        kind = "policy" if path.name.startswith("policy") else "knowledge"
        services.document_upload(tenant=tenant, fileobj=io.BytesIO(path.read_bytes()), filename=path.name,
                                 kind=kind, auto_ingest=True)
    for job_id in models.IngestJob.objects.filter(tenant=tenant, status="queued").values_list("pk", flat=True):
        ingestion.run_job(job_id=job_id)
    from django.db import connection

    with connection.cursor() as cur:  # a job relaxes commit durability for its session: undo
        cur.execute("RESET synchronous_commit")
