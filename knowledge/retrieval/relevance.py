"""``relevance``: how well a chunk answers the query on an absolute 0..1 scale.

The fused ``score`` is rank-based (first in one leg scores the same whatever it says), so
it cannot be thresholded. Relevance comes from the cosine similarity of query and chunk,
mapped linearly from ``[floor, ceiling]`` to ``[0, 1]`` per embedding model: ``floor`` is
about the best similarity a query unrelated to the tenant's documents reaches, ``ceiling``
about what a clearly answered question reaches. The figures were measured on the caller
dev set (``benchmarks/bench_relevance.py``, results in ``benchmarks/results/relevance.md``)
so that a nonsense query stays below 0.5 — Dify's default ``score_threshold`` — while the
chunks that answer the dev-set questions mostly score above it.

Without a vector (embeddings off, or a chunk not yet embedded with the current model) the
lexical leg's term coverage is used: the IDF-weighted share of the query's terms that the
chunk holds.
"""

from __future__ import annotations

from typing import NamedTuple


class Calibration(NamedTuple):
    floor: float
    ceiling: float


# Keyed by the model name (``provider.model``); a hash-N model is matched by its prefix.
CALIBRATIONS: dict[str, Calibration] = {
    "all-MiniLM-L6-v2": Calibration(0.25, 0.55),
    # Tests only: word hashing does not separate answers from off-topic queries on the dev set
    # (benchmarks/results/relevance-hash.md); this keeps unrelated words below 0.5 in tests.
    "hash": Calibration(0.35, 0.70),
    # Not measurable offline here; text-embedding-3 cosines sit lower than MiniLM's.
    "text-embedding-3-small": Calibration(0.20, 0.55),
}
DEFAULT_CALIBRATION = Calibration(0.25, 0.55)


def calibration(model: str) -> Calibration:
    name = model.rsplit("/", 1)[-1]
    if name in CALIBRATIONS:
        return CALIBRATIONS[name]
    if name.startswith("hash-"):
        return CALIBRATIONS["hash"]
    return DEFAULT_CALIBRATION


def from_similarity(similarity: float, model: str) -> float:
    floor, ceiling = calibration(model)
    return round(min(1.0, max(0.0, (similarity - floor) / (ceiling - floor))), 4)


def relevance(*, similarity: float | None, coverage: float | None, model: str) -> float:
    if similarity is not None:
        return from_similarity(similarity, model)
    if coverage is not None:
        return round(min(1.0, max(0.0, coverage)), 4)
    return 0.0
