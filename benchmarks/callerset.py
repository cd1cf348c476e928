"""Caller-style question sets for ``bench_quality.py``: documents ingested into benchmark
tenants through the real pipeline, questions asked through ``knowledge.retrieval.search``,
and the hand-built baseline (LangChain ``RecursiveCharacterTextSplitter(1000, 150)`` +
all-MiniLM-L6-v2, dense cosine only) on the same documents and questions.

A hit is an expected answer string (case and whitespace folded) inside one of the top 3
chunks of the question's tenant.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common

HERE = Path(__file__).resolve().parent
LEGACY_DEVSET = HERE / "caller_devset.json"
CALLERS_DIR = HERE / "callers"
DOC_SUFFIXES = (".txt", ".md", ".pdf", ".docx", ".html", ".htm")
STYLE_ORDER = ["direct", "keyword", "filler", "table", "distractor", "near-miss", "paraphrase", "paraphrase+filler"]


@dataclass
class CallerSet:
    name: str
    tenants: dict[str, list[Path]]  # benchmark tenant slug -> document files
    questions: list[dict[str, Any]]  # id, query, expect (list), style, tenant, split
    policy: Callable[[Path], bool] = field(default=lambda path: False)

    def styles(self) -> list[str]:
        found = {q["style"] for q in self.questions}
        return sorted(found, key=lambda s: (STYLE_ORDER.index(s) if s in STYLE_ORDER else 99, s))


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def is_paraphrase(question: dict[str, Any]) -> bool:
    return "paraphrase" in question["style"]


# --- loading -----------------------------------------------------------------------------------


def load_legacy() -> CallerSet:
    data = json.loads(LEGACY_DEVSET.read_text())
    demo = common.ROOT / "knowledge" / "demo"
    files = sorted(p for p in demo.iterdir() if p.suffix in (".md", ".html", ".txt"))
    questions = [{**q, "tenant": "bench-devset", "split": "all"} for q in data["questions"]]
    return CallerSet("Bright Smile Dental (caller_devset.json)", {"bench-devset": files}, questions,
                     policy=lambda path: path.name.startswith("policy"))


def load_callers(directory: Path = CALLERS_DIR) -> CallerSet | None:
    """The independent caller set (benchmarks/callers): one folder of documents per
    business, questions.json with a ``split`` of ``tune`` or ``test`` per question."""
    path = directory / "questions.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    raw = data["questions"] if isinstance(data, dict) else data
    tenants: dict[str, list[Path]] = {}
    questions = []
    for q in raw:
        business = q.get("business") or q.get("tenant")
        slug = f"bench-callers-{business}"
        if slug not in tenants:
            folder = directory / "docs" / business
            if not folder.is_dir():
                folder = directory / business
            tenants[slug] = sorted(p for p in folder.rglob("*") if p.suffix.lower() in DOC_SUFFIXES)
        expect = q.get("expect") or q.get("answers") or q.get("expected")
        if isinstance(expect, str):
            expect = [expect]
        questions.append({"id": q["id"], "query": q.get("query") or q.get("question"), "expect": expect,
                          "style": q.get("style", "direct"), "tenant": slug, "split": q.get("split", "test")})
    return CallerSet("caller set (benchmarks/callers)", tenants, questions)


# --- ingestion through the real pipeline -------------------------------------------------------


def ingest(cs: CallerSet) -> dict[str, Any]:
    """Fresh tenants holding the set's documents, ingested by the current pipeline."""
    from django.db import connection

    from knowledge import ingestion, models, services

    tenants = {}
    for slug, files in cs.tenants.items():
        tenant = common.ensure_tenant(slug)
        models.Chunk.objects.filter(tenant=tenant).delete()
        models.IngestJob.objects.filter(tenant=tenant).delete()
        models.Document.objects.filter(tenant=tenant).delete()
        for path in files:
            kind = "policy" if cs.policy(path) else "knowledge"
            services.document_upload(tenant=tenant, fileobj=io.BytesIO(path.read_bytes()), filename=path.name,
                                     kind=kind, auto_ingest=True)
        for job_id in models.IngestJob.objects.filter(tenant=tenant, status="queued").values_list("pk", flat=True):
            ingestion.run_job(job_id=job_id)
        failed = list(models.Document.objects.filter(tenant=tenant).exclude(status="ready").values_list("name", "ingest_error"))
        if failed:
            print(f"  WARNING: not ingested in {slug}: {failed}", flush=True)
        tenants[slug] = tenant
    with connection.cursor() as cur:
        cur.execute("RESET synchronous_commit")
    return tenants


