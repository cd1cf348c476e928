"""Hybrid search over one tenant's knowledge chunks: the two legs, where they run, and
their fusion.

* **Vector leg.** Chunks of the current model only (``embedding_model``) and of its
  dimension, with the same cast and predicate as the partial HNSW index
  (``embedding::vector(384) … WHERE embedding_dim = 384``). HNSW filters *after* the index
  scan, so a tenant holding a small share of the table would get fewer than ``top_k``
  rows. Two measures, both needed: tenants with at most ``exact_max_chunks`` (5,000)
  knowledge chunks are searched exactly (btree on ``(tenant, kind)``, then a sort by exact
  distance); larger tenants use the HNSW index with pgvector 0.8 iterative scans
  (``hnsw.iterative_scan = relaxed_order``, ``ef_search`` ≥ candidates, ``max_scan_tuples``
  scaled to the tenant's share of the table). Should an index scan still come back short
  (a filter, or the tenant's rows rare in the graph), the leg is re-run exactly, so
  ``top_k`` is always honoured. Measured at 100k chunks (benchmarks/results/latency*.md):
  exact ~2 µs per chunk with ``STORAGE MAIN`` (migration 0004), HNSW ~6–15 ms whatever the
  tenant's size.
* **Lexical leg.** Okapi BM25 computed in SQL with the tenant's own statistics
  (``sql._lexical_cte``). Spoken queries are ORed term by term: an AND of every word a
  caller says almost never matches (dev set hit@3 0.20–0.33 vs 0.89). ``ts_rank`` has no
  IDF and scores far lower on SciFact (benchmarks/results/quality.md).
* **Fusion.** Weighted RRF ``Σ w_leg / (k + rank_leg)`` over 40 candidates per leg, k = 10,
  equal weights: chosen on SciFact *train* and the caller dev set together. A lexical
  row's weight is scaled by its term coverage (the IDF-weighted share of the query's terms it
  holds; full weight from 3/4 up), so a chunk sharing one word with a paraphrased question
  does not outvote the vector leg (caller tune half and SciFact train, benchmarks/results/quality.md). ``score`` is
  the sum divided by its maximum (rank 1 in every leg that ran), so it lies in 0..1 and
  only orders; ``relevance`` (``relevance.py``) is the absolute measure.

**Running the legs.** The two legs are independent and each costs a few ms of PostgreSQL
CPU, so with a spare core they run at once: the vector leg on a second connection (owned
by a small pool of threads), the lexical leg on the request's own. Then the fusion is
computed here and the winners' texts (with their cosine similarity) are read in one more
statement. Only outside a transaction: the second connection cannot see rows that the
request's open transaction has not committed (tests run in one, so they run the legs one
after the other unless they ask otherwise). With every pool thread busy, or
``KB_SEARCH_PARALLEL=0``, the legs also run one after the other: a request never queues
behind another request's leg. Lexical-only search (embeddings off) returns only chunks
that share a word with the query, so it can return fewer than ``top_k``.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction

from knowledge.retrieval import caches, relevance, sql
from knowledge.retrieval.caches import QueryVector
from knowledge.retrieval.config import DEFAULT_CONFIG, DEFAULT_PROBE, Probe, SearchConfig
from knowledge.retrieval.schemas import Hit

logger = logging.getLogger(__name__)


class SqlFilter(NamedTuple):
    """An extra predicate on the chunk (alias ``c``) ANDed inside both legs, with its named
    parameters (their names must not clash with the search's own: prefix them)."""

    where: str
    params: dict[str, Any]


@dataclass
class SearchOutcome:
    hits: list[Hit]
    legs: list[str]
    mode: str  # "exact" | "hnsw" | "" (no vector leg)
    timings_ms: dict[str, float] = field(default_factory=dict)


# --- the pool that runs the vector leg beside the lexical one ------------------------------

SEARCH_THREADS = 4  # as many as one gunicorn worker's request threads (kb_serve --threads)
_pool: list[Any] = [None, 0]  # [executor, pid that made it]
_pool_lock = threading.Lock()
pool_slots = threading.BoundedSemaphore(SEARCH_THREADS)
_side_connections: list[Any] = []  # the pool threads' connection wrappers


def _executor() -> ThreadPoolExecutor:
    with _pool_lock:
        if _pool[0] is None or _pool[1] != os.getpid():  # never reuse a parent's threads after fork
            _pool[0] = ThreadPoolExecutor(max_workers=SEARCH_THREADS, thread_name_prefix="kb-search")
            _pool[1] = os.getpid()
        return _pool[0]


def close_search_connections() -> None:
    """Close the pool threads' database connections (tests, before the test database goes;
    they reconnect on their next leg)."""
    with _pool_lock:
        wrappers = list(_side_connections)
        _side_connections.clear()
    for wrapper in wrappers:
        wrapper.inc_thread_sharing()
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()


def _on_side_connection(leg: Callable[[], Any]) -> Any:
    """Run ``leg`` in a pool thread, on that thread's own connection. A failed connection is
    closed (the next leg reconnects); no health check per leg, which would cost a round trip."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    with _pool_lock:
        if wrapper not in _side_connections:
            _side_connections.append(wrapper)
    try:
        return leg()
    except DatabaseError:
        connection.close()
        raise


def _start_on_side(leg: Callable[[], Any]) -> Future[Any] | None:
    """``leg`` running in the pool, or None when running it there is not allowed or no
    thread is free (the caller then runs it itself)."""
    if not settings.KB_SEARCH_PARALLEL or connection.in_atomic_block:
        return None
    if not pool_slots.acquire(blocking=False):
        return None
    try:
        future = _executor().submit(_on_side_connection, leg)
    except BaseException:
        pool_slots.release()
        raise
    future.add_done_callback(lambda _: pool_slots.release())
    return future


# --- the legs ---------------------------------------------------------------------------------


def _fetch(statement: str, params: dict[str, Any]) -> list[Any]:
    with connection.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


def _vector_leg(
    *, dim: int, mode: str, forced: bool, params: dict[str, Any], where: str, count: int
) -> tuple[list[Any], str]:
    """(rows, mode used) on the calling thread's connection. An index scan that comes back
    with fewer rows than the tenant could give is rerun exactly, which always returns top_k
    when the tenant has them."""
    n = int(params["n"])
    if mode == "hnsw":
        # SET LOCAL needs a transaction; the exact leg is one autocommit statement.
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql.hnsw_settings(candidates=n, tenant_chunks=count, table_rows=caches.table_estimate()))
            cur.execute(sql.vector_leg_sql(dim, exact=False, where=where), params)
            rows = cur.fetchall()
        if forced or len(rows) >= min(n, count):
            return rows, "hnsw"
    return _fetch(sql.vector_leg_sql(dim, exact=True, where=where), params), "exact"


Fused = tuple[int, float, int | None, int | None, float | None, float | None, float | None]


def fuse(vec_rows: list[Any], lex_rows: list[Any], *, top_k: int, config: SearchConfig) -> list[Fused]:
    """Weighted RRF ``Σ w_leg / (k + rank_leg)``: the best ``top_k`` as (id, rrf, vector
    rank, lexical rank, distance, BM25, term coverage), best first; ties go to the better
    vector rank, then the better lexical rank. With both legs, a lexical row's weight is
    ``lexical_weight × min(1, coverage / lexical_full_coverage) ** lexical_coverage_power``
    (see ``SearchConfig``)."""
    k, wv, wl = float(config.rrf_k), float(config.vector_weight), float(config.lexical_weight)
    power = float(config.lexical_coverage_power) if vec_rows else 0.0
    full = max(1e-6, float(config.lexical_full_coverage))
    fused: dict[int, list[Any]] = {}  # id -> [rrf, vrank, lrank, dist, lscore, cov]
    for chunk_id, rank, dist in vec_rows:
        fused[chunk_id] = [wv / (k + rank), rank, None, dist, None, None]
    for chunk_id, rank, score, cov in lex_rows:
        entry = fused.setdefault(chunk_id, [0.0, None, None, None, None, None])
        weight = wl * min(1.0, max(0.0, float(cov or 0.0)) / full) ** power if power else wl
        entry[0] += weight / (k + rank)
        entry[2], entry[4], entry[5] = rank, score, cov
    ranked = sorted(
        fused.items(), key=lambda item: (-item[1][0], item[1][1] or 1_000_000, item[1][2] or 1_000_000)
    )
    return [(chunk_id, *values) for chunk_id, values in ranked[:top_k]]  # type: ignore[misc]


def _hits(
    fused: list[Fused], *, params: dict[str, Any], legs: list[str], config: SearchConfig, model: str,
) -> list[Hit]:
    """The fused chunks with their texts and similarity (one statement)."""
    if not fused:
        return []
    with_similarity = "qvec" in params
    rows = _fetch(sql.texts_sql(with_similarity=with_similarity), {**params, "ids": [row[0] for row in fused]})
    texts = {row[0]: row for row in rows}
    best = (config.vector_weight if "vector" in legs else 0.0) + (config.lexical_weight if "lexical" in legs else 0.0)
    best /= config.rrf_k + 1
    model_name = model.split(":", 1)[-1]
    hits = []
    for chunk_id, rrf, vrank, lrank, dist, lscore, cov in fused:
        if chunk_id not in texts:  # deleted since the legs ran
            continue
        _, doc_id, name, index, text, heading, page, similarity = texts[chunk_id]
        if similarity is None and dist is not None:
            similarity = 1.0 - float(dist)
        similarity = round(float(similarity), 4) if similarity is not None else None
        hits.append(Hit.model_construct(
            chunk_id=chunk_id, document_id=doc_id, document_name=name, chunk_index=index, text=text,
            score=round(rrf / best, 4) if best else 0.0,
            relevance=relevance.relevance(
                similarity=similarity, coverage=float(cov) if cov is not None else None, model=model_name
            ),
            heading=heading or "", page=page,
            vector_rank=int(vrank) if vrank is not None else None,
            lexical_rank=int(lrank) if lrank is not None else None,
            vector_similarity=similarity,
            lexical_score=round(float(lscore), 4) if lscore is not None else None,
        ))
    return hits


def search(
    *,
    tenant_id: int,
    query: str,
    vector: list[float] | QueryVector | None,
    model: str = "",
    top_k: int = 5,
    user_id: int | None = None,
    sql_filter: SqlFilter | None = None,
    config: SearchConfig = DEFAULT_CONFIG,
    probe: Probe = DEFAULT_PROBE,
) -> SearchOutcome:
    """Hybrid search over one tenant's knowledge chunks. ``query`` is the (normalised) text
    for the lexical leg; ``vector`` the query embedding of ``model`` ("provider:model"), or
    None for lexical only; ``sql_filter`` an extra predicate applied inside both legs."""
    started = time.perf_counter()
    lex = sql.lexical_text(query) if probe.lexical else ""
    use_lexical = bool(lex)
    use_vector = vector is not None and probe.vector and bool(model)
    legs = (["vector"] if use_vector else []) + (["lexical"] if use_lexical else [])
    if not legs:
        return SearchOutcome(hits=[], legs=[], mode="", timings_ms={"search": 0.0})
    count = caches.tenant_chunk_count(tenant_id)
    where = sql_filter.where if sql_filter else ""
    params: dict[str, Any] = {
        **(sql_filter.params if sql_filter else {}),
        "tenant": tenant_id, "user": user_id, "lex": lex, "model": model,
        "n": max(config.candidates, top_k), "ndocs": count,
    }
    mode = ""
    vector_leg: Callable[[], tuple[list[Any], str]] | None = None
    side: Future[Any] | None = None
    if use_vector and vector is not None:
        query_vector = vector if isinstance(vector, QueryVector) else QueryVector.of(vector)
        params["qvec"] = query_vector.literal
        params["dim"] = len(query_vector.values)
        mode = probe.vector_mode or ("exact" if count <= config.exact_max_chunks else "hnsw")
        vector_leg = functools.partial(
            _vector_leg, dim=len(query_vector.values), mode=mode, forced=bool(probe.vector_mode),
            params=params, where=where, count=count,
        )
        side = _start_on_side(vector_leg) if use_lexical else None
    lex_rows = (
        _fetch(sql.lexical_leg_sql(config, all_terms=probe.lexical_all_terms, where=where), params)
        if use_lexical else []
    )
    vec_rows: list[Any] = []
    if vector_leg is not None:
        try:
            vec_rows, mode = side.result() if side is not None else vector_leg()
        except DatabaseError:
            if side is None:
                raise
            # The side connection failed (e.g. the server restarted): run it on this one.
            logger.warning("vector leg failed on the side connection; running it here", exc_info=True)
            vec_rows, mode = vector_leg()
    fused = fuse(vec_rows, lex_rows, top_k=top_k, config=config)
    return SearchOutcome(
        hits=_hits(fused, params=params, legs=legs, config=config, model=model), legs=legs, mode=mode,
        timings_ms={"search": round((time.perf_counter() - started) * 1000, 2)},
    )
