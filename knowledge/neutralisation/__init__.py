"""PII neutralisation: pure (no ORM, no settings), offline, one engine per process.

Contract::

    neutralise(text, *, regions, allow=(), person_names=False) -> Neutralised(text, counts)

* Replaces e-mail addresses, phone numbers, payment card numbers, IBANs and national ids
  (see ``national_ids``) with the typed placeholders ``<EMAIL>``, ``<PHONE>``, ``<CARD>``,
  ``<IBAN>``, ``<NATIONAL_ID>``; with ``person_names=True`` also names announced by a
  salutation, title or sign-off with ``<PERSON>`` (see ``persons``). Placeholders are not
  numbered, so the same value always becomes the same placeholder within a document and
  across documents.
* ``regions``: ISO country codes whose nationally written numbers count as phone numbers
  (``regions_for_locale("de-DE")`` → ``("DE",)``); numbers written internationally
  (``+…``, ``00…``) count for every country. An unknown region raises.
* ``allow``: values never neutralised — the tenant's own published phone, e-mail,
  address. Compared whitespace- and case-insensitively; phone numbers by their E.164 form,
  so ``030 1234567`` is allowed by ``+49 30 1234567`` when DE is a region.
* ``detect(text, *, regions, allow=(), person_names=False) -> list[Found(start, end, entity)]``:
  the same spans without replacing them (to refuse text that holds PII, and to measure).
* ``counts``: spans replaced per type (``{"EMAIL": 2, "PHONE": 1}``) — never values.
* Any internal failure raises ``NeutralisationError``; raw text is never returned.
* Offline: Presidio's ``no_op`` NLP engine (no spaCy model) and tldextract's bundled
  suffix list; nothing is downloaded. The Presidio engines are built lazily on the
  first call (``engine.engines()``), once per process; importing this package is cheap.
"""

from knowledge.neutralisation.engine import (
    Found,
    NeutralisationError,
    Neutralised,
    detect,
    neutralise,
)
from knowledge.neutralisation.entities import PLACEHOLDERS
from knowledge.neutralisation.phones import regions_for_locale

__all__ = [
    "PLACEHOLDERS", "Found", "Neutralised", "NeutralisationError", "detect", "neutralise",
    "regions_for_locale",
]
