from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from tqdm import tqdm

from knowledge import ingestion, models


class Command(BaseCommand):
    help = (
        "Re-index documents through the ingestion façade: unchanged content is skipped as a "
        "duplicate unless --force; --embed-missing only embeds chunks stored without an "
        "embedding (or with another model)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--tenant", help="tenant slug")
        target.add_argument("--document", type=int, help="document id")
        target.add_argument("--all", action="store_true", help="every tenant")
        parser.add_argument("--embed-missing", action="store_true")
        parser.add_argument("--force", action="store_true", help="re-ingest unchanged content too")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        docs = models.Document.objects.select_related("tenant").order_by("tenant_id", "id")
        if opts["tenant"]:
            if not models.Tenant.objects.filter(slug=opts["tenant"]).exists():
                raise CommandError(f"no tenant {opts['tenant']!r}")
            docs = docs.filter(tenant__slug=opts["tenant"])
        elif opts["document"]:
            docs = docs.filter(pk=opts["document"])
            if not docs.exists():
                raise CommandError(f"no document {opts['document']}")
        if opts["embed_missing"]:
            docs = docs.filter(
                Q(chunks__embedding__isnull=True) | ~Q(chunks__embedding_model=ingestion.configured_embedding_model())
            ).distinct()
        outcomes: Counter[str] = Counter()
        for doc in tqdm(list(docs), desc="re-index", unit="doc", disable=opts["no_progress"]):
            result = ingestion.request_ingestion(
                document=doc, trigger=models.Trigger.REINDEX, force=opts["force"],
                embed_only_missing=opts["embed_missing"],
            )
            outcomes[result.outcome] += 1
        summary = ", ".join(f"{k}={outcomes[k]}" for k in ("queued", "duplicate", "skipped"))
        self.stdout.write(f"{sum(outcomes.values())} documents: {summary}")
        if outcomes["queued"]:
            self.stdout.write("the worker (manage.py qcluster) processes the queued jobs")
