"""``retrieve()``: the context bundle for one caller turn (DESIGN §5), audited.

1. checks the retrieval flag (``knowledge.flags``); when off it runs no knowledge-base
   query at all and only has the call audited;
2. normalises the caller's words (``knowledge.querytext``);
3. takes the tenant's policy block from the in-process cache (``policy.py``);
4. embeds the query (LRU cache per provider and model, ``caches.py``), unless embeddings
   are off for the tenant;
5. runs the hybrid search (``hybrid.py``);
6. has the call audited through the recorder hook (``recording.py``): written before
   returning, or — with ``defer_audit`` — the row's id reserved now and the row written by
   ``write_audit(result)`` once the API's response has gone to the caller.

Round trips are what a call costs on a small machine (~0.2 ms each here), so a warm call is:
the API key (one statement) + [chunk count, cached 60 s] + [policy, cached per version] +
the search (the two legs, at once where possible, then the winners' texts) — the audit row
id comes from an in-process block and its INSERT runs after the response.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from knowledge import budgets, embeddings, flags, models, querytext
from knowledge.retrieval import caches, policy, prompt, recording, schemas
from knowledge.retrieval.config import DEFAULT_CONFIG, DEFAULT_PROBE, MAX_TOP_K, Probe, SearchConfig
from knowledge.retrieval.hybrid import SqlFilter, search

logger = logging.getLogger(__name__)


@dataclass
class RetrievalResult:
    """What one call found, with what the audit row records beside the §5 body."""

    tenant: models.Tenant
    query: str
    normalized_query: str
    top_k: int
    retrieval_enabled: bool
    policy: schemas.PolicyOut = field(default_factory=lambda: schemas.EMPTY_POLICY)
    knowledge: list[schemas.Hit] = field(default_factory=list)
    legs: list[str] = field(default_factory=list)
    embedding_model: str = ""
    flags: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    audit_id: int | None = None
    pending_audit: Callable[[], int] | None = field(default=None, repr=False)

    def prompt(self) -> schemas.PromptOut:
        return prompt.build(self.policy, self.knowledge)

    def response(self) -> schemas.RetrieveOut:
        """The DESIGN §5 body."""
        return schemas.RetrieveOut.model_construct(
            retrieval_enabled=self.retrieval_enabled, tenant=self.tenant.slug, query=self.query,
            policy=self.policy, knowledge=self.knowledge, prompt=self.prompt(), audit_id=self.audit_id,
            embedding_model=self.embedding_model, timings_ms=self.timings_ms,
        )

    def as_response(self) -> dict[str, Any]:
        """The DESIGN §5 body as plain data (pages and tests)."""
        return self.response().model_dump(mode="json")


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


def retrieve(
    *,
    tenant: models.Tenant,
    query: str,
    top_k: int = 5,
    session_id: str = "",
    caller: str = "",
    source: str = "api",
    api_key: models.ApiKey | None = None,
    user: Any = None,
    is_test: bool = False,
    sql_filter: SqlFilter | None = None,
    config: SearchConfig = DEFAULT_CONFIG,
    probe: Probe = DEFAULT_PROBE,
    defer_audit: bool = False,
) -> RetrievalResult:
    """The context bundle for one caller turn, audited (see the module docstring).

    ``sql_filter`` narrows the knowledge search inside its SQL (the Dify endpoint's
    metadata filter). Raises ``recording.AuditUnavailable`` when the call cannot be audited.
    """
    started = time.perf_counter()
    top_k = max(1, min(int(top_k), MAX_TOP_K))
    query = query.strip()
    user_id = getattr(user, "pk", None) if user is not None and getattr(user, "is_authenticated", False) else None
    write = functools.partial(
        recording.recorder().write, source=source, session_id=session_id, caller=caller,
        api_key=api_key, user_id=user_id, is_test=is_test,
    )
    retrieval_flag = flags.resolve(tenant, "retrieval")
    result = RetrievalResult(
        tenant=tenant, query=query, normalized_query="", top_k=top_k, retrieval_enabled=retrieval_flag.enabled,
        flags={"retrieval_enabled": retrieval_flag.enabled, "retrieval_enabled_source": retrieval_flag.source},
    )

    def record() -> None:
        t = time.perf_counter()
        if defer_audit:
            result.audit_id = recording.reserve_id()
            result.pending_audit = functools.partial(write, result=result, recall_id=result.audit_id)
        else:
            result.audit_id = recording.write_now(functools.partial(write, result=result, recall_id=None))
        result.timings_ms["audit"] = _ms(t)

    if not retrieval_flag.enabled:
        # No knowledge-base query at all; the call is still audited.
        result.timings_ms = {"embed": 0.0, "search": 0.0, "total": _ms(started)}
        record()
        return result

    normalized = querytext.normalize(query) if probe.normalize_query else query
    result.normalized_query = normalized
    vector: caches.QueryVector | None = None
    model_key = ""
    embeddings_flag = flags.resolve(tenant, "embeddings")
    result.flags["embeddings_enabled"] = embeddings_flag.enabled
    t = time.perf_counter()
    if embeddings_flag.enabled and probe.vector and normalized:
        try:
            provider = embeddings.get_provider()
            vector, hit = caches.embed_query(provider, normalized)
            model_key = f"{provider.name}:{provider.model}"
            result.embedding_model = provider.model
            result.flags["query_cache"] = "hit" if hit else "miss"
            if not hit:  # query embeddings count towards the tenant's month (written in batches)
                budgets.charge_query(
                    tenant_id=tenant.pk, model=model_key, tokens=budgets.estimate_tokens([normalized])
                )
        except embeddings.EmbeddingError as exc:
            # The caller is on the line: answer from the lexical leg rather than fail.
            logger.warning("query embedding failed, lexical only: %s", exc.reason)
            result.flags["vector_error"] = exc.reason
    embed_ms = _ms(t)

    t = time.perf_counter()
    block, policy_hit = policy.policy_block(tenant)
    policy_ms = _ms(t)
    result.flags["policy_cache"] = "hit" if policy_hit else "miss"
    outcome = search(
        tenant_id=tenant.pk, query=normalized, vector=vector, model=model_key, top_k=top_k,
        user_id=user_id, sql_filter=sql_filter, config=config, probe=probe,
    )
    result.flags["vector_search"] = outcome.mode
    result.policy = block
    result.knowledge = outcome.hits
    result.legs = outcome.legs
    result.timings_ms = {"embed": embed_ms, "search": outcome.timings_ms["search"], "policy": policy_ms,
                         "total": _ms(started)}
    record()
    result.timings_ms["total"] = _ms(started)
    return result


def write_audit(result: RetrievalResult, *, extra_timings: dict[str, float] | None = None) -> bool:
    """Write a deferred audit row (``retrieve(defer_audit=True)``) after the response has
    gone out; a failure is counted and logged (``recording``). False when it failed; True
    when written or when nothing was pending."""
    pending = result.pending_audit
    if pending is None:
        return True
    result.pending_audit = None
    if extra_timings:
        result.timings_ms.update(extra_timings)
    return recording.write_after_response(pending, recall_id=result.audit_id)
