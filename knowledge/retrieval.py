"""Retrieval: the context bundle the voice router asks for on every caller turn (DESIGN §5).

``retrieve()`` is the one entry point, used by the API (``POST /api/v1/retrieve``), the Dify
endpoint and the browser's retrieval-test page. It

1. checks the flags (``KB_RETRIEVAL_ENABLED`` and ``Tenant.retrieval_enabled``); when off it
   runs no knowledge-base query at all and only writes the audit row;
2. normalises the caller's words (``knowledge.querytext``);
3. takes the tenant's policy block from an in-process cache keyed by
   ``(tenant.id, tenant.policy_version)`` — the tenant row arrives with the API key, so a
   warm call runs no policy query;
4. embeds the query (LRU cache per provider and model, keyed by the normalised text);
5. runs the hybrid search: a vector leg (pgvector cosine) and a lexical leg (Postgres
   full-text search, BM25), fused with weighted reciprocal rank fusion, always
   ``WHERE tenant_id = %s`` (and scope/owner) inside the SQL. Outside a transaction the
   legs run at once on two connections (see "running the legs" below), otherwise one after
   the other; then one statement reads the winners' texts;
6. writes one ``RecallAudit`` row: one INSERT, in SQL (no ORM compilation on the hot path).
   The API reserves the row's id (from a block of ids) and writes the row once the response
   has been handed to the caller, so the INSERT is off the caller's path.

Round trips are what a call costs on a small machine (~0.2 ms each here), so a warm call is:
the API key (one statement) + [chunk count, cached 60 s] + [policy, cached per version] +
the search (the two legs, at once where possible, then the winners' texts) — the audit row
id comes from an in-process block and its INSERT runs after the response. Only the HNSW path
adds a transaction for its ``SET LOCAL`` settings.

Search design (figures in ``benchmarks/results/``):

* **Vector leg.** Chunks of the current model only (``embedding_model``) and of its
  dimension, with the same cast and predicate as the partial HNSW index
  (``embedding::vector(384) … WHERE embedding_dim = 384``). HNSW filters *after* the index
  scan, so a tenant holding a small share of the table would get fewer than ``top_k``
  rows. Two measures, both needed: tenants with at most ``EXACT_SEARCH_MAX_CHUNKS`` (5,000)
  knowledge chunks are searched exactly (btree on ``(tenant, kind)``, then a sort by exact
  distance: exact recall, and no dependence on how rare the tenant is in the graph);
  larger tenants use the HNSW index with pgvector 0.8 iterative scans
  (``hnsw.iterative_scan = relaxed_order``, ``ef_search`` ≥ candidates, ``max_scan_tuples``
  scaled to the tenant's share of the table). Should an index scan still come back short,
  the leg is re-run exactly, so ``top_k`` is always honoured. Measured at 100k chunks
  (benchmarks/results/latency*.md): exact costs ~6 µs per chunk while vectors are
  TOASTed out of line (pgvector's default storage; ~2 µs with ``STORAGE MAIN``, which
  migration 0004 sets), HNSW
  ~6–15 ms whatever the tenant's size, so the cut-over sits between 2k and 10k chunks.
  The tenant's chunk count (index-only count) is cached in-process for
  ``COUNT_TTL_SECONDS``; it also serves as BM25's N.
* **Lexical leg.** Okapi BM25 (k1 0.9, b 0.4, title/heading counted twice) computed in
  SQL from ``search_vector`` (title and heading at weight A, text at weight B, 'english'
  config) with the tenant's own statistics; see ``_lexical_cte``. Spoken queries are ORed
  term by term: an AND of every word a caller says almost never matches (dev set hit@3
  0.20–0.33 vs 0.89). ``ts_rank``/``ts_rank_cd`` have no IDF and score far lower on
  SciFact (test 0.57/0.41 vs 0.69 nDCG@10). pg_textsearch's BM25 index (in the embedded
  server) scores the same and is much faster on long queries, but needs a schema change,
  keeps its corpus statistics across all tenants, and filters by tenant only after its
  index scan; not adopted (benchmarks/results/quality.md).
* **Fusion.** Weighted RRF ``Σ w_leg / (k + rank_leg)`` over 40 candidates per leg, k = 10,
  equal weights: chosen on SciFact *train* and the caller dev set together. SciFact train
  alone prefers k = 5 with the lexical leg at 1.25 (+0.01 nDCG@10) but that loses caller
  paraphrases, where the vector leg is the stronger one; the common k = 60 is lower on
  SciFact and no better on the dev set. The ``score`` returned is the sum divided by its maximum (rank 1 in every leg that
  ran), so it lies in 0..1.
* **Caller speech.** ``knowledge.querytext.normalize`` removes fillers and hedges. BM25's
  IDF and the embedding model already shrug most of them off (dev set hit@3 is the same
  with or without; MRR a little higher with); it is kept because filler variants of a
  question then share one cached embedding and the audit shows what was searched.
* Lexical-only search (embeddings off) returns only chunks that share a word with the
  query, so it can return fewer than ``top_k``.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction

from knowledge import embeddings, ingestion, models, querytext

logger = logging.getLogger(__name__)

MAX_TOP_K = 50
# Tenants with at most this many knowledge chunks are searched exactly (see module doc).
EXACT_SEARCH_MAX_CHUNKS = 5_000
COUNT_TTL_SECONDS = 60.0
POLICY_CACHE_SIZE = 1024


@dataclass(frozen=True)
class SearchConfig:
    """Knobs of the hybrid search; the defaults are the measured choice (benchmarks/)."""

    vector: bool = True
    lexical: bool = True
    candidates: int = 40  # rows taken from each leg before fusion
    rrf_k: float = 10.0
    vector_weight: float = 1.0
    lexical_weight: float = 1.0
    lexical_mode: str = "or"  # "or": any query term; "and": every term (for comparison)
    bm25_k1: float = 0.9
    bm25_b: float = 0.4
    title_weight: float = 2.0  # a title/heading occurrence counts this many times
    lexical_pool: int = 100  # chunks scored exactly by BM25 (0 = all that match a term)
    normalize_query: bool = True
    exact_max_chunks: int = EXACT_SEARCH_MAX_CHUNKS
    force_mode: str = ""  # "" (choose), "exact" or "hnsw" — for benchmarks and tests


DEFAULT_CONFIG = SearchConfig()


# --- results ---------------------------------------------------------------------------


@dataclass
class Hit:
    chunk_id: int
    document_id: int
    document_name: str
    chunk_index: int
    text: str
    score: float  # fused, 0..1
    heading: str = ""
    page: int | None = None
    vector_rank: int | None = None
    lexical_rank: int | None = None
    vector_similarity: float | None = None  # cosine similarity, when the vector leg found it
    lexical_score: float | None = None  # BM25, when the lexical leg found it

    def as_response(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "document_id": self.document_id,
            "document_name": self.document_name,
            "chunk_index": self.chunk_index,
            "text": self.text,
            "score": self.score,
        }

    def as_audit(self) -> dict[str, Any]:
        return {
            **self.as_response(),
            "heading": self.heading,
            "page": self.page,
            "vector_rank": self.vector_rank,
            "lexical_rank": self.lexical_rank,
            "vector_similarity": self.vector_similarity,
            "lexical_score": self.lexical_score,
        }


@dataclass(frozen=True)
class PolicyBlock:
    text: str = ""
    chunk_ids: tuple[int, ...] = ()
    truncated: bool = False

    def as_response(self) -> dict[str, Any]:
        return {"text": self.text, "chunk_ids": list(self.chunk_ids), "truncated": self.truncated}


EMPTY_POLICY = PolicyBlock()


@dataclass
class SearchOutcome:
    hits: list[Hit]
    legs: list[str]
    mode: str  # "exact" | "hnsw" | "" (no vector leg)
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class RetrievalResult:
    tenant: models.Tenant
    query: str
    normalized_query: str
    top_k: int
    retrieval_enabled: bool
    policy: PolicyBlock = EMPTY_POLICY
    knowledge: list[Hit] = field(default_factory=list)
    legs: list[str] = field(default_factory=list)
    embedding_model: str = ""
    flags: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    audit_id: int | None = None
    pending_audit: Callable[[], Any] | None = field(default=None, repr=False)

    def prompt(self) -> dict[str, str]:
        instructions = ""
        if self.policy.text:
            instructions = (
                f"Rules of {self.tenant.name} that you must always follow:\n{self.policy.text}"
            )
        context = ""
        if self.knowledge:
            parts = []
            for n, hit in enumerate(self.knowledge, start=1):
                source = hit.document_name + (f" — {hit.heading}" if hit.heading else "")
                parts.append(f"[{n}] ({source})\n{hit.text}")
            context = "Knowledge base excerpts, best match first:\n\n" + "\n\n".join(parts)
        return {"instructions": instructions, "context": context}

    def as_response(self) -> dict[str, Any]:
        """The DESIGN §5 response body."""
        return {
            "retrieval_enabled": self.retrieval_enabled,
            "tenant": self.tenant.slug,
            "query": self.query,
            "policy": self.policy.as_response(),
            "knowledge": [hit.as_response() for hit in self.knowledge],
            "prompt": self.prompt(),
            "audit_id": self.audit_id,
            "embedding_model": self.embedding_model,
            "timings_ms": self.timings_ms,
        }


# --- flags -----------------------------------------------------------------------------


def retrieval_enabled(tenant: models.Tenant) -> bool:
    """The tenant's override when set, else the global KB_RETRIEVAL_ENABLED."""
    if tenant.retrieval_enabled is not None:
        return bool(tenant.retrieval_enabled)
    return bool(settings.KB_RETRIEVAL_ENABLED)


