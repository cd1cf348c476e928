"""django-q2 entry points for connections: thin, they take ids and call the sync engine."""

from __future__ import annotations

import importlib
from typing import Any


def sync_run(run_id: int) -> Any:
    """Execute one SyncRun (queued by ``connections.services.sync_request``)."""
    # Imported here: the engine (connections.sync) loads provider clients and the ingestion
    # pipeline, which the web process does not need to queue a run.
    sync = importlib.import_module("connections.sync")
    return sync.run(run_id=run_id)
