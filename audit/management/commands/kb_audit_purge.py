from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import services


class Command(BaseCommand):
    help = (
        "Delete recall audits older than KB_AUDIT_RETENTION_DAYS (or --days). The worker also "
        "runs this daily (schedule 'kb-purge-recall-audits')."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="retention in days (default: the setting)")

    def handle(self, *args: Any, **opts: Any) -> None:
        days: int | None = opts["days"]
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1", returncode=2)
        deleted = services.recall_purge(older_than_days=days)
        period = f"{days} days" if days is not None else "the retention period (KB_AUDIT_RETENTION_DAYS)"
        self.stdout.write(f"deleted {deleted} recall audits older than {period}")