def chunk_lengths(tenants: dict[str, Any]) -> dict[str, Any]:
    """Lengths of the stored knowledge chunks; ``inner`` leaves out each document's last."""
    from knowledge import models

    inner: list[int] = []
    every: list[int] = []
    for tenant in tenants.values():
        rows = models.Chunk.objects.filter(tenant=tenant, kind="knowledge").order_by("document_id", "chunk_index")
        by_doc: dict[int, list[int]] = {}
        for doc_id, text in rows.values_list("document_id", "text"):
            by_doc.setdefault(doc_id, []).append(len(text))
        for lengths in by_doc.values():
            every += lengths
            inner += lengths[:-1]
    in_range = sum(1 for n in inner if 800 <= n <= 1200)
    return {"chunks": len(every), "mean": sum(every) / max(1, len(every)), "min": min(every, default=0),
            "max": max(every, default=0), "inner": len(inner), "inner_in_range": in_range,
            "inner_min": min(inner, default=0)}


# --- variants of the indexed text ----------------------------------------------------------------

TSV_VARIANTS = {
    "title+heading": "coalesce(c.metadata->>'title', '') || ' ' || c.heading",  # as ingestion stores it
    "heading": "c.heading",
    "none": "''",
}


def set_max_tokens(tokens: int) -> None:
    """Truncation of the local model's input (its sentence-transformers setting is 256; the
    position table holds 512). Benchmark knob: production reads it from the model."""
    from knowledge import embeddings

    provider = embeddings.get_provider()
    provider._tokenizer.enable_truncation(max_length=tokens)  # type: ignore[attr-defined]


def apply_variant(tenants: dict[str, Any], *, embed_title: bool, tsv: str, legacy_prefix: bool = False,
                  max_tokens: int = 256) -> None:
    """Recompute every chunk's embedding and search_vector from its stored text under a variant:
    ``embed_title``: the document title in front of the embedded text; ``tsv``: what goes to
    weight A of the full-text vector (the text is weight B). ``legacy_prefix``: the landed
    ``title — heading\\ntext`` embedding text."""
    from django.db import connection, transaction

    from knowledge import chunking, embeddings, models

    for slug, tenant in tenants.items():
        rows = list(models.Chunk.objects.filter(tenant=tenant).order_by("id")
                    .values_list("id", "chunk_index", "text", "heading", "page", "metadata"))
        texts = []
        for _, index, text, heading, page, metadata in rows:
            title = (metadata or {}).get("title", "")
            draft = chunking.ChunkDraft(index=index, text=text, heading=heading, page=page)
            if legacy_prefix:
                prefix = " — ".join(p for p in (title, heading) if p)
                texts.append(f"{prefix}\n{text}" if prefix else text)
            else:
                texts.append(chunking.contextualize(draft, title, with_title=embed_title))
        set_max_tokens(max_tokens)
        try:
            vectors = common.embed_cached(f"{slug}-ctx{max_tokens}", texts)
        finally:
            set_max_tokens(256)
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(
                "UPDATE knowledge_chunk c SET embedding = %s::vector, search_vector = "
                f"setweight(to_tsvector('english', {TSV_VARIANTS[tsv]}), 'A') || "
                "setweight(to_tsvector('english', c.text), 'B') || kb_tenant_lexeme(c.tenant_id) WHERE c.id = %s",
                [(embeddings.vector_literal([float(x) for x in vec]), row[0]) for vec, row in zip(vectors, rows, strict=True)],
            )