# --- caches ----------------------------------------------------------------------------


class LRUCache:
    """A small thread-safe LRU map (runserver and gunicorn threads share it)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            try:
                value = self._data[key]
            except KeyError:
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        if self.maxsize <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


_query_vectors: LRUCache | None = None
_query_vectors_lock = threading.Lock()
_policy_blocks = LRUCache(POLICY_CACHE_SIZE)
_tenant_counts = LRUCache(4096)


def query_vector_cache() -> LRUCache:
    global _query_vectors
    size = int(settings.KB_QUERY_CACHE_SIZE)
    cache = _query_vectors
    if cache is None or cache.maxsize != size:
        with _query_vectors_lock:
            if _query_vectors is None or _query_vectors.maxsize != size:
                _query_vectors = LRUCache(size)
            cache = _query_vectors
    return cache


def clear_caches() -> None:
    """Forget every in-process cache (tests; a model switch needs nothing: keys hold the model)."""
    query_vector_cache().clear()
    _policy_blocks.clear()
    _tenant_counts.clear()


class QueryVector(NamedTuple):
    """A query embedding with its pgvector text form, built once: the cache keeps both, so a
    repeated question does not format 384 floats again (~0.13 ms)."""

    values: list[float]
    literal: str

    @classmethod
    def of(cls, values: Sequence[float]) -> QueryVector:
        return cls(list(values), embeddings.vector_literal(values))


def embed_query(provider: embeddings.EmbeddingProvider, text: str) -> tuple[QueryVector, bool]:
    """(vector, cache hit). Keyed by provider, model and normalised text: a model change
    can never serve a vector of the old model."""
    cache = query_vector_cache()
    key = (provider.name, provider.model, text)
    vector = cache.get(key)
    if vector is not None:
        return vector, True
    vector = QueryVector.of(provider.embed_query(text))
    cache.put(key, vector)
    return vector, False


# --- policy block ----------------------------------------------------------------------

POLICY_SQL = """
SELECT c.id, c.document_id, c.heading, c.text
FROM knowledge_chunk c
JOIN knowledge_document d ON d.id = c.document_id AND d.tenant_id = c.tenant_id
WHERE c.tenant_id = %s AND c.kind = 'policy' AND c.scope = 'tenant'
ORDER BY d.created_at, d.id, c.chunk_index
"""


def policy_max_chars(tenant: models.Tenant) -> int:
    return int(tenant.policy_max_chars or settings.KB_POLICY_MAX_CHARS)


def policy_block(tenant: models.Tenant) -> tuple[PolicyBlock, bool]:
    """(block, cache hit). Cached per (tenant id, policy_version, cap)."""
    cap = policy_max_chars(tenant)
    key = (tenant.pk, tenant.policy_version, cap)
    block = _policy_blocks.get(key)
    if block is not None:
        return block, True
    with connection.cursor() as cur:
        cur.execute(POLICY_SQL, [tenant.pk])
        rows = cur.fetchall()
    block = build_policy_block(rows, cap)
    _policy_blocks.put(key, block)
    return block, False


def _strip_overlap(previous: str, text: str, limit: int = 400) -> str:
    """Drop the start of ``text`` that repeats the end of ``previous`` (chunk overlap)."""
    longest = min(len(previous), len(text), limit)
    for size in range(longest, 19, -1):
        if previous.endswith(text[:size]):
            return text[size:].lstrip()
    return text


def _cut(text: str, cap: int, *, words: bool) -> str:
    """``text`` cut to at most ``cap`` characters at the last paragraph, sentence or line end
    (a rule cut mid-sentence can say the opposite of the rule); at a word boundary only
    when ``words`` is set. "" when no such boundary fits."""
    if len(text) <= cap:
        return text
    head = text[: cap + 1]
    # The latest paragraph, sentence or line end that fits; a word boundary as last resort.
    ends = [m.start() for m in re.finditer(r"\n", head)]
    ends += [m.end() for m in re.finditer(r"[.!?;](?=\s)", head)]
    ends = [end for end in ends if 0 < end <= cap]
    if ends:
        return head[: max(ends)].rstrip()
    if words:
        spaces = [m.start() for m in re.finditer(r"\s", head) if 0 < m.start() <= cap]
        return head[: max(spaces)].rstrip() if spaces else head[:cap].rstrip()
    return ""


def build_policy_block(rows: list[tuple[int, int, str, str]], cap: int) -> PolicyBlock:
    """Join policy chunks (id, document id, heading, text) in order, without the overlap
    between consecutive chunks, with a heading line when the heading changes; cap it."""
    parts: list[str] = []
    ids: list[int] = []
    length = 0
    truncated = False
    prev_doc: int | None = None
    prev_heading = ""
    prev_text = ""
    for chunk_id, document_id, heading, text in rows:
        same_doc = document_id == prev_doc
        body = (_strip_overlap(prev_text, text) if same_doc else text).strip()
        heading = (heading or "").strip()
        lead = f"{heading}:\n" if heading and (heading != prev_heading or not same_doc) else ""
        prev_doc, prev_heading, prev_text = document_id, heading, text
        if not body:
            continue
        piece = lead + body
        sep = "\n\n" if parts else ""
        if length + len(sep) + len(piece) > cap:
            room = cap - length - len(sep) - len(lead)
            cut = _cut(body, room, words=not parts) if room > 0 else ""
            if cut:
                parts.append(sep + lead + cut)
                ids.append(chunk_id)
            truncated = True
            break
        parts.append(sep + piece)
        ids.append(chunk_id)
        length += len(sep) + len(piece)
    return PolicyBlock(text="".join(parts), chunk_ids=tuple(ids), truncated=truncated)


# --- search ----------------------------------------------------------------------------

_LEXICAL_CLEAN = re.compile(r"[^\w\s]+|_", re.UNICODE)


def lexical_text(query: str) -> str:
    """The query for plainto/websearch_to_tsquery: words only (no tsquery syntax can get
    through, and hyphenated words become separate terms)."""
    return " ".join(_LEXICAL_CLEAN.sub(" ", query).split())


_SCOPE_SQL = "(c.scope = 'tenant' OR c.owner_id = %(user)s)"


def _vector_cte(dim: int, exact: bool) -> str:
    if exact:
        # No cast: the HNSW expression index cannot serve this, so the planner takes the
        # tenant's rows from the btree and sorts them by exact distance.
        dist = "c.embedding <=> %(qvec)s::vector"
    else:
        dist = f"(c.embedding::vector({dim})) <=> %(qvec)s::vector({dim})"
    return f"""
