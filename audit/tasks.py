"""django-q2 entry points: take ids or nothing, call a service. Nothing else lives here."""

from __future__ import annotations

from audit import services


def purge_old_recalls() -> int:
    return services.recall_purge()
