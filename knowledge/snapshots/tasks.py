"""django-q2 entry points for snapshots: take ids, call a service."""

from __future__ import annotations

from knowledge import taskruns
from knowledge.snapshots import services


def regenerate_tenant(tenant_id: int) -> dict[str, str]:
    return services.regenerate(tenant_id=tenant_id)


def reconcile_all() -> dict[str, int]:
    with taskruns.record(name="snapshot-reconcile", runner="cluster") as run:
        run.counts.update(services.reconcile_all())
    return dict(run.counts)