vec AS MATERIALIZED (
  SELECT id, dist, row_number() OVER (ORDER BY dist, id) AS rnk FROM (
    SELECT c.id, {dist} AS dist
    FROM knowledge_chunk c
    WHERE c.tenant_id = %(tenant)s AND c.kind = 'knowledge' AND c.embedding_dim = {dim:d}
      AND c.embedding_model = %(model)s AND {_SCOPE_SQL}
    ORDER BY {dist}
    LIMIT %(n)s
  ) v
)"""  # noqa: S608 - only an int and fixed SQL fragments are interpolated


def _lexical_cte(config: SearchConfig) -> str:
    """Okapi BM25 over the tenant's chunks, computed from ``search_vector``, in two steps so
    that its cost does not grow with every chunk that shares a common word:

    1. For each query term, the tenant's chunks holding it, from the GIN index alone (no
       ``search_vector`` is read: a TOASTed tsvector costs ~15 µs to fetch). The term is
       ANDed with the tenant's own lexeme (migration 0004), so the index walks this
       tenant's postings, not every tenant's. That gives
       each term's document frequency, hence its IDF — the tenant's own, never other
       tenants' — and for each chunk the IDF sum of the terms it holds, an upper bound of
       its score up to tf saturation. Document length is the text's stored length
       (``octet_length`` reads the TOAST header, not the value); ``avgdl`` is its mean
       over these chunks, N the tenant's chunk count.
    2. The ``lexical_pool`` best chunks by that bound (shorter first on ties) are scored
       exactly: term frequency from ``ts_rank_cd`` of a one-term query with weights that
       make it count positions, a title/heading (weight A) occurrence counting
       ``title_weight`` times.

    With ``lexical_pool`` = 0 every matching chunk is scored exactly (step 2 only).
    """
    wa = max(1.0, float(config.title_weight))
    weights = "{" + ",".join(f"{w:g}" for w in (1 / wa, 1 / wa, 1 / wa, 1.0)) + "}"
    k1 = float(config.bm25_k1)
    b = float(config.bm25_b)
    pool = int(config.lexical_pool)
    # quote_literal is safe: lexical_text() leaves only word characters in the query.
    return f"""
