"""Keeps a django-q2 cluster making progress: the process behind ``kb_serve`` and ``kb_worker``.

A cluster whose children were killed can respawn them and heartbeat on while it processes
nothing (its processes asleep on a lock a dead one held), and its own scheduled reaper never
runs then. So the process that starts the cluster watches it from outside:

* it reaps stale jobs every ``KB_REAPER_INTERVAL_SECONDS`` itself (a ``TaskRun`` row with
  its name as the runner), whatever state the cluster is in;
* it restarts the cluster when liveness says ``stalled`` — work waiting and no worker
  progress for ``KB_WORKER_STALLED_SECONDS``, counting the cluster's (re)start as progress
  — or when the cluster's process is gone;
* it stops the cluster with SIGTERM and, if the cluster has not exited within
  ``KB_WORKER_STOP_SECONDS``, SIGKILLs its whole process group.

Tasks the dead cluster had taken are delivered again by django-q2 when their lock runs out
(``KB_TASK_RETRY_SECONDS``); jobs it was running are taken back by the reaper.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)

LIVENESS_CHECK_SECONDS = 5.0


def stop_process_groups(procs: list[subprocess.Popen[Any]], *, within: float) -> None:
    """SIGTERM each process (its own graceful stop), then SIGKILL the process group of any
    still running ``within`` seconds later. Each process must lead its own process group
    (started with ``start_new_session=True``), so its children die with it."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + within
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("process %s did not stop within %ss: killing its process group", proc.pid, within)
        # Also when the leader did exit: a stuck child of a cluster outlives its parent's
        # graceful stop. (The group id cannot be reused while any member is alive.)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class ClusterSupervisor:
    """Runs ``command`` (a ``qcluster``) as its own process group and keeps it making progress.

    Call :meth:`tick` often (every half second or so) from the owner's loop.
    """

    def __init__(
        self, *, command: list[str], env: dict[str, str] | None, runner: str, cwd: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = command
        self.env = env
        self.runner = runner
        self.cwd = cwd
        self.clock = clock
        self.proc: subprocess.Popen[Any] | None = None
        self.started_at = timezone.now()
        self.restarts = 0
        self._next_reap = 0.0
        self._next_check = 0.0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, env=self.env, cwd=self.cwd, start_new_session=True)
        self.started_at = timezone.now()
        self._next_check = self.clock() + LIVENESS_CHECK_SECONDS
        logger.info("worker cluster started (pid %s)", self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_groups([self.proc], within=settings.KB_WORKER_STOP_SECONDS)

    def restart(self, reason: str) -> None:
        logger.error("restarting the worker cluster: %s", reason)
        self.stop()
        self.restarts += 1
        self.start()

    def tick(self) -> None:
        now = self.clock()
        if self.proc is not None and self.proc.poll() is not None:
            self.restart(f"its process exited with code {self.proc.returncode}")
            return
        if now >= self._next_reap:
            self._next_reap = now + settings.KB_REAPER_INTERVAL_SECONDS
            self._guarded(self._reap)
        if now >= self._next_check:
            self._next_check = now + LIVENESS_CHECK_SECONDS
            self._guarded(self._check_progress)

    def _reap(self) -> None:
        from knowledge import ingestion

        ingestion.reap_stale_jobs(runner=self.runner)

    def _check_progress(self) -> None:
        from knowledge import ingestion

        live = ingestion.worker_liveness(progress_since=self.started_at)
        if live.status == ingestion.liveness.STALLED:
            self.restart(
                f"no progress for {live.last_progress_age_s} s while work waits "
                f"({live.queued_jobs} queued, oldest {live.oldest_queued_age_s} s; "
                f"{live.stale_running_jobs} running without heartbeat)"
            )

    def _guarded(self, action: Callable[[], None]) -> None:
        # The supervisor outlives database outages: it tries again on the next tick.
        try:
            close_old_connections()
            action()
        except Exception:
            logger.warning("worker supervisor: %s failed", action.__name__, exc_info=True)
