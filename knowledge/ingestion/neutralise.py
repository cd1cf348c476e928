"""The ``neutralise`` pipeline step and the one rule deciding when it applies (DESIGN §10).

``policy_for(tenant=, source_kind=)`` says whether a document of that source kind is
neutralised for that tenant and how: on by default for mail, Teams and ClickUp sources
(``DEFAULT_ON``), off for uploads, snapshots and drive files; a tenant's
:class:`~knowledge.models.NeutralisationSettings` row overrides it per source kind, sets
the locale (its national phone numbers count; international ones always do), person names
(off by default) and the published contacts that are never neutralised.

``step(work)`` is the only place where text is neutralised: whatever a document's text came
from (a file, a virtual document's inline text), what is chunked, embedded, indexed for
search and stored — section text and headings, the title, the document's name and its
inline text — passes through it. It records per-type counts (never values) on the job's
stats under ``pii``. Any failure fails the document: nothing is ever embedded raw.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from knowledge import models, neutralisation
from knowledge.ingestion.pipeline import NEUTRALISED_SHA256, IngestError, Work

logger = logging.getLogger(__name__)

DEFAULT_ON = frozenset({
    models.SourceKind.OUTLOOK, models.SourceKind.GMAIL, models.SourceKind.TEAMS, models.SourceKind.CLICKUP,
})


@dataclass(frozen=True)
class Policy:
    enabled: bool
    locale: str
    person_names: bool = False
    allow: tuple[str, ...] = ()  # the tenant's own published contact details

    def regions(self) -> tuple[str, ...]:
        """The phone regions of the locale; raises NeutralisationError when it names none
        (a misconfigured locale must fail the document, not quietly miss national numbers)."""
        regions = neutralisation.regions_for_locale(self.locale)
        if not regions:
            raise neutralisation.NeutralisationError(f"the locale {self.locale!r} names no known phone region")
        return regions


def locale_error(locale: str) -> str:
    """Why ``locale`` cannot be a tenant's neutralisation locale ("" when it can; empty
    means KB_DEFAULT_LOCALE)."""
    if locale.strip() and not neutralisation.regions_for_locale(locale):
        return f"the locale {locale!r} names no known phone region (use e.g. en-US, de-DE)"
    return ""


def default_enabled(source_kind: str) -> bool:
    return source_kind in DEFAULT_ON


def published_contacts(row: models.NeutralisationSettings | None) -> tuple[str, ...]:
    """The values never neutralised for the tenant. The hook for the business profile: it
    fills ``NeutralisationSettings.published_contacts`` (phone, e-mail, address)."""
    if row is None or not isinstance(row.published_contacts, list):
        return ()
    return tuple(str(v).strip() for v in row.published_contacts if isinstance(v, str) and v.strip())


def policy_for(*, tenant: models.Tenant, source_kind: str) -> Policy:
    row = models.NeutralisationSettings.objects.filter(tenant_id=tenant.pk).first()
    overrides = row.source_kinds if row is not None and isinstance(row.source_kinds, dict) else {}
    override = overrides.get(source_kind)
    enabled = override if isinstance(override, bool) else default_enabled(source_kind)
    return Policy(
        enabled=enabled,
        locale=(row.locale.strip() if row is not None else "") or settings.KB_DEFAULT_LOCALE,
        person_names=bool(row and row.person_names),
        allow=published_contacts(row),
    )


def neutraliser(policy: Policy) -> Callable[[str], neutralisation.Neutralised]:
    """``text -> Neutralised`` under ``policy`` (for other paths that must store text the way
    this step would, such as a rename of a neutralised virtual document)."""
    regions = policy.regions()

    def run(text: str) -> neutralisation.Neutralised:
        return neutralisation.neutralise(text, regions=regions, allow=policy.allow, person_names=policy.person_names)

    return run


# Placeholders written into a virtual document's stored source must survive its extraction
# when it is read again (a re-ingest): Markdown and HTML would take "<EMAIL>" for a tag.
_SOURCE_PLACEHOLDER = {
    "md": lambda p: "\\<" + p[1:-1] + "\\>",
    "html": lambda p: "&lt;" + p[1:-1] + "&gt;",
}


def _as_source(text: str, file_type: str) -> str:
    escape = _SOURCE_PLACEHOLDER.get(file_type)
    if escape is None:
        return text
    for placeholder in neutralisation.PLACEHOLDERS.values():
        text = text.replace(placeholder, escape(placeholder))
    return text


def step(work: Work) -> None:
    """Neutralise what the later steps chunk, embed and store, when the policy says so."""
    doc = work.document
    policy = policy_for(tenant=work.tenant, source_kind=doc.source_kind)
    if not policy.enabled:
        return
    counts: Counter[str] = Counter()
    try:
        run = neutraliser(policy)

        def clean(text: str, *, count: bool = True) -> str:
            if not text:
                return text
            result = run(text)
            if count:
                counts.update(result.counts)
            return result.text

        work.title = clean(work.title)
        for section in work.sections:
            section.text = clean(section.text)
            section.heading = clean(section.heading)
        # The document's own stored text: its name (a mail's subject) and a virtual
        # document's inline text, written by the store in the same transaction as the chunks.
        # Not counted again: the sections and title above are the same values.
        name = clean(doc.name, count=False)
        if name != doc.name:
            work.document_updates["name"] = name
        if not doc.file and doc.inline_text:
            inline = _as_source(clean(doc.inline_text, count=False), doc.file_type)
            if inline != doc.inline_text:
                work.document_updates["inline_text"] = inline
                # content_sha256 stays the hash of the source's own text (what makes an
                # unchanged item a no-op); the read step accepts this one for the stored text.
                work.document_updates["metadata"] = {
                    **doc.metadata, NEUTRALISED_SHA256: hashlib.sha256(inline.encode("utf-8")).hexdigest(),
                }
    except neutralisation.NeutralisationError as exc:
        raise IngestError(f"PII neutralisation failed, so nothing was stored: {exc}") from exc
    except Exception as exc:  # anything else inside the step: the document fails, raw text is never kept
        logger.exception("ingest job %s: PII neutralisation crashed", work.job.pk)
        raise IngestError(
            f"PII neutralisation failed, so nothing was stored ({type(exc).__name__}; details in the worker's log)"
        ) from exc
    work.stats.pii = dict(sorted(counts.items()))
