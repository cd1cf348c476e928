from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from knowledge import supervisor


class Command(BaseCommand):
    help = (
        "Run the worker (a django-q2 qcluster) under a supervisor: reaps stale jobs on a timer "
        "and restarts the cluster when it stops making progress. What production runs on each "
        "worker host instead of a bare `qcluster`."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        cluster = supervisor.ClusterSupervisor(
            command=[*manage, "qcluster"], env=None, runner="kb_worker", cwd=str(settings.BASE_DIR)
        )

        def stop_on_sigterm(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop_on_sigterm)
        cluster.start()
        try:
            while True:
                cluster.tick()
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            cluster.stop()
            self.stdout.write(f"stopped (cluster restarts: {cluster.restarts})")
