"""In-process caches of the retrieval hot path: query embeddings (LRU per provider, model
and normalised text), policy blocks (per tenant, ``policy_version`` and cap), tenant chunk
counts and the table's row estimate (short TTLs). A model switch needs no flush: every key
holds the model. ``clear_caches()`` forgets everything (tests)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection

from knowledge import embeddings

COUNT_TTL_SECONDS = 60.0
POLICY_CACHE_SIZE = 1024


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
policy_blocks = LRUCache(POLICY_CACHE_SIZE)
tenant_counts = LRUCache(4096)
_table_estimate: list[float] = [0.0, 0.0]  # [value, expires]


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
    policy_blocks.clear()
    tenant_counts.clear()
    _table_estimate[:] = [0.0, 0.0]


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


def set_tenant_count(tenant_id: int, count: int) -> None:
    """Pretend the tenant holds ``count`` chunks for a minute (tests of the HNSW path)."""
    tenant_counts.put(tenant_id, (count, time.monotonic() + COUNT_TTL_SECONDS))


def tenant_chunk_count(tenant_id: int) -> int:
    """The tenant's knowledge chunk count (index-only count on ``(tenant, kind)``), cached
    in-process for COUNT_TTL_SECONDS. Used for BM25's N and to choose exact vs HNSW search;
    a stale value only costs speed or a little IDF precision, never correctness."""
    cached = tenant_counts.get(tenant_id)
    now = time.monotonic()
    if cached is not None and cached[1] > now:
        return int(cached[0])
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM knowledge_chunk WHERE tenant_id = %s AND kind = 'knowledge'", [tenant_id])
        row = cur.fetchone()
    count = int(row[0]) if row else 0
    tenant_counts.put(tenant_id, (count, now + COUNT_TTL_SECONDS))
    return count


def table_estimate() -> int:
    """The planner's row estimate for the chunk table (no scan), refreshed every minute."""
    now = time.monotonic()
    if _table_estimate[1] > now:
        return int(_table_estimate[0])
    with connection.cursor() as cur:
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'knowledge_chunk'::regclass")
        row = cur.fetchone()
    value = max(0.0, float(row[0])) if row else 0.0
    _table_estimate[:] = [value, now + COUNT_TTL_SECONDS]
    return int(value)
