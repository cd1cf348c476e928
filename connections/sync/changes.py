"""What a provider adapter hands the sync engine, for every provider alike (pure: no ORM).

An adapter turns one selected source into pages of ``Change``s. An ``Upsert`` carries the
item's identity, its revision and a *lazy* ``fetch``: the engine calls it only when the
stored revision differs, so an unchanged item is never downloaded or rendered. A ``Remove``
is a deletion at the source, or an item that left the selection (moved out of a selected
folder, outside the mail window). ``Page.next_link`` is where the feed continues; the last
page of a feed carries ``final_link``, the cursor for the next delta.

``memo`` is the adapter's own per-source scratch (e.g. the folder tree of a drive), a JSON
dict the engine stores with the cursor in the page's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Content:
    """An item's content: rendered text (virtual documents) or a file's bytes.

    ``children``: when not None, the item's complete set of child items as read with it
    (a mail's attachments): each lands as a child document of the item (removed with it),
    through the same revision and content-hash checks; a child no longer listed is removed.
    None means the item has no children to reconcile."""

    text: str | None = None
    data: bytes | None = None
    filename: str = ""
    children: tuple[Upsert, ...] | None = None


@dataclass(frozen=True)
class Upsert:
    external_id: str
    source_kind: str
    revision: str
    title: str
    fetch: Callable[[], Content]
    url: str = ""
    parent_id: str = ""  # the container at the source (a drive folder), shown and used for moves


@dataclass(frozen=True)
class Remove:
    external_id: str
    source_kind: str


@dataclass(frozen=True)
class RemoveWithin:
    """Every document of the source whose container is one of ``container_ids``: a folder
    moved out of the selection (its files do not come in the delta themselves)."""

    container_ids: tuple[str, ...]
    source_kind: str

    @property
    def external_id(self) -> str:
        return "within:" + ",".join(self.container_ids)


Change = Upsert | Remove | RemoveWithin


@dataclass
class Page:
    changes: list[Change] = field(default_factory=list)
    next_link: str | None = None
    final_link: str | None = None


def last_occurrences(changes: list[Change]) -> list[Change]:
    """Each item once, as its last occurrence says, in the order of those last occurrences."""
    last: dict[tuple[str, str], int] = {}
    for index, change in enumerate(changes):
        last[(change.source_kind, change.external_id)] = index
    return [changes[i] for i in sorted(last.values())]


class Adapter(Protocol):
    """One provider's sources as pages of changes. Provider errors (connections.providers.
    errors) propagate: ``Throttled`` pauses the run, ``CursorExpired`` starts a full
    re-enumeration, ``AuthRefused`` fails it; an error raised by an ``Upsert.fetch`` is
    that item's alone."""

    def begin(self, source: Any) -> str | None:
        """The change cursor for "from now on", taken before a backfill; None when the
        enumeration's own final link covers changes made while it ran."""
        ...

    def enumerate(self, source: Any, *, link: str | None, memo: dict[str, Any]) -> Iterator[Page]:
        """Every item of the source (from ``link`` when resuming), ending in a final link."""
        ...

    def changes(self, source: Any, *, link: str, memo: dict[str, Any]) -> Iterator[Page]:
        """What changed since ``link``."""
        ...

    def close(self) -> None: ...

    # Optional, for providers without a delete feed (ClickUp): ``present(source, *, memo)``
    # yields lists of the ids still at the source (the whole listing), and
    # ``presence_every: timedelta`` says how often the engine's presence sweep is due
    # (at least daily whatever it says). Adapters without them are never presence-swept.

    @property
    def request_count(self) -> int: ...
