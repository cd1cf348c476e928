"""Delete stored files that no document refers to (older than the grace period)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from knowledge import purge, taskruns


class Command(BaseCommand):
    help = (
        "Delete stored KB files no document refers to, once older than KB_FILE_SWEEP_GRACE_MINUTES "
        "(a file is written before its row commits). The cluster runs this daily (schedule 'kb-sweep-files')."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--grace-minutes", type=int, default=None, help="override the grace period")
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        with taskruns.record(name="file-sweep", runner="kb_sweep_files") as run:
            result = purge.sweep_files(grace_minutes=options["grace_minutes"], dry_run=options["dry_run"])
            run.counts.update(result.as_dict())
        self.stdout.write(json.dumps(result.as_dict()))
