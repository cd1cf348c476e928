"""Retrieval: the context bundle the voice router asks for on every caller turn (DESIGN §5).

Contract of this package:

* ``retrieve(tenant=…, query=…, top_k=…)`` is the one entry point — used by
  ``POST /api/v1/retrieve``, the Dify endpoint and the browser's retrieval test page. It
  reads only the tenant's data (``WHERE tenant_id = …`` and the scope/owner rule inside
  every statement), runs no knowledge-base query when retrieval is off for the tenant, and
  has every call audited through the recorder the audit app registers (``recording``), or
  raises ``AuditUnavailable``. ``result.response()`` is the §5 body (``schemas``).
* ``search(…)`` is the hybrid search alone (benchmarks). ``SearchConfig`` holds the
  production knobs; ``Probe`` the benchmark/test switches; both are passed explicitly.

One module per concern: ``config`` (knobs), ``schemas`` (the §5 response, defined once),
``policy`` (policy block), ``sql`` (the search's SQL, pure), ``hybrid`` (legs, pool,
fusion), ``relevance`` (absolute scores), ``caches``, ``prompt`` (framing of the prompt
pieces), ``recording`` (the audit hook) and ``entry`` (``retrieve``).
"""

from knowledge.retrieval.caches import (
    QueryVector,
    clear_caches,
    embed_query,
    query_vector_cache,
    tenant_chunk_count,
)
from knowledge.retrieval.config import (
    DEFAULT_CONFIG,
    DEFAULT_PROBE,
    EXACT_SEARCH_MAX_CHUNKS,
    MAX_TOP_K,
    Probe,
    SearchConfig,
    probe,
    split_config,
    with_config,
)
from knowledge.retrieval.entry import RetrievalResult, retrieve, write_audit
from knowledge.retrieval.hybrid import (
    SEARCH_THREADS,
    SearchOutcome,
    SqlFilter,
    close_search_connections,
    search,
)
from knowledge.retrieval.policy import build_policy_block, policy_block
from knowledge.retrieval.recording import AuditUnavailable
from knowledge.retrieval.schemas import (
    EMPTY_POLICY,
    Hit,
    KnowledgeOut,
    PolicyBlock,
    PolicyOut,
    RetrieveOut,
)
from knowledge.retrieval.sql import lexical_leg_sql, lexical_text, vector_leg_sql

__all__ = [
    "DEFAULT_CONFIG", "DEFAULT_PROBE", "EMPTY_POLICY", "EXACT_SEARCH_MAX_CHUNKS", "MAX_TOP_K", "SEARCH_THREADS",
    "AuditUnavailable", "Hit", "KnowledgeOut", "PolicyBlock", "PolicyOut", "Probe", "QueryVector",
    "RetrievalResult", "RetrieveOut", "SearchConfig", "SearchOutcome", "SqlFilter",
    "build_policy_block", "clear_caches", "close_search_connections", "embed_query", "lexical_leg_sql",
    "lexical_text", "policy_block", "probe", "query_vector_cache", "retrieve", "search", "split_config", "tenant_chunk_count",
    "vector_leg_sql", "with_config", "write_audit",
]
