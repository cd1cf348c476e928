"""Provider names, default models and the canonical model name recorded on chunks.

The one place that says which model name a chunk records, so that ``model_name`` (no model
loaded) and the providers themselves always agree.
"""

from __future__ import annotations

from knowledge.embeddings.base import EmbeddingError

PROVIDERS = ("openai", "local", "hash")
DEFAULT_MODELS = {
    "openai": "text-embedding-3-small",
    "local": "all-MiniLM-L6-v2",
    "hash": "hash-384",
}
# Names (lower-cased) under which the packaged all-MiniLM-L6-v2 is asked for.
PACKAGED_MODEL_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def canonical_model(name: str, model: str) -> str:
    """The model name that provider ``name`` records for ``model`` as given."""
    if name == "local" and model.lower() in PACKAGED_MODEL_NAMES:
        return "all-MiniLM-L6-v2"
    return model


def choose(name: str | None, model: str | None) -> tuple[str, str]:
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
    name, model = choose(name, model)
    return f"{name}:{canonical_model(name, model)}"
