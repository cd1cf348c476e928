"""Policy-block cache invalidation.

The policy block is cached per process, keyed by (tenant id, ``Tenant.policy_version``).
The tenant row is already loaded with the API key on every retrieval call, so checking
freshness costs no query. Writers bump the version in the same transaction that changes a
policy document's chunks, which invalidates every process's cache at once.
"""

from __future__ import annotations

from django.db.models import F

from knowledge import models


def bump(*, tenant_id: int) -> None:
    """Bump the version now (call inside the transaction that changes policy chunks)."""
    models.Tenant.objects.filter(pk=tenant_id).update(policy_version=F("policy_version") + 1)

