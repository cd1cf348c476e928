"""Postgres' own text ranking on SciFact, for comparison with the SQL BM25 of the product
(``bench_quality.py --comparisons``). Not used by the product: ts_rank has no IDF;
pg_textsearch needs an index on the chunk table, computes IDF over every tenant's chunks
and filters the tenant after its index scan."""

from __future__ import annotations

import time
from typing import Any

import common
from bench_quality import mean, ndcg_at_10


def pg_textsearch_baseline(qids: list[str], texts: dict[str, str], qrels: dict[str, dict[str, int]]) -> list[list[Any]]:
    """pg_textsearch's BM25 index (shipped with the embedded server) on a scratch table of
    the same abstracts, for comparison. Not used by the product (see knowledge/retrieval.py)."""
    from django.db import DatabaseError, connection

    docs = common.load_jsonl(common.SCIFACT_DIR / "corpus.jsonl")
    try:
        with connection.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_textsearch")
    except DatabaseError:
        return [["lexical only, pg_textsearch BM25 index — not available here", "", ""]]
    scores: list[float] = []
    elapsed = 0.0
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_scratch_bm25")
        cur.execute("CREATE TABLE bench_scratch_bm25 (id bigserial PRIMARY KEY, name text, content text)")
        with cur.connection.cursor() as pc, pc.copy("COPY bench_scratch_bm25 (name, content) FROM STDIN") as copy:
            for d in docs:
                copy.write_row((d["_id"], f"{d['title']}\n{d['text']}"))
        cur.execute("CREATE INDEX bench_scratch_bm25_idx ON bench_scratch_bm25 USING bm25 (content) "
                    "WITH (text_config = 'english')")
        started = time.perf_counter()
        for qid in qids:
            cur.execute("SELECT name FROM bench_scratch_bm25 ORDER BY content <@> to_bm25query(%s, "
                        "'bench_scratch_bm25_idx') LIMIT 10", [texts[qid]])
            scores.append(ndcg_at_10([r[0] for r in cur.fetchall()], qrels[qid]))
        elapsed = (time.perf_counter() - started) * 1000 / len(qids)
        cur.execute("DROP TABLE bench_scratch_bm25")
    return [[f"lexical only, pg_textsearch BM25 index ({elapsed:.1f} ms/query) — not used", mean(scores), ""]]


def ts_rank_baselines(tenant: Any, qids: list[str], texts: dict[str, str],
                      qrels: dict[str, dict[str, int]]) -> list[list[Any]]:
    """Postgres' own ranking functions on the same OR query, for comparison (no IDF)."""
    from django.db import connection

    from knowledge import retrieval

    rows = []
    for label, fn, norm in (("ts_rank (OR query)", "ts_rank", 1), ("ts_rank_cd (OR query)", "ts_rank_cd", 1)):
        sql = (
            "SELECT d.name FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id, "
            "(SELECT replace(plainto_tsquery('english', %(lex)s)::text, ' & ', ' | ')::tsquery AS q) lq "
            f"WHERE c.tenant_id = %(tenant)s AND c.search_vector @@ lq.q "
            f"ORDER BY {fn}(c.search_vector, lq.q, {norm}) DESC, c.id LIMIT 10"
        )
        scores = []

        def run(sql: str = sql, scores: list[float] = scores) -> None:
            scores.clear()
            with connection.cursor() as cur:
                for qid in qids:
                    cur.execute(sql, {"tenant": tenant.pk, "lex": retrieval.lexical_text(texts[qid])})
                    scores.append(ndcg_at_10([r[0] for r in cur.fetchall()], qrels[qid]))

        common.with_db_retry(run)
        rows.append([f"lexical only, Postgres {label} — not used", mean(scores), ""])
    return rows
