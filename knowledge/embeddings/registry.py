"""``get_provider``: one cached provider per (name, model) per process, and its warm-up."""

from __future__ import annotations

import logging
import threading

from django.core.signals import setting_changed

from knowledge.embeddings.base import EmbeddingError, EmbeddingProvider
from knowledge.embeddings.hashing import HashProvider
from knowledge.embeddings.local import LocalProvider
from knowledge.embeddings.names import canonical_model, choose
from knowledge.embeddings.openai import OpenAIProvider

logger = logging.getLogger(__name__)

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


def get_provider(name: str | None = None, model: str | None = None) -> EmbeddingProvider:
    """The provider for ``name``/``model``, defaulting to KB_EMBEDDING_PROVIDER/_MODEL.

    Cached per (name, model) for the life of the process; a failure is not cached.
    """
    name, model = choose(name, model)
    key = (name, canonical_model(name, model))
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
