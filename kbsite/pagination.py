"""Limit/offset pagination shared by every list endpoint: ``{"items": [...], "count": n}``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from ninja import Schema

MAX_LIMIT = 200


class Page(Schema):
    limit: int = 50
    offset: int = 0


def paginate(qs: QuerySet[Any], page: Page) -> dict[str, Any]:
    limit = max(1, min(page.limit, MAX_LIMIT))
    offset = max(0, page.offset)
    return {"items": list(qs[offset : offset + limit]), "count": qs.count()}