tq AS (SELECT DISTINCT lexeme AS lx, quote_literal(lexeme)::tsquery AS q
       FROM unnest(to_tsvector('english', %(lex)s))),
lpost AS MATERIALIZED (
  SELECT tq.lx, c.id, octet_length(c.text)::float8 AS dl
  FROM tq JOIN knowledge_chunk c ON c.search_vector @@ (tq.q && kb_tenant_tsquery(%(tenant)s))
  WHERE c.tenant_id = %(tenant)s AND c.kind = 'knowledge' AND {_SCOPE_SQL}
),
lidf AS (
  SELECT lx, ln(1 + (GREATEST(%(ndocs)s::float8 - count(*), 0) + 0.5) / (count(*) + 0.5)) AS idf
  FROM lpost GROUP BY lx
),
lst AS (SELECT avg(dl) AS avgdl FROM (SELECT DISTINCT id, dl FROM lpost) d),
lpool AS MATERIALIZED (
  SELECT lpost.id, max(lpost.dl) AS dl
  FROM lpost JOIN lidf USING (lx)
  GROUP BY lpost.id
  {"HAVING count(*) = (SELECT count(*) FROM tq)" if config.lexical_mode == "and" else ""}
  ORDER BY sum(lidf.idf) DESC, max(lpost.dl), lpost.id
  {f"LIMIT GREATEST({pool:d}, %(n)s)" if pool > 0 else ""}
),
lcand AS MATERIALIZED (
  SELECT c.id, lpool.dl, c.search_vector || ''::tsvector AS sv
  FROM lpool JOIN knowledge_chunk c ON c.id = lpool.id
),
ltf AS (
  SELECT lcand.id, lcand.dl, tq.lx, {wa:g} * ts_rank_cd('{weights}'::float4[], lcand.sv, tq.q, 0)::float8 AS f
  FROM lcand CROSS JOIN tq
  WHERE lcand.sv @@ tq.q
),
lex AS MATERIALIZED (
  SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rnk FROM (
    SELECT ltf.id,
           sum(lidf.idf * ltf.f * {k1 + 1:g} / (ltf.f + {k1:g} * (1 - {b:g} + {b:g} * ltf.dl / lst.avgdl))) AS score
    FROM ltf JOIN lidf USING (lx) CROSS JOIN lst
    GROUP BY ltf.id
    ORDER BY score DESC, ltf.id
    LIMIT %(n)s
  ) l
)"""  # noqa: S608 - only numbers and fixed SQL fragments are interpolated


def vector_leg_sql(dim: int, *, exact: bool) -> str:
    """The vector leg alone: (id, rank, distance) of the tenant's nearest chunks."""
    return "WITH " + _vector_cte(dim, exact) + " SELECT id, rnk, dist FROM vec"  # noqa: S608


