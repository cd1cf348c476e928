"""Erasure API payloads (DESIGN §10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import Field


class ErasureIn(Schema):
    user: str = Field(min_length=1, max_length=254, description="The member's username or e-mail address")
    dry_run: bool = False


class ReceiptOut(Schema):
    id: int
    scope: str
    status: str
    dry_run: bool
    subject_hash: str
    key_id: str
    requested_by: str | None
    requested_via: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counts_before: dict[str, Any]
    counts_after: dict[str, Any]
    details: dict[str, Any]
    files_deleted: int
    files_failed: int
    vacuum_finished_at: datetime | None
    error: str

    @staticmethod
    def resolve_requested_by(obj: Any) -> str | None:
        user = obj.requested_by
        return user.get_username() if user is not None else None

    @staticmethod
    def resolve_requested_at(obj: Any) -> datetime:
        return obj.created_at  # type: ignore[no-any-return]
