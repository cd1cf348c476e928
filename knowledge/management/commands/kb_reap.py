from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from knowledge import ingestion


class Command(BaseCommand):
    help = "Put ingest jobs whose worker died back in the queue (also runs every minute in the worker)."

    def handle(self, *args: Any, **opts: Any) -> None:
        result = ingestion.reap_stale_jobs()
        self.stdout.write(", ".join(f"{k}={v}" for k, v in result.items()))