def lexical_leg_sql(config: SearchConfig) -> str:
    """The lexical leg alone: (id, rank, BM25 score) of the tenant's best chunks."""
    return "WITH " + _lexical_cte(config) + " SELECT id, rnk, score FROM lex"  # noqa: S608


_TEXT_SQL = """
SELECT c.id, c.document_id, d.name, c.chunk_index, c.text, c.heading, c.page
FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id
WHERE c.id = ANY(%(ids)s) AND c.tenant_id = %(tenant)s AND d.tenant_id = %(tenant)s
"""


def tenant_chunk_count(tenant_id: int) -> int:
    """The tenant's knowledge chunk count (index-only count on ``(tenant, kind)``), cached
    in-process for COUNT_TTL_SECONDS. Used for BM25's N and to choose exact vs HNSW search;
    a stale value only costs speed or a little IDF precision, never correctness."""
    cached = _tenant_counts.get(tenant_id)
    now = time.monotonic()
    if cached is not None and cached[1] > now:
        return int(cached[0])
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM knowledge_chunk WHERE tenant_id = %s AND kind = 'knowledge'", [tenant_id])
        row = cur.fetchone()
    count = int(row[0]) if row else 0
    _tenant_counts.put(tenant_id, (count, now + COUNT_TTL_SECONDS))
    return count


