"""Knobs of the hybrid search.

``SearchConfig`` holds the knobs of the production search; its defaults are the measured
choice (``benchmarks/``). It is a plain frozen dataclass so a benchmark or a tuning helper
can pass another one explicitly (``retrieve(config=…)``, ``search(config=…)``).

``Probe`` holds what only benchmarks and tests switch: turning a leg off, the AND form of
the lexical query (for comparison), forcing the exact or the HNSW path. Production code
never builds one; the default probe changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

MAX_TOP_K = 50
# Tenants with at most this many knowledge chunks are searched exactly (see hybrid.py).
EXACT_SEARCH_MAX_CHUNKS = 5_000


@dataclass(frozen=True)
class SearchConfig:
    """Knobs of the hybrid search; the defaults are the measured choice (benchmarks/)."""

    candidates: int = 40  # rows taken from each leg before fusion
    rrf_k: float = 10.0
    vector_weight: float = 1.0
    lexical_weight: float = 1.0
    # A lexical candidate's vote is lexical_weight × min(1, coverage / lexical_full_coverage)
    # ** lexical_coverage_power, coverage being the IDF-weighted share of the query's terms
    # the chunk holds (0..1). A chunk that shares one common word with a paraphrased question
    # then no longer outvotes the vector leg; one holding most of the query keeps its full
    # weight. Only when both legs ran. Power 0 = plain RRF. Chosen on the caller tune half
    # and SciFact train together (benchmarks/results/quality.md).
    lexical_coverage_power: float = 1.0
    lexical_full_coverage: float = 0.75
    bm25_k1: float = 0.9
    bm25_b: float = 0.4
    title_weight: float = 2.0  # a title/heading occurrence counts this many times
    lexical_pool: int = 100  # chunks scored exactly by BM25 (0 = all that match a term)
    exact_max_chunks: int = EXACT_SEARCH_MAX_CHUNKS


DEFAULT_CONFIG = SearchConfig()


@dataclass(frozen=True)
class Probe:
    """Benchmark and test switches (never set by production code)."""

    vector: bool = True  # False: no vector leg
    lexical: bool = True  # False: no lexical leg
    lexical_all_terms: bool = False  # True: a chunk must hold every query term (AND)
    normalize_query: bool = True  # False: search the words as given (retrieve() only)
    vector_mode: Literal["", "exact", "hnsw"] = ""  # "": chosen by the tenant's size


DEFAULT_PROBE = Probe()


def with_config(**changes: Any) -> SearchConfig:
    """The default config with ``changes`` (benchmarks)."""
    return replace(DEFAULT_CONFIG, **changes)


def probe(**changes: Any) -> Probe:
    """The default probe with ``changes`` (benchmarks and tests)."""
    return replace(DEFAULT_PROBE, **changes)


def split_config(**changes: Any) -> tuple[SearchConfig, Probe]:
    """``(config, probe)`` from one set of changes (benchmarks): each key goes to the
    dataclass that has it."""
    probe_fields = set(Probe.__dataclass_fields__)
    return (
        with_config(**{k: v for k, v in changes.items() if k not in probe_fields}),
        probe(**{k: v for k, v in changes.items() if k in probe_fields}),
    )
