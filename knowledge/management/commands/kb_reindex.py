from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Exists, OuterRef
from tqdm import tqdm

from kbsite.errors import NotFound
from knowledge import ingestion, models, selectors


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
        # request_ingestion reads each document again under a lock: only ids are needed here.
        docs = models.Document.objects.order_by("tenant_id", "id").only("pk")
        if opts["tenant"]:
            try:
                tenant = selectors.tenant_get_by_slug(slug=opts["tenant"])
            except NotFound as exc:
                raise CommandError(f"no tenant {opts['tenant']!r}") from exc
            docs = docs.filter(tenant=tenant)
        elif opts["document"]:
            docs = docs.filter(pk=opts["document"])
            if not docs.exists():
                raise CommandError(f"no document {opts['document']}")
        if opts["embed_missing"]:
            # Documents with at least one chunk to embed; those without chunks (never
            # ingested, failed) have nothing to embed.
            to_embed = ingestion.chunks_to_embed(model_name=ingestion.configured_embedding_model())
            docs = docs.filter(
                Exists(to_embed.filter(tenant_id=OuterRef("tenant_id"), document_id=OuterRef("pk")))
            )
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