def _hnsw_settings(candidates: int, tenant_chunks: int) -> str:
    ef = max(40, candidates)
    # Iterative scans stop after max_scan_tuples; scale it with how rare the tenant's rows
    # are in the index (bounded: beyond that the exact fallback takes over).
    total = _table_estimate()
    share = tenant_chunks / total if total else 1.0
    max_scan = int(min(200_000, max(20_000, candidates / max(share, 1e-6) * 4)))
    return (
        f"SET LOCAL hnsw.ef_search = {ef:d}; SET LOCAL hnsw.iterative_scan = relaxed_order; "
        f"SET LOCAL hnsw.max_scan_tuples = {max_scan:d}"
    )


_table_estimate_cache: list[float] = [0.0, 0.0]  # [value, expires]


def _table_estimate() -> int:
    """The planner's row estimate for the chunk table (no scan), refreshed every minute."""
    now = time.monotonic()
    if _table_estimate_cache[1] > now:
        return int(_table_estimate_cache[0])
    with connection.cursor() as cur:
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'knowledge_chunk'::regclass")
        row = cur.fetchone()
    value = max(0.0, float(row[0])) if row else 0.0
    _table_estimate_cache[:] = [value, now + COUNT_TTL_SECONDS]
    return int(value)


# --- running the legs --------------------------------------------------------------------
#
# The two legs are independent and each costs a few ms of PostgreSQL CPU, so with a spare
# core they run at once: the vector leg on a second connection (owned by a small pool of
# threads), the lexical leg on the request's own. Then the weighted RRF is computed here
# and the winners' texts are read in one more statement. Only outside a transaction: the
# second connection cannot see rows that the request's open transaction has not committed
# (tests run in one, so they run the legs one after the other on one connection unless
# they ask otherwise). With every pool thread busy, or KB_SEARCH_PARALLEL=0, the legs also
# run one after the other: a request never queues behind another request's leg.

SEARCH_THREADS = 4  # as many as one gunicorn worker's request threads (kb_serve --threads)
_pool: list[Any] = [None, 0]  # [executor, pid that made it]
_pool_lock = threading.Lock()
_pool_slots = threading.BoundedSemaphore(SEARCH_THREADS)
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
    if not _pool_slots.acquire(blocking=False):
        return None
    try:
        future = _executor().submit(_on_side_connection, leg)
    except BaseException:
        _pool_slots.release()
        raise
    future.add_done_callback(lambda _: _pool_slots.release())
    return future


def _fetch(sql: str, params: dict[str, Any]) -> list[Any]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _vector_leg(
    *, dim: int, mode: str, params: dict[str, Any], config: SearchConfig, count: int
) -> tuple[list[Any], str]:
    """(rows, mode used) on the calling thread's connection. An index scan that comes back
    with fewer rows than the tenant could give (its chunks are rare in the graph) is rerun
    exactly, which always returns top_k when the tenant has them."""
    n = int(params["n"])
    if mode == "hnsw":
        # SET LOCAL needs a transaction; the exact leg is one autocommit statement.
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(_hnsw_settings(n, count))
            cur.execute(vector_leg_sql(dim, exact=False), params)
            rows = cur.fetchall()
        if config.force_mode or len(rows) >= min(n, count):
            return rows, "hnsw"
    return _fetch(vector_leg_sql(dim, exact=True), params), "exact"


