"""django-q2 entry points: take ids or nothing, call a service. Nothing else lives here."""

from __future__ import annotations

from audit import services
from knowledge import taskruns


def purge_old_recalls() -> int:
    # Like every background task, the purge leaves a row that says what it did.
    with taskruns.record(name="audit-purge", runner="cluster") as run:
        deleted = services.recall_purge()
        run.counts["deleted"] = deleted
    return deleted
