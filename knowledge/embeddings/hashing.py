"""The ``hash`` provider: deterministic feature hashing, for tests only."""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence

from knowledge.embeddings.base import EmbeddingBatch, EmbeddingError

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