# --- asking ------------------------------------------------------------------------------------

_QVEC: dict[str, list[float]] = {}


def query_vector(text: str) -> list[float]:
    from knowledge import embeddings

    if text not in _QVEC:
        _QVEC[text] = embeddings.get_provider().embed_query(text)
    return _QVEC[text]


def first_hit(texts: Sequence[str], expect: Sequence[str]) -> int | None:
    wanted = [fold(e) for e in expect]
    for rank, text in enumerate(texts, start=1):
        if any(w in fold(text) for w in wanted):
            return rank
    return None


def ask(tenants: dict[str, Any], questions: Sequence[dict[str, Any]], config: Any, *, model: str,
        normalise: bool = True, rerank: Callable[[str, list[Any]], list[Any]] | None = None,
        depth: int = 10) -> tuple[list[int | None], float]:
    """First rank (1-based, within ``depth``) of a chunk holding an expected answer, per
    question, and mean ms per question (query embedding cached, not counted)."""
    from django.db import transaction

    from knowledge import querytext, retrieval

    cfg, probe = config  # retrieval.split_config(...)
    ranks: list[int | None] = []
    spent = 0.0
    for q in questions:
        text = querytext.normalize(q["query"]) if normalise else q["query"]
        vector = query_vector(text) if probe.vector and text else None
        started = time.perf_counter()
        with transaction.atomic():
            res = retrieval.search(tenant_id=tenants[q["tenant"]].pk, query=text, vector=vector, model=model,
                                   top_k=depth, config=cfg, probe=probe)
        hits = list(res.hits)
        if rerank is not None:
            hits = rerank(text, hits)
        spent += time.perf_counter() - started
        ranks.append(first_hit([h.text for h in hits], q["expect"]))
    return ranks, spent * 1000 / max(1, len(questions))


def scores(questions: Sequence[dict[str, Any]], ranks: Sequence[int | None], styles: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for style in [*styles, "paraphrase (all)", "all"]:
        picked = [r for q, r in zip(questions, ranks, strict=True)
                  if style == "all" or q["style"] == style or (style == "paraphrase (all)" and is_paraphrase(q))]
        out[style] = sum(1 for r in picked if r is not None and r <= 3) / len(picked) if picked else float("nan")
    out["MRR@10"] = sum(1 / r for r in ranks if r) / max(1, len(ranks))
    return out


# --- the hand-built baseline ---------------------------------------------------------------------


def baseline(cs: CallerSet, questions: Sequence[dict[str, Any]]) -> list[int | None]:
    """LangChain RecursiveCharacterTextSplitter(1000, 150) over each document's extracted
    text, all-MiniLM-L6-v2 (the same ONNX model), dense cosine, the caller's words as they
    came (no normaliser)."""
    import numpy as np
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from knowledge import extraction, filetypes

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=150)
    index: dict[str, tuple[list[str], Any]] = {}
    for slug, files in cs.tenants.items():
        chunks: list[str] = []
        for path in files:
            if cs.policy(path):
                continue
            data = path.read_bytes()
            kind = filetypes.detect(data, path.name).file_type
            chunks += splitter.split_text(extraction.extract(data, file_type=kind, filename=path.name).text)
        index[slug] = (chunks, common.embed_cached(f"baseline-{slug}", chunks))
    ranks: list[int | None] = []
    for q in questions:
        chunks, matrix = index[q["tenant"]]
        sims = matrix @ np.asarray(query_vector(q["query"]), dtype=np.float32)
        top = np.argsort(-sims, kind="stable")[:10]
        ranks.append(first_hit([chunks[i] for i in top], q["expect"]))
    return ranks


# --- what a cross-encoder reranker would cost ----------------------------------------------------


