"""Per-source cursor state, stored as JSON in SyncCursor (one stream per selected source).

``phase``: ``enumerate`` (a backfill or a full re-enumeration in progress) or ``delta``.
``link``: where the feed continues (a next link mid-feed, else the delta cursor).
``after``: the change cursor taken before the enumeration (used once it completes).
``sweep``: the enumeration is a full re-enumeration whose sweep removes what it did not see;
it restarts from the beginning when resumed, so the sweep never follows a partial listing.
``memo``: the adapter's scratch (e.g. a drive's folder tree).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from connections import models

ENUMERATE = "enumerate"
DELTA = "delta"


@dataclass
class State:
    phase: str = ENUMERATE
    link: str | None = None
    after: str | None = None
    sweep: bool = False
    memo: dict[str, Any] = field(default_factory=dict)


def stream(source: models.ConnectionSource) -> str:
    return f"source:{source.pk}"


def load(*, source: models.ConnectionSource) -> State | None:
    row = models.SyncCursor.objects.filter(connection_id=source.connection_id, stream=stream(source)).first()
    if row is None or not row.cursor:
        return None
    try:
        data = json.loads(row.cursor)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    known = {k: data[k] for k in ("phase", "link", "after", "sweep", "memo") if k in data}
    return State(**known)


def save(*, source: models.ConnectionSource, state: State) -> None:
    """Call inside the transaction that applies the page this state follows."""
    models.SyncCursor.objects.update_or_create(
        connection_id=source.connection_id, stream=stream(source),
        defaults={"tenant_id": source.tenant_id, "source": source, "cursor": json.dumps(asdict(state))},
    )
