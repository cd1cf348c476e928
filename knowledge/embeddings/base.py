"""The provider interface and the value types every provider shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


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
