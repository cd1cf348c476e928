"""The ``openai`` provider: the OpenAI embeddings API, batched within the request limits.

Retries with back-off on 429/5xx are done by the OpenAI client itself
(``KB_OPENAI_MAX_RETRIES``); there is no second retry loop here, the job layer retries
whole jobs on a retryable error. Error reasons never contain the API key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from knowledge.embeddings.base import EmbeddingBatch, EmbeddingError

if TYPE_CHECKING:
    import openai

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
