"""The sync engine (DESIGN §9), provider-agnostic; Google and ClickUp plug in an adapter.

Modules
-------
``changes``   what an adapter yields: pages of ``Upsert`` (lazy fetch) / ``Remove``; the
              ``Adapter`` protocol (begin, enumerate, changes).
``engine``    ``run(run_id=)``: one SyncRun end to end (backfill → deltas → full
              re-enumeration with a sweep on a refused cursor; purge runs).
``apply``     the ONLY writer of knowledge documents for connections: resolve a page (no
              transaction, downloads only for changed revisions) then commit it.
``cursors``   per-source cursor state, saved in the page's transaction.
``runs``      SyncRun claim / heartbeat / pause / requeue / finish / reap (JobTable).
``schedule``  the every-minute tick: due deltas, paused runs resumed, stale runs reaped.
``adapters``  a connection's adapter; ``microsoft`` the Microsoft 365 adapter.

Entry points: ``connections.sync.run(run_id=...)`` (the ``connections.tasks.sync_run`` task)
and ``connections.sync.tick()`` (the scheduled task).
"""

from __future__ import annotations

from typing import Any


def run(*, run_id: int) -> str:
    from connections.sync import engine

    return engine.run(run_id=run_id)


def tick() -> Any:
    from connections.sync import schedule

    return schedule.tick()