def _fuse(
    vec_rows: list[Any], lex_rows: list[Any], *, top_k: int, config: SearchConfig
) -> list[tuple[int, float, int | None, int | None, float | None, float | None]]:
    """Weighted RRF ``Σ w_leg / (k + rank_leg)``: the best ``top_k`` as (id, rrf, vector
    rank, lexical rank, distance, BM25), best first; ties go to the better vector rank,
    then the better lexical rank."""
    k, wv, wl = float(config.rrf_k), float(config.vector_weight), float(config.lexical_weight)
    fused: dict[int, list[Any]] = {}  # id -> [rrf, vrank, lrank, dist, lscore]
    for chunk_id, rank, dist in vec_rows:
        fused[chunk_id] = [wv / (k + rank), rank, None, dist, None]
    for chunk_id, rank, score in lex_rows:
        entry = fused.setdefault(chunk_id, [0.0, None, None, None, None])
        entry[0] += wl / (k + rank)
        entry[2], entry[4] = rank, score
    ranked = sorted(
        fused.items(), key=lambda item: (-item[1][0], item[1][1] or 1_000_000, item[1][2] or 1_000_000)
    )
    return [(chunk_id, *values) for chunk_id, values in ranked[:top_k]]  # type: ignore[misc]


def _hits(
    fused: list[tuple[int, float, int | None, int | None, float | None, float | None]],
    *, tenant_id: int, legs: list[str], config: SearchConfig,
) -> list[Hit]:
    """The fused chunks with their texts (one statement). ``score`` is the RRF sum divided by
    its maximum (rank 1 in every leg that ran), so it lies in 0..1."""
    if not fused:
        return []
    texts = {row[0]: row for row in _fetch(_TEXT_SQL, {"ids": [row[0] for row in fused], "tenant": tenant_id})}
    best = (config.vector_weight if "vector" in legs else 0.0) + (config.lexical_weight if "lexical" in legs else 0.0)
    best /= config.rrf_k + 1
    hits = []
    for chunk_id, rrf, vrank, lrank, dist, lscore in fused:
        if chunk_id not in texts:  # deleted since the legs ran
            continue
        _, doc_id, name, index, text, heading, page = texts[chunk_id]
        hits.append(Hit(
            chunk_id=chunk_id, document_id=doc_id, document_name=name, chunk_index=index, text=text,
            score=round(rrf / best, 4) if best else 0.0, heading=heading or "", page=page,
            vector_rank=int(vrank) if vrank is not None else None,
            lexical_rank=int(lrank) if lrank is not None else None,
            vector_similarity=round(1.0 - float(dist), 4) if dist is not None else None,
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
    config: SearchConfig = DEFAULT_CONFIG,
) -> SearchOutcome:
    """Hybrid search over one tenant's knowledge chunks. ``query`` is the (normalised) text
    for the lexical leg; ``vector`` the query embedding of ``model`` ("provider:model"), or
    None for lexical only. The legs run at once when they can (see above), then one
    statement reads the winners' texts."""
    started = time.perf_counter()
    lex = lexical_text(query) if config.lexical else ""
    use_lexical = bool(lex)
    use_vector = vector is not None and config.vector and bool(model)
    legs = (["vector"] if use_vector else []) + (["lexical"] if use_lexical else [])
    if not legs:
        return SearchOutcome(hits=[], legs=[], mode="", timings_ms={"search": 0.0})
    count = tenant_chunk_count(tenant_id)
    params: dict[str, Any] = {
        "tenant": tenant_id, "user": user_id, "lex": lex, "model": model,
        "n": max(config.candidates, top_k), "ndocs": count,
    }
    mode = ""
    vector_leg: Callable[[], tuple[list[Any], str]] | None = None
    side: Future[Any] | None = None
    if use_vector and vector is not None:
        query_vector = vector if isinstance(vector, QueryVector) else QueryVector.of(vector)
        params["qvec"] = query_vector.literal
        mode = config.force_mode or ("exact" if count <= config.exact_max_chunks else "hnsw")
        vector_leg = functools.partial(
            _vector_leg, dim=len(query_vector.values), mode=mode, params=params, config=config, count=count
        )
        side = _start_on_side(vector_leg) if use_lexical else None
    lex_rows = _fetch(lexical_leg_sql(config), params) if use_lexical else []
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
    fused = _fuse(vec_rows, lex_rows, top_k=top_k, config=config)
    return SearchOutcome(
        hits=_hits(fused, tenant_id=tenant_id, legs=legs, config=config), legs=legs, mode=mode,
        timings_ms={"search": round((time.perf_counter() - started) * 1000, 2)},
    )


# --- the entry point -------------------------------------------------------------------


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


def retrieve(
    *,
    tenant: models.Tenant,
    query: str,
    top_k: int = 5,
    session_id: str = "",
    caller: str = "",
    source: str = "api",
    api_key: models.ApiKey | None = None,
    user: Any = None,
    is_test: bool = False,
    config: SearchConfig = DEFAULT_CONFIG,
    defer_audit: bool = False,
) -> RetrievalResult:
    """The context bundle for one caller turn, audited. See the module docstring.

    With ``defer_audit`` the audit row's id is reserved now (``result.audit_id``) and the
    row itself is written by ``write_audit(result)``, which the API calls after the
    response has gone to the caller; otherwise it is written before returning.
    """
    from audit import services as audit_services

    def record(result: RetrievalResult) -> None:
        write = functools.partial(
            audit_services.recall_record, result=result, source=source, session_id=session_id,
            caller=caller, api_key=api_key, user_id=user_id, is_test=is_test,
        )
        if defer_audit:
            result.audit_id = audit_services.recall_reserve_id()
            result.pending_audit = functools.partial(write, recall_id=result.audit_id)
        else:
            result.audit_id = write()

    started = time.perf_counter()
    top_k = max(1, min(int(top_k), MAX_TOP_K))
    query = query.strip()
    enabled = retrieval_enabled(tenant)
    flags: dict[str, Any] = {
        "retrieval_enabled": enabled,
        "retrieval_enabled_source": "tenant" if tenant.retrieval_enabled is not None else "global",
    }
    result = RetrievalResult(
        tenant=tenant, query=query, normalized_query="", top_k=top_k, retrieval_enabled=enabled, flags=flags,
    )
    user_id = getattr(user, "pk", None) if user is not None and getattr(user, "is_authenticated", False) else None
    if not enabled:
        # No knowledge-base query at all; the call is still audited.
        result.timings_ms = {"embed": 0.0, "search": 0.0, "total": _ms(started)}
        audit_started = time.perf_counter()
        record(result)
        result.timings_ms["audit"] = _ms(audit_started)
        return result

    normalized = querytext.normalize(query) if config.normalize_query else query
    result.normalized_query = normalized

    timings: dict[str, float] = {}
    vector: QueryVector | None = None
    model_key = ""
    flags["embeddings_enabled"] = ingestion.embeddings_enabled(tenant)
    t = time.perf_counter()
    if flags["embeddings_enabled"] and config.vector and normalized:
        try:
            provider = embeddings.get_provider()
            vector, hit = embed_query(provider, normalized)
            model_key = f"{provider.name}:{provider.model}"
            result.embedding_model = provider.model
            flags["query_cache"] = "hit" if hit else "miss"
        except embeddings.EmbeddingError as exc:
            # The caller is on the line: answer from the lexical leg rather than fail.
            logger.warning("query embedding failed, lexical only: %s", exc.reason)
            flags["vector_error"] = exc.reason
    timings["embed"] = _ms(t)

    t = time.perf_counter()
    policy, policy_hit = policy_block(tenant)
    timings["policy"] = _ms(t)
    flags["policy_cache"] = "hit" if policy_hit else "miss"
    outcome = search(
        tenant_id=tenant.pk, query=normalized, vector=vector, model=model_key, top_k=top_k,
        user_id=user_id, config=config,
    )
    flags["vector_search"] = outcome.mode
    result.policy = policy
    result.knowledge = outcome.hits
    result.legs = outcome.legs
    result.timings_ms = {"embed": timings["embed"], "search": outcome.timings_ms["search"],
                         "policy": timings["policy"], "total": _ms(started)}
    t = time.perf_counter()
    record(result)
    result.timings_ms["audit"] = _ms(t)
    result.timings_ms["total"] = _ms(started)
    return result


def write_audit(result: RetrievalResult, *, extra_timings: dict[str, float] | None = None) -> None:
    """Write a deferred audit row (see ``retrieve(defer_audit=True)``); a no-op otherwise."""
    pending = result.pending_audit
    if pending is None:
        return
    result.pending_audit = None
    if extra_timings:
        result.timings_ms.update(extra_timings)
    pending()


def with_config(**changes: Any) -> SearchConfig:
    return replace(DEFAULT_CONFIG, **changes)
