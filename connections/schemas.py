"""API shapes of connections (DESIGN §9 — the contract's fields, plus a few additive ones)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from connections import models, registry, selectors
from knowledge import models as kb


class CountsOut(Schema):
    documents: int
    chunks: int


class SourceOut(Schema):
    surface: str
    root_id: str
    label: str
    parent_id: str
    share: str
    kind: str
    mail_tier: str


class RunOut(Schema):
    id: int
    kind: str
    status: str
    trigger: str
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]
    error: str
    # Additive: the per-item errors of a run that partly failed, when it was queued, and
    # until when a throttled run waits.
    item_errors: list[Any]
    created_at: datetime
    resume_at: datetime | None


class RunPage(Schema):
    items: list[RunOut]
    count: int


class ConnectionOut(Schema):
    id: int
    provider: str
    account_label: str
    owner: str
    status: str
    status_reason: str
    sources: list[SourceOut]
    last_sync_at: datetime | None
    next_sync_at: datetime | None
    counts: CountsOut
    purge_receipt: dict[str, Any] | None
    # Additive.
    provider_label: str
    owner_id: int
    created_at: datetime
    last_run: RunOut | None

    @staticmethod
    def resolve_owner(obj: models.Connection) -> str:
        return str(obj.owner.get_username())

    @staticmethod
    def resolve_sources(obj: models.Connection) -> list[models.ConnectionSource]:
        return list(selectors.sources(connection=obj))

    @staticmethod
    def resolve_counts(obj: models.Connection) -> dict[str, int]:
        return selectors.content_counts(connection=obj)

    @staticmethod
    def resolve_provider_label(obj: models.Connection) -> str:
        return registry.label(obj.provider)

    @staticmethod
    def resolve_last_run(obj: models.Connection) -> models.SyncRun | None:
        return selectors.last_run(connection=obj)


class ConnectionPage(Schema):
    items: list[ConnectionOut]
    count: int


class RevokeOut(ConnectionOut):
    run: RunOut


class RootOut(Schema):
    surface: str
    root_id: str
    label: str
    parent_id: str


class RootPage(Schema):
    items: list[RootOut]
    count: int
    # Additive: surfaces that could not be listed, said plainly (e.g. Teams admin consent).
    warnings: list[str]


class SourceIn(Schema):
    surface: models.Surface
    root_id: str = Field(..., min_length=1, max_length=512)
    share: models.Share = models.Share.PERSONAL
    kind: kb.Kind = kb.Kind.KNOWLEDGE
    mail_tier: models.MailTier = models.MailTier.SNIPPET


class SourcesOut(Schema):
    items: list[SourceOut]
    count: int
    run: RunOut | None


class SyncIn(Schema):
    full: bool = False
