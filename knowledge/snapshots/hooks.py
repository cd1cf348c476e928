"""Where other apps contribute to snapshots (``knowledge`` imports none of them).

The connections app registers, from its ``AppConfig.ready``, a function that returns one
:class:`SourceSummary` per connection source shared with a tenant, and the models whose
changes should regenerate the tenant's snapshots::

    hooks.register_source_summaries(shared_source_summaries, senders=(Connection, ConnectionSource),
                                    relevant=affects_shared_sources)

``relevant(instance, **signal_kwargs)`` (optional) says whether a save or delete can change
the summaries at all (a personal source appearing cannot), so unrelated writes schedule nothing.

A summary carries three display strings and nothing else, so nothing but what the
allow-list names (``fields.SPECS``) can reach the snapshot through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SourceSummary:
    provider: str  # display name: "Microsoft 365"
    account_label: str  # the connection's label (dropped when it is a person's address)
    source_label: str  # "Support inbox"
    surface: str = ""  # display name of the kind of source: "Mail folder"


SummaryProvider = Callable[[int], Iterable[SourceSummary]]
Relevant = Callable[..., bool]

_providers: list[SummaryProvider] = []
_senders: list[Any] = []


def register_source_summaries(
    provider: SummaryProvider, *, senders: Iterable[Any] = (), relevant: Relevant | None = None
) -> None:
    """``provider(tenant_id)`` → the summaries of the sources shared with that tenant.
    ``senders``: models whose saves and deletes (rows with a ``tenant_id``) regenerate them,
    when ``relevant(instance, **signal_kwargs)`` (if given) says so."""
    if provider not in _providers:
        _providers.append(provider)
    for sender in senders:
        if sender not in _senders:
            _senders.append(sender)
            from knowledge.snapshots import triggers

            triggers.connect_sender(sender, relevant=relevant)


def source_summaries(tenant_id: int) -> list[SourceSummary]:
    found: list[SourceSummary] = []
    for provider in _providers:
        found.extend(provider(tenant_id))
    return found
