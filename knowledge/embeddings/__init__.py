"""Embedding providers behind one interface: ``openai``, ``local`` and ``hash``.

Contract of this package:

* ``get_provider(name=None, model=None)`` returns an ``EmbeddingProvider`` (``name``,
  ``model``, ``dim``, ``embed_documents(texts) -> EmbeddingBatch``, ``embed_query(text)``),
  defaulting to KB_EMBEDDING_PROVIDER/_MODEL. It caches one provider per (name, model) per
  process, so the local model is loaded once; a failure is not cached. Providers are safe to
  share between threads. ``reset_providers`` forgets them (changing an ``OPENAI_*`` or
  ``KB_OPENAI_*`` setting does so for ``openai``); ``warm_up_in_background`` loads the
  configured one at start-up.
* ``model_name(name, model)`` is the ``provider:model`` name the chunks of that provider
  record, computed without building the provider.
* Failures surface as ``EmbeddingError`` with a readable ``reason`` (never containing the
  API key) and ``retryable`` telling the ingestion job whether trying later may help.
  Retries with back-off on 429/5xx are done by the OpenAI client itself
  (``KB_OPENAI_MAX_RETRIES``); there is no second retry loop here, the job layer retries
  whole jobs on a retryable error.
* ``vector_literal`` is pgvector's text form of a vector.

No ORM here. Django settings are read only inside functions, and the heavy libraries
(``openai``, ``onnxruntime``, ``tokenizers``, numpy) are imported only when a provider
that needs them is built, because the retrieval hot path imports this package.

Layout: ``base`` (interface, batch, error, ``vector_literal``), ``names`` (provider names,
default and canonical model names), one module per provider (``hashing``, ``local``,
``openai``) and ``registry`` (``get_provider`` and its cache). The names below are
re-exported for callers; patch a submodule's attribute, not these re-exports.
"""

from __future__ import annotations

# ``os`` stays reachable as ``embeddings.os``: tests patch ``os.sched_getaffinity`` through it.
import os as os

from knowledge.embeddings.base import (
    EmbeddingBatch,
    EmbeddingError,
    EmbeddingProvider,
    vector_literal,
)
from knowledge.embeddings.hashing import HashProvider
from knowledge.embeddings.local import LocalProvider
from knowledge.embeddings.local import _intra_op_threads as _intra_op_threads
from knowledge.embeddings.names import DEFAULT_MODELS, PROVIDERS, model_name
from knowledge.embeddings.openai import (
    MAX_INPUTS_PER_REQUEST,
    MAX_TOKENS_PER_INPUT,
    MAX_TOKENS_PER_REQUEST,
    OPENAI_DIMS,
    OpenAIProvider,
    estimate_tokens,
)
from knowledge.embeddings.registry import _providers as _providers
from knowledge.embeddings.registry import (
    get_provider,
    reset_providers,
    warm_up_in_background,
)

__all__ = [
    "DEFAULT_MODELS",
    "MAX_INPUTS_PER_REQUEST",
    "MAX_TOKENS_PER_INPUT",
    "MAX_TOKENS_PER_REQUEST",
    "OPENAI_DIMS",
    "PROVIDERS",
    "EmbeddingBatch",
    "EmbeddingError",
    "EmbeddingProvider",
    "HashProvider",
    "LocalProvider",
    "OpenAIProvider",
    "estimate_tokens",
    "get_provider",
    "model_name",
    "reset_providers",
    "vector_literal",
    "warm_up_in_background",
]
