from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from kbsite import embedded_pg
from knowledge import serve_hooks, supervisor


class Command(BaseCommand):
    help = "Migrate, create the demo tenant, and serve web + worker until Ctrl-C (what `make run` does)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--no-demo", action="store_true")
        parser.add_argument(
            "--web-workers", type=int, default=settings.KB_WEB_WORKERS,
            help="gunicorn worker processes (KB_WEB_WORKERS, default 2); each runs 4 threads",
        )
        parser.add_argument(
            "--dev-server", action="store_true",
            help="serve with Django's runserver instead of gunicorn (development only)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        data_dir = Path(settings.KB_DATA_DIR)
        started_db = settings.KB_EMBEDDED_DB and not embedded_pg.is_running(data_dir)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        if not opts["no_demo"]:
            call_command("kb_demo", stdout=self.stdout)
        # Side services other apps register (the connections sandbox), before web and worker:
        # the children find them through the environment they return.
        services = serve_hooks.start_all()
        url = f"http://{opts['host']}:{opts['port']}/"
        self.stdout.write(f"\nserving {url}  (admin UI: {url}kb/ · API docs: {url}api/v1/docs)")
        for service in services:
            for line in service.banner:
                self.stdout.write(line)
        self.stdout.write("press Ctrl-C to stop web, worker and the embedded database\n")
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        web_workers = 1 if opts["dev_server"] else max(1, opts["web_workers"])
        # Both children read it: each sizes its share of the cores for the model by it.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "KB_WEB_WORKERS": str(web_workers)}
        for service in services:
            env.update(service.env)
        bind = f"{opts['host']}:{opts['port']}"
        if opts["dev_server"]:
            web = [*manage, "runserver", "--noreload", "--insecure", bind]
        else:
            # gunicorn: a production WSGI server (static files through WhiteNoise). Threads
            # let one worker overlap callers' database waits; the model is loaded per worker.
            web = [
                sys.executable, "-m", "gunicorn", "kbsite.wsgi:application", "--bind", bind,
                "--workers", str(web_workers), "--worker-class", "gthread",
                "--threads", "4", "--timeout", "120", "--graceful-timeout", "15",
                "--access-logfile", "-",
            ]
        # The worker cluster runs under a supervisor that reaps stale jobs on a timer and
        # restarts the cluster when it stops making progress (knowledge/supervisor.py).
        cluster = supervisor.ClusterSupervisor(
            command=[*manage, "qcluster"], env=env, runner="kb_serve", cwd=str(settings.BASE_DIR)
        )
        cluster.start()
        web_proc = subprocess.Popen(web, env=env, start_new_session=True, cwd=str(settings.BASE_DIR))

        def stop_on_sigterm(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop_on_sigterm)
        try:
            while web_proc.poll() is None:
                cluster.tick()
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the stop short
            # Each stops gracefully on SIGTERM or is killed, with its process group, after
            # KB_WORKER_STOP_SECONDS: a stuck cluster cannot hold the stop up.
            procs = [web_proc] + ([cluster.proc] if cluster.proc is not None else [])
            supervisor.stop_process_groups(procs, within=settings.KB_WORKER_STOP_SECONDS)
            serve_hooks.stop_all(services)
            if started_db:
                from django.db import connections

                connections.close_all()
                embedded_pg.stop(data_dir)
            self.stdout.write("stopped")
