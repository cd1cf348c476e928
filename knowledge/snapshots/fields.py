"""Which fields of which models may reach a snapshot: the allow-lists (DESIGN §10).

Every model whose values feed a snapshot has a :class:`FieldSpec` in ``SPECS``: its fields
are either allowed (the renderer may read them) or denied, and :func:`unclassified` names
any concrete field that is neither — the coverage test fails on it, so a new column (an
OAuth token, a person's phone) can never drift into a snapshot unnoticed.

Denied by construction: a field whose name says it holds a secret or a person's contact
details (``SENSITIVE_PARTS``: token, key, hash, password, e-mail, phone…) cannot be allowed
— ``check`` refuses such a spec — except the business's own published contacts, named
explicitly in ``published``.

Models are named by label (``"connections.Connection"``): ``knowledge`` imports no other app.
Pure: no ORM queries, no settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Name parts that mark a field as secret or as a person's contact details.
SENSITIVE_PARTS = frozenset({
    "token", "tokens", "secret", "password", "key", "hash", "sha256", "enc", "cursor", "email", "mail",
    "phone", "mobile", "fax", "iban", "card", "ssn", "ip",
})


@dataclass(frozen=True)
class FieldSpec:
    label: str  # "app_label.ModelName"
    allow: frozenset[str]
    deny: frozenset[str]
    # Allowed although their names look sensitive: the business's own public contact details.
    published: frozenset[str] = field(default_factory=frozenset)


def _spec(label: str, *, allow: tuple[str, ...], deny: tuple[str, ...], published: tuple[str, ...] = ()) -> FieldSpec:
    return FieldSpec(label=label, allow=frozenset(allow), deny=frozenset(deny), published=frozenset(published))


SPECS: dict[str, FieldSpec] = {
    spec.label: spec
    for spec in (
        _spec(
            "knowledge.TenantProfile",
            allow=("name", "description", "address", "phone", "email", "timezone", "locale", "opening_hours",
                   "exceptions", "service_area"),
            deny=("id", "tenant", "updated_by", "updated_at"),
            published=("phone", "email"),
        ),
        # The directory's heading when the tenant has no profile.
        _spec(
            "knowledge.Tenant",
            allow=("name",),
            deny=("id", "slug", "retrieval_enabled", "embeddings_enabled", "embedding_tokens_used",
                  "policy_max_chars", "policy_version", "created_at"),
        ),
        # ``listed`` selects the rows; only the name and title a member chose are rendered.
        _spec(
            "knowledge.MemberDirectoryEntry",
            allow=("display_name", "title"),
            deny=("id", "tenant", "membership", "listed", "updated_at"),
        ),
        # Summaries of shared connection sources come through a hook (``hooks``) as
        # provider + account label + source label; these are the fields behind them.
        _spec(
            "connections.Connection",
            allow=("provider", "account_label"),
            deny=("id", "tenant", "owner", "external_account_id", "status", "status_reason", "last_sync_at",
                  "next_sync_at", "purge_receipt", "created_at", "updated_at"),
        ),
        _spec(
            "connections.ConnectionSource",
            allow=("label", "surface"),
            deny=("id", "tenant", "connection", "root_id", "parent_id", "share", "kind", "mail_tier", "extra",
                  "created_at", "updated_at"),
        ),
    )
}


def is_sensitive(name: str) -> bool:
    return any(part in SENSITIVE_PARTS for part in name.lower().split("_"))


def check(spec: FieldSpec) -> list[str]:
    """What is wrong with a spec itself: a field both allowed and denied, or a sensitive-looking
    field allowed without being one of the business's published contacts."""
    problems = [f"{spec.label}.{name} is both allowed and denied" for name in sorted(spec.allow & spec.deny)]
    problems += [
        f"{spec.label}.{name} looks secret or personal: it must be denied"
        for name in sorted(spec.allow - spec.published) if is_sensitive(name)
    ]
    problems += [f"{spec.label}.{name} is published but not allowed" for name in sorted(spec.published - spec.allow)]
    return problems


def unclassified(spec: FieldSpec, field_names: list[str]) -> list[str]:
    """The model's fields (``field_names``: its concrete fields) that the spec neither allows nor denies."""
    known = spec.allow | spec.deny
    return [f"{spec.label}.{name}" for name in field_names if name not in known]


def project(obj: Any, spec: FieldSpec) -> dict[str, Any]:
    """The allowed fields of ``obj`` and nothing else: the only way a renderer sees a row."""
    problems = check(spec)
    if problems:
        raise ValueError("; ".join(problems))
    return {name: getattr(obj, name) for name in sorted(spec.allow)}
