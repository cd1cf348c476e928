"""The two feature flags, with one override rule (DESIGN §3, §5).

``retrieval`` (``KB_RETRIEVAL_ENABLED``, default off) and ``embeddings``
(``KB_EMBEDDINGS_ENABLED``, default on) are global settings that a tenant may override
either way: the tenant's value when it is set (``Tenant.retrieval_enabled`` /
``Tenant.embeddings_enabled`` are nullable), else the global setting. Nothing else decides
a flag; callers ask here.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from django.conf import settings

from knowledge import models

Flag = Literal["retrieval", "embeddings"]

_SETTING: dict[str, str] = {"retrieval": "KB_RETRIEVAL_ENABLED", "embeddings": "KB_EMBEDDINGS_ENABLED"}
_TENANT_FIELD: dict[str, str] = {"retrieval": "retrieval_enabled", "embeddings": "embeddings_enabled"}


class FlagValue(NamedTuple):
    enabled: bool
    source: Literal["tenant", "global"]


def resolve(tenant: models.Tenant, flag: Flag) -> FlagValue:
    """The one rule: the tenant's override when set, else the global setting."""
    override = getattr(tenant, _TENANT_FIELD[flag])
    if override is not None:
        return FlagValue(bool(override), "tenant")
    return FlagValue(bool(getattr(settings, _SETTING[flag])), "global")


def retrieval_enabled(tenant: models.Tenant) -> bool:
    return resolve(tenant, "retrieval").enabled


def embeddings_enabled(tenant: models.Tenant) -> bool:
    return resolve(tenant, "embeddings").enabled
