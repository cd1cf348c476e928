"""Curated snapshots (DESIGN §10): allow-listed facts about a tenant, rendered as short
documents for the assistant and ingested as virtual documents (``source_kind=snapshot``).

* ``fields`` — the allow-lists, per model feeding a snapshot (a field nobody classified
  fails the coverage test); ``project`` is the only way a renderer sees a row.
* ``profile`` — the business profile's shape and validation (pure).
* ``render`` — pure renderers: profile, member directory, shared connection sources.
* ``hooks`` — where the connections app contributes source summaries.
* ``services`` — profile and directory writes, regeneration, the nightly reconcile.
* ``triggers`` — signal → on commit → one debounced task per tenant.
* ``tasks`` — django-q2 entry points; ``api`` and ``views`` — the endpoints and pages.

For other services (erasure): ``regenerate(tenant_id=…)`` recomputes a tenant's snapshots
now; ``tenants_naming(user_id=…)`` lists the tenants whose snapshots name a user.
"""

from __future__ import annotations

from typing import Any


def regenerate(*, tenant_id: int, names: Any = None) -> dict[str, str]:
    from knowledge.snapshots import services

    return services.regenerate(tenant_id=tenant_id, names=names)


def tenants_naming(*, user_id: int) -> list[int]:
    from knowledge.snapshots import services

    return services.tenants_naming(user_id=user_id)
