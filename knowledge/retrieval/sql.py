"""The search's SQL, as text: pure functions of the knobs (no ORM, no settings, no I/O).

Every statement filters by tenant (``%(tenant)s``) and by scope/owner (``%(user)s``) inside
the SQL, and ANDs the caller's extra predicate (``where``, e.g. Dify's metadata filter,
built by ``knowledge.dify``) inside each leg, before any LIMIT — so a filter can never lose
matching chunks to a cut taken before it. The chunk table is aliased ``c`` in every place a
predicate is ANDed.
"""

from __future__ import annotations

import re

from knowledge.retrieval.config import SearchConfig

_LEXICAL_CLEAN = re.compile(r"[^\w\s]+|_", re.UNICODE)

# Who sees what (DESIGN §5), and only connections that are `active` (a connection that needs
# re-authorisation or was revoked contributes nothing from that moment). The table is named,
# not imported: knowledge never imports the connections app.
LIVE_SOURCE_SQL = (
    "(c.connection_id IS NULL OR c.connection_id IN "
    "(SELECT cc.id FROM connections_connection cc WHERE cc.tenant_id = %(tenant)s AND cc.status = 'active'))"
)
SCOPE_SQL = f"(c.scope = 'tenant' OR c.owner_id = %(user)s) AND {LIVE_SOURCE_SQL}"


def lexical_text(query: str) -> str:
    """The query for to_tsvector: words only (no tsquery syntax can get through, and
    hyphenated words become separate terms)."""
    return " ".join(_LEXICAL_CLEAN.sub(" ", query).split())


def _and(where: str) -> str:
    return f" AND ({where})" if where else ""


def _vector_cte(dim: int, *, exact: bool, where: str) -> str:
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
      AND c.embedding_model = %(model)s AND {SCOPE_SQL}{_and(where)}
    ORDER BY {dist}
    LIMIT %(n)s
  ) v
)"""  # noqa: S608 - only an int and fixed SQL fragments are interpolated


def _lexical_cte(config: SearchConfig, *, all_terms: bool, where: str) -> str:
    """Okapi BM25 over the tenant's chunks, computed from ``search_vector``, in two steps so
    that its cost does not grow with every chunk that shares a common word:

    1. For each query term, the tenant's chunks holding it, from the GIN index alone (no
       ``search_vector`` is read: a TOASTed tsvector costs ~15 µs to fetch). The term is
       ANDed with the tenant's own lexeme (migration 0004), so the index walks this
       tenant's postings, not every tenant's. That gives each term's document frequency,
       hence its IDF — the tenant's own, never other tenants' — and for each chunk the IDF
       sum of the terms it holds, an upper bound of its score up to tf saturation.
       Document length is the text's stored length (``octet_length`` reads the TOAST
       header, not the value); ``avgdl`` is its mean over these chunks, N the tenant's
       chunk count.
    2. The ``lexical_pool`` best chunks by that bound (shorter first on ties) are scored
       exactly: term frequency from ``ts_rank_cd`` of a one-term query with weights that
       make it count positions, a title/heading (weight A) occurrence counting
       ``title_weight`` times.

    With ``lexical_pool`` = 0 every matching chunk is scored exactly (step 2 only). ``cov``
    is the IDF-weighted share of the query's terms a chunk holds (0..1): the lexical
    relevance when there is no vector.
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
  WHERE c.tenant_id = %(tenant)s AND c.kind = 'knowledge' AND {SCOPE_SQL}{_and(where)}
),
lidf AS (
  SELECT lx, ln(1 + (GREATEST(%(ndocs)s::float8 - count(*), 0) + 0.5) / (count(*) + 0.5)) AS idf
  FROM lpost GROUP BY lx
),
ltot AS (
  SELECT sum(COALESCE(lidf.idf, ln(1 + (%(ndocs)s::float8 + 0.5) / 0.5))) AS total
  FROM tq LEFT JOIN lidf USING (lx)
),
lst AS (SELECT avg(dl) AS avgdl FROM (SELECT DISTINCT id, dl FROM lpost) d),
lpool AS MATERIALIZED (
  SELECT lpost.id, max(lpost.dl) AS dl
  FROM lpost JOIN lidf USING (lx)
  GROUP BY lpost.id
  {"HAVING count(*) = (SELECT count(*) FROM tq)" if all_terms else ""}
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
  SELECT id, score, cov, row_number() OVER (ORDER BY score DESC, id) AS rnk FROM (
    SELECT ltf.id,
           sum(lidf.idf * ltf.f * {k1 + 1:g} / (ltf.f + {k1:g} * (1 - {b:g} + {b:g} * ltf.dl / lst.avgdl))) AS score,
           sum(lidf.idf) / NULLIF(max(ltot.total), 0) AS cov
    FROM ltf JOIN lidf USING (lx) CROSS JOIN lst CROSS JOIN ltot
    GROUP BY ltf.id
    ORDER BY score DESC, ltf.id
    LIMIT %(n)s
  ) l
)"""  # noqa: S608 - only numbers and fixed SQL fragments are interpolated


def vector_leg_sql(dim: int, *, exact: bool, where: str = "") -> str:
    """The vector leg alone: (id, rank, distance) of the tenant's nearest chunks."""
    return "WITH " + _vector_cte(dim, exact=exact, where=where) + " SELECT id, rnk, dist FROM vec"  # noqa: S608


def lexical_leg_sql(config: SearchConfig, *, all_terms: bool = False, where: str = "") -> str:
    """The lexical leg alone: (id, rank, BM25 score, term coverage) of the tenant's best chunks."""
    return "WITH " + _lexical_cte(config, all_terms=all_terms, where=where) + " SELECT id, rnk, score, cov FROM lex"  # noqa: S608


def texts_sql(*, with_similarity: bool) -> str:
    """The winners' texts (and, given the query vector, each one's cosine similarity to it:
    a chunk found by the lexical leg alone gets one too, in the same statement)."""
    similarity = (
        "CASE WHEN c.embedding_model = %(model)s AND c.embedding_dim = %(dim)s "
        "THEN 1 - (c.embedding <=> %(qvec)s::vector) END"
        if with_similarity else "NULL::float8"
    )
    return f"""
SELECT c.id, c.document_id, d.name, c.chunk_index, c.text, c.heading, c.page, {similarity}
FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id
WHERE c.id = ANY(%(ids)s) AND c.tenant_id = %(tenant)s AND d.tenant_id = %(tenant)s
"""  # noqa: S608 - fixed SQL fragments only


def hnsw_settings(*, candidates: int, tenant_chunks: int, table_rows: int) -> str:
    """``SET LOCAL`` statements for an HNSW leg with pgvector 0.8 iterative scans."""
    ef = max(40, candidates)
    # Iterative scans stop after max_scan_tuples; scale it with how rare the tenant's rows
    # are in the index (bounded: beyond that the exact fallback takes over).
    share = tenant_chunks / table_rows if table_rows else 1.0
    max_scan = int(min(200_000, max(20_000, candidates / max(share, 1e-6) * 4)))
    return (
        f"SET LOCAL hnsw.ef_search = {ef:d}; SET LOCAL hnsw.iterative_scan = relaxed_order; "
        f"SET LOCAL hnsw.max_scan_tuples = {max_scan:d}"
    )