def cross_encoder_cost_ms(tenants: dict[str, Any], questions: Sequence[dict[str, Any]], config: Any, *,
                          model: str, candidates: int = 20, sample: int = 30) -> dict[str, float]:
    """Time one forward pass of the packaged MiniLM-L6 ONNX model over (question, chunk)
    pairs of the fused top ``candidates``: a MiniLM-L6 cross-encoder (ms-marco-MiniLM-L-6-v2
    class) has the same architecture, so this is what reranking with one costs per query,
    whatever its weights."""
    from django.db import transaction

    from knowledge import embeddings, querytext, retrieval

    provider = embeddings.get_provider()
    times: list[float] = []
    for q in list(questions)[:sample]:
        text = querytext.normalize(q["query"])
        with transaction.atomic():
            res = retrieval.search(tenant_id=tenants[q["tenant"]].pk, query=text, vector=query_vector(text),
                                   model=model, top_k=candidates, config=config[0], probe=config[1])
        pairs = [f"{text} [SEP] {h.text}" for h in res.hits]
        started = time.perf_counter()
        provider.embed_documents(pairs)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50": times[len(times) // 2], "p95": times[min(len(times) - 1, int(len(times) * 0.95))],
            "pairs": float(candidates)}


# --- levers measured offline on the tune half ------------------------------------------------


