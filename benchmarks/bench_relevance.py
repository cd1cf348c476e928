"""Relevance calibration: where ``relevance`` (``knowledge/retrieval/relevance.py``) puts
the chunks that answer the caller dev set, and the best chunk for nonsense queries.

    .venv/bin/python benchmarks/bench_relevance.py [--provider local|hash]

The demo documents (knowledge/demo) are ingested through the real pipeline into a tenant of
the benchmark database; each dev-set question (benchmarks/caller_devset.json) and each
off-topic query below is run through ``retrieval.retrieve``. Reported: the cosine
similarity and the relevance of the chunk that holds the expected answer, and the best
relevance any off-topic query reaches. The calibration is right when no off-topic query
reaches 0.5 (Dify's default ``score_threshold``) and most answers do.

Writes benchmarks/results/relevance-<provider>.md.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

DEVSET = Path(__file__).resolve().parent / "caller_devset.json"
OFF_TOPIC = [
    "purple elephant quantum banana", "how do i fix the carburetor on my motorbike",
    "what is the capital of mongolia", "sing me a song about the ocean", "asdf qwerty zxcv",
    "who won the world cup in nineteen ninety eight", "what's a good recipe for lasagna",
    "tell me about black holes", "can you recommend a good science fiction novel",
    "what will the weather be in paris tomorrow", "how many legs does a spider have",
    "i want to sell my used car", "translate good morning into japanese",
    "what is the square root of one hundred forty four", "play some jazz music",
    "um so like yeah", "is the stock market going up", "how do i reset my router password",
    "where can i buy cheap flights to rome", "what time does the football game start",
]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", choices=["local", "hash"], default="local")
    args = parser.parse_args()
    model = "all-MiniLM-L6-v2" if args.provider == "local" else "hash-384"
    common.setup(provider=args.provider, model=model, database=f"kb_bench_relevance_{args.provider}")
    from knowledge import retrieval

    tenant = common.ensure_tenant(f"bench-relevance-{args.provider}", "Bright Smile Dental (relevance)")
    common.load_demo(tenant)
    tenant.retrieval_enabled = True
    devset = json.loads(DEVSET.read_text())
    answer_sim: list[float] = []
    answer_rel: list[float] = []
    missed = 0
    for q in devset["questions"]:
        result = retrieval.retrieve(tenant=tenant, query=q["query"], top_k=10)
        wanted = [_norm(e) for e in q["expect"]]
        hit = next((h for h in result.knowledge if any(w in _norm(h.text) for w in wanted)), None)
        if hit is None or hit.vector_similarity is None:
            missed += 1
            continue
        answer_sim.append(hit.vector_similarity)
        answer_rel.append(hit.relevance or 0.0)
    off_sim: list[float] = []
    off_rel: list[float] = []
    worst: list[tuple[float, str, str]] = []
    for query in OFF_TOPIC:
        result = retrieval.retrieve(tenant=tenant, query=query, top_k=10)
        sims = [h.vector_similarity for h in result.knowledge if h.vector_similarity is not None]
        rels = [h.relevance or 0.0 for h in result.knowledge]
        off_sim.append(max(sims, default=0.0))
        off_rel.append(max(rels, default=0.0))
        best = max(result.knowledge, key=lambda h: h.relevance or 0.0, default=None)
        worst.append((off_rel[-1], query, best.document_name if best else ""))
    worst.sort(reverse=True)
    calibration = retrieval.relevance.calibration(model)
    above = sum(r >= 0.5 for r in answer_rel)
    lines: list[Any] = [
        f"# Relevance calibration ({args.provider}: {model})", "",
        f"Calibration in force: floor {calibration.floor}, ceiling {calibration.ceiling} "
        "(relevance = (cosine − floor) / (ceiling − floor), clipped to 0..1).", "",
        f"* Dev-set answers found in the top 10: {len(answer_sim)} of {len(devset['questions'])} "
        f"({missed} not found or without a vector).",
        f"* Cosine of the answering chunk: min {min(answer_sim):.3f}, p10 {pct(answer_sim, .1):.3f}, "
        f"median {statistics.median(answer_sim):.3f}, max {max(answer_sim):.3f}.",
        f"* Relevance of the answering chunk: p10 {pct(answer_rel, .1):.3f}, median "
        f"{statistics.median(answer_rel):.3f}; at or above 0.5: {above} of {len(answer_rel)}.",
        f"* Off-topic queries ({len(OFF_TOPIC)}): best cosine max {max(off_sim):.3f}, median "
        f"{statistics.median(off_sim):.3f}; best relevance max {max(off_rel):.3f} "
        f"(at or above 0.5: {sum(r >= 0.5 for r in off_rel)}).",
        "", "Off-topic queries with the highest relevance:", "",
        *[f"* {rel:.3f} — \"{query}\" → {doc}" for rel, query, doc in worst[:5]],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    common.write_result(f"relevance-{args.provider}.md", text)


if __name__ == "__main__":
    main()
