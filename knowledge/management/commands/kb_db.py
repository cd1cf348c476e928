from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kbsite import embedded_pg


class Command(BaseCommand):
    help = "Start, stop or show the embedded PostgreSQL server (used when DATABASE_URL is unset)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args: Any, **opts: Any) -> None:
        if not settings.KB_EMBEDDED_DB:
            raise CommandError("DATABASE_URL is set: the embedded server is not used")
        data_dir = Path(settings.KB_DATA_DIR)
        if opts["action"] == "start":
            params = embedded_pg.ensure_running(data_dir)
            self.stdout.write(f"embedded PostgreSQL running (socket in {params['HOST']})")
        elif opts["action"] == "stop":
            stopped = embedded_pg.stop(data_dir)
            self.stdout.write("stopped" if stopped else "not running")
        else:
            self.stdout.write("running" if embedded_pg.is_running(data_dir) else "stopped")