def _sub_pieces(text: str, title: str, size: int) -> list[str]:
    """A chunk cut into pieces of up to ``size`` characters by the chunker's own rules
    (paragraph, then sentence, then word); ``size`` 0: its paragraphs. Title in front, as
    the chunk's own embedded text has it."""
    from knowledge import chunking, extraction

    if size:
        pieces = [piece for _, piece in chunking._split_stream(text, size, 0, size // 2)]
    else:
        pieces = [p for p in text.split("\n\n") if p.strip()]
    title = extraction.one_line(title)
    return [f"{title}\n{p}" if title else p for p in pieces]


def _offline_rrf(vector: list[int], lexical: list[tuple[int, float]], *, power: float, full: float = 0.75,
                 w_lex: float = 1.0, k: float = 10.0) -> list[int]:
    scores: dict[int, float] = {}
    ranks: dict[int, list[int]] = {}
    for rank, cid in enumerate(vector[:40], start=1):
        scores[cid] = scores.get(cid, 0.0) + 1.0 / (k + rank)
        ranks.setdefault(cid, [10**6, 10**6])[0] = rank
    for rank, (cid, cov) in enumerate(lexical[:40], start=1):
        scores[cid] = scores.get(cid, 0.0) + w_lex * (min(1.0, cov / full) ** power if power else 1.0) / (k + rank)
        ranks.setdefault(cid, [10**6, 10**6])[1] = rank
    return sorted(scores, key=lambda c: (-scores[c], *ranks[c]))[:10]


def levers(tenants: dict[str, Any], questions: Sequence[dict[str, Any]], styles: Sequence[str]) -> list[list[Any]]:
    """hit@3 of retrieval levers on ``questions`` (the tune half), computed offline: the
    vector leg in numpy over the stored chunks' texts (embedded as ingestion embeds them),
    the lexical leg from the production statement (with each row's term coverage), fused as
    ``hybrid.fuse`` does (k=10, 40 per leg). Rows: label, vector-leg hit@3, hybrid
    paraphrase, hybrid all."""
    import numpy as np
    from django.db import connection

    from knowledge import chunking, models, querytext, retrieval

    chunks: dict[str, tuple[list[int], Any, list[tuple[str, str]]]] = {}
    texts: dict[int, str] = {}
    for slug, tenant in tenants.items():
        rows = list(models.Chunk.objects.filter(tenant=tenant, kind="knowledge").order_by("id")
                    .values_list("id", "chunk_index", "text", "heading", "page", "metadata"))
        ctx = [chunking.contextualize(chunking.ChunkDraft(index=i, text=t, heading=h, page=p), (m or {}).get("title", ""))
               for _, i, t, h, p, m in rows]
        chunks[slug] = ([r[0] for r in rows], common.embed_cached(f"{slug}-ctx256", ctx),
                        [(r[2], (r[5] or {}).get("title", "")) for r in rows])
        texts.update({r[0]: r[2] for r in rows})
    statement = retrieval.lexical_leg_sql(retrieval.DEFAULT_CONFIG)
    normalised = [querytext.normalize(q["query"]) for q in questions]
    lexical: list[list[tuple[int, float]]] = []
    with connection.cursor() as cur:
        for q, text in zip(questions, normalised, strict=True):
            tenant = tenants[q["tenant"]].pk
            lex = retrieval.lexical_text(text)
            cur.execute(statement, {"tenant": tenant, "user": None, "lex": lex, "n": 40,
                                    "ndocs": len(chunks[q["tenant"]][0])})
            lexical.append([(r[0], float(r[3] or 0.0)) for r in cur.fetchall()] if lex else [])
            cur.execute("SELECT count(*) FROM unnest(to_tsvector('english', %s))", [lex])
            q["_lexemes"] = cur.fetchone()[0]

    def subs(size: int) -> dict[str, tuple[Any, Any]]:
        out = {}
        for slug, (_, _, stored) in chunks.items():
            owner, pieces = [], []
            for j, (text, title) in enumerate(stored):
                parts = _sub_pieces(text, title, size)
                pieces += parts
                owner += [j] * len(parts)
            out[slug] = (np.asarray(owner), common.embed_cached(f"{slug}-sub{size}", pieces))
        return out

    def vector(query_texts: list[str], sub: dict[str, tuple[Any, Any]] | None = None) -> list[list[int]]:
        out = []
        for q, text in zip(questions, query_texts, strict=True):
            ids, matrix, _ = chunks[q["tenant"]]
            qv = np.asarray(query_vector(text), dtype=np.float32)
            sims = matrix @ qv
            if sub is not None:  # max-sim: a chunk scores as its best piece (or itself)
                owner, pieces = sub[q["tenant"]]
                best = np.full(len(ids), -1.0, dtype=np.float32)
                np.maximum.at(best, owner, pieces @ qv)
                sims = np.maximum(sims, best)
            out.append([ids[i] for i in np.argsort(-sims, kind="stable")[:40]])
        return out

    def row(label: str, vec: list[list[int]], fused: list[list[int]]) -> list[Any]:
        def hit3(lists: list[list[int]]) -> dict[str, float]:
            return scores(questions, [first_hit([texts[c] for c in ids], q["expect"])
                                      for q, ids in zip(questions, lists, strict=True)], styles)
        v, h = hit3(vec), hit3(fused)
        return [label, v["all"], h["paraphrase (all)"], h["all"], h["MRR@10"]]

    shapes = {"plain RRF": (1.0, 0.0), "coverage-weighted vote (production)": (0.75, 1.0),
              "vote × coverage²": (1.0, 2.0)}
    base = vector(normalised)
    rows = []
    for name, (full, power) in shapes.items():
        rows.append(row(f"chunk vectors, {name}", base, [_offline_rrf(v, lx, power=power, full=full)
                                                         for v, lx in zip(base, lexical, strict=True)]))
    raw = vector([q["query"] for q in questions])
    rows.append(row("(b) caller's raw words embedded (normaliser off for the vector leg), production vote", raw,
                    [_offline_rrf(v, lx, power=1.0) for v, lx in zip(raw, lexical, strict=True)]))
    for short in (3, 4):
        rows.append(row(f"(c) w_lex 1 for ≤ {short} query lexemes, else 0.5 (plain RRF)", base,
                        [_offline_rrf(v, lx, power=0.0, w_lex=1.0 if q["_lexemes"] <= short else 0.5)
                         for v, lx, q in zip(base, lexical, questions, strict=True)]))
    for size in (0, 300, 400):
        sub = vector(normalised, subs(size))
        piece = "paragraphs" if size == 0 else f"pieces ≤ {size} chars"
        for name, (full, power) in shapes.items():
            rows.append(row(f"(a) section vectors, max-sim over {piece}, {name}", sub,
                            [_offline_rrf(v, lx, power=power, full=full) for v, lx in zip(sub, lexical, strict=True)]))
    return rows
