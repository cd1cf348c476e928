from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from audit import services


class Command(BaseCommand):
    help = (
        "Delete recall audits older than KB_AUDIT_RETENTION_DAYS (or --days). The worker also "
        "runs this daily (schedule 'kb-purge-recall-audits')."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="retention in days (default: the setting)")

    def handle(self, *args: Any, **opts: Any) -> None:
        days = opts["days"] if opts["days"] is not None else settings.KB_AUDIT_RETENTION_DAYS
        if days < 1:
            self.stderr.write("--days must be at least 1")
            raise SystemExit(2)
        deleted = services.recall_purge(older_than_days=days)
        self.stdout.write(f"deleted {deleted} recall audits older than {days} days")
