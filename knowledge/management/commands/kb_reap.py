from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from knowledge import ingestion


class Command(BaseCommand):
    help = (
        "Put ingest jobs whose worker died back in the queue and re-send lost tasks. Once, or "
        "with --loop every KB_REAPER_INTERVAL_SECONDS: a reaper that does not depend on the "
        "worker cluster being healthy (each pass leaves a task-run row)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep reaping until stopped")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not opts["loop"]:
            self._once()
            return
        try:
            while True:
                try:
                    close_old_connections()
                    self._once()
                except Exception as exc:  # a database outage: try again on the next pass
                    self.stderr.write(f"reaper pass failed: {type(exc).__name__}: {exc}")
                time.sleep(settings.KB_REAPER_INTERVAL_SECONDS)
        except KeyboardInterrupt:
            pass

    def _once(self) -> None:
        result = ingestion.reap_stale_jobs(runner="kb_reap")
        self.stdout.write(", ".join(f"{k}={v}" for k, v in result.items()))
