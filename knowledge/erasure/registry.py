"""What an erasure is about (``Subject``), what it found (``Plan``), and the participants other
apps register so that knowledge can erase their rows without importing them.

A participant (registered from its app's ``AppConfig.ready`` with ``register``):

* ``covers`` — model label → what the erasure does with its rows (the coverage test reads it);
* ``documents(subject)`` — optional: a ``Q`` over ``knowledge.Document`` of further documents
  holding the subject's data (a connection's), purged with their chunks and files;
* ``count(subject, plan)`` — rows holding the subject's data, per table (``{"table": n}``);
* ``erase(subject, plan)`` — does its part inside the erasure's transaction, after the
  documents are purged; returns a ``Part`` (counts of what it did, and optionally work to do
  after commit — a provider call — whose counts join the receipt too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.db.models import Q


@dataclass(frozen=True)
class Subject:
    scope: str  # models.ErasureScope
    user_id: int | None = None
    tenant_id: int | None = None  # None with scope "user": every tenant

    @property
    def uid(self) -> int:
        """The user's id (a user's erasure only)."""
        if self.user_id is None:
            raise ValueError("a tenant's erasure has no user")
        return self.user_id

    @property
    def tid(self) -> int:
        """The tenant's id (a tenant's, or a user's erasure in one tenant)."""
        if self.tenant_id is None:
            raise ValueError("an account-wide erasure has no single tenant")
        return self.tenant_id

    @property
    def is_tenant(self) -> bool:
        return self.user_id is None

    def tenants(self, field_name: str = "tenant_id") -> Q:
        """Filter on the tenants in scope (every tenant for an account-wide erasure)."""
        return Q() if self.tenant_id is None else Q(**{field_name: self.tenant_id})


@dataclass
class Plan:
    """The rows found for a subject: documents (with their attachments) and their chunks."""

    subject: Subject
    document_ids: set[int] = field(default_factory=set)
    chunk_ids: set[int] = field(default_factory=set)
    files: list[str] = field(default_factory=list)
    tenant_ids: set[int] = field(default_factory=set)  # tenants where the subject had data or a membership
    user_ids: set[int] = field(default_factory=set)  # accounts the erasure deletes
    # Texts of the policy chunks among them (in memory only): cut out of quoted policy blocks.
    policy_texts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Part:
    info: dict[str, int] = field(default_factory=dict)
    after_commit: Callable[[], dict[str, int]] | None = None


@dataclass(frozen=True)
class Participant:
    name: str
    covers: Mapping[str, str]
    count: Callable[[Subject, Plan], dict[str, int]]
    erase: Callable[[Subject, Plan], Part]
    documents: Callable[[Subject], Q] | None = None


_participants: dict[str, Participant] = {}


def register(participant: Participant) -> None:
    _participants[participant.name] = participant


def participants() -> list[Participant]:
    return list(_participants.values())
