"""Phone numbers: a cheap candidate regex, then ``phonenumbers`` decides.

A candidate is a run of digits with the separators people write (spaces, dots, dashes,
slashes, brackets, ``(0)``), optionally led by ``+`` or ``00`` and followed by an
extension (``x123``, ``ext. 12``). It is a phone number when it is a *valid* number
(``phonenumbers.is_valid_number``: right length and a number range in use):

* written internationally (``+44 …``, ``0049 …``): any country;
* written nationally: for one of the configured regions. For regions whose national
  prefix is ``0`` (DE, GB, FR, NL …) the candidate must start with it, so order numbers,
  postcodes and the like are not read as numbers without their area code's ``0``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import phonenumbers

# At least 7 digits, separators between digit groups, no letters glued on either side.
_CANDIDATE = re.compile(
    r"(?<![\w+\-./])"
    r"(?:\+|\b00)?"
    r"(?:\(\+?\d{1,6}\)[ \u00a0\-]?)?"  # (0161), (07773) or (+44)
    r"\d(?:[\d]|[ \u00a0.\-/](?=[\d(])|\((?:0|\d{1,4})\)[ \u00a0]?|[ \u00a0]?\(0\)[ \u00a0]?){3,24}\d"
    r"(?:[ \u00a0]?(?:x|ext\.?|extension|Durchwahl|poste)[ \u00a0]?\d{1,6})?"
    r"(?![\w]|[.\-/]\d)",
    re.IGNORECASE,
)
_LEADING_PAREN = re.compile(r"^\((\+?\d{1,6})\)")
# 12.03.2024, 05/29/2026, 2024-03-12: dates, however many digits they have.
_DATE = re.compile(r"\d{1,4}([./\-])\d{1,2}\1\d{2,4}")
_DIGITS = re.compile(r"\d")
_MIN_DIGITS = 7

# A bare run of digits that neither starts with a trunk "0" nor a "+" (US "4083187538",
# Italian "3420837783", Spanish "612345678") is as often an order or customer number: it
# counts as a phone number only after a word that announces one, or alone on its line
# (as in a signature).
BARE_NEEDS_CONTEXT = True
_BARE = re.compile(r"[1-9]\d{6,14}")
_CONTEXT_WINDOW = 32
_PHONE_CONTEXT = re.compile(
    r"(?:\b(?:call|phone|tel|mobile|mob|cell|ring|reach|voicemail|fax|whatsapp|sms|text me|contact"
    r"|anruf|ruf|handy|telefon|erreichbar|mobil|appel|t[ée]l[ée]phone|portable|joignable|t[ée]l"
    r"|llam|tel[ée]fono|m[óo]vil|celular|contacto|bel|mobiel|telefoon|bereikbaar"
    r"|chiam|richiam|cellulare|raggiungibile)|\b[tmfp]\s?[:.])",
    re.IGNORECASE,
)


class UnknownRegion(ValueError):
    """A region code phonenumbers does not know."""


@functools.lru_cache(maxsize=64)
def check_regions(regions: tuple[str, ...]) -> tuple[str, ...]:
    """Upper-cased region codes; raises UnknownRegion for one phonenumbers does not know."""
    checked = tuple(dict.fromkeys(region.upper() for region in regions))
    for region in checked:
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise UnknownRegion(f"unknown phone region {region!r}")
    return checked


@functools.lru_cache(maxsize=64)
def _trunk_prefix(region: str) -> str:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return (metadata.national_prefix or "") if metadata else ""


def parse(candidate: str, regions: Sequence[str]) -> phonenumbers.PhoneNumber | None:
    """The valid phone number ``candidate`` spells for one of ``regions`` or internationally."""
    stripped = candidate.strip()
    if stripped.startswith("("):
        # "(+44) 20 …" and "(0161) 496 …": the bracket holds a prefix, not an aside.
        stripped = _LEADING_PAREN.sub(r"\1", stripped)
    if stripped.startswith("+") or stripped.startswith("00"):
        international = "+" + stripped.lstrip("+")[2:] if stripped.startswith("00") else stripped
        try:
            number = phonenumbers.parse(international, None)
        except phonenumbers.NumberParseException:
            return None
        return number if phonenumbers.is_valid_number(number) else None
    for region in regions:
        if _trunk_prefix(region) == "0" and not stripped.lstrip("(").startswith("0"):
            continue
        try:
            number = phonenumbers.parse(stripped, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    return None


def find(text: str, regions: Sequence[str],
         outside: Sequence[tuple[int, int, Any, Any]] = ()) -> list[tuple[int, int, str]]:
    """All valid phone numbers in ``text`` as (start, end, E.164).

    ``outside``: spans (start, end, …) in text order, non-overlapping, that win over any
    phone number overlapping them (a card's or an IBAN's digit groups); candidates
    overlapping one are not parsed."""
    found: list[tuple[int, int, str]] = []
    seen: dict[str, str | None] = {}  # a thread quotes the same numbers again and again
    blocked = iter(outside)
    block = next(blocked, None)
    for match in _CANDIDATE.finditer(text):
        while block is not None and block[1] <= match.start():
            block = next(blocked, None)
        if block is not None and block[0] < match.end():
            continue
        candidate = match.group(0)
        if len(_DIGITS.findall(candidate)) < _MIN_DIGITS or _DATE.fullmatch(candidate):
            continue
        if BARE_NEEDS_CONTEXT and _BARE.fullmatch(candidate) and not _announced(text, match):
            continue
        if candidate in seen:
            e164 = seen[candidate]
        else:
            number = parse(candidate, regions)
            e164 = seen[candidate] = (
                None if number is None else phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        if e164 is not None:
            found.append((match.start(), match.end(), e164))
    return found


def _announced(text: str, match: re.Match[str]) -> bool:
    if _PHONE_CONTEXT.search(text, max(0, match.start() - _CONTEXT_WINDOW), match.start()):
        return True
    line_start = text.rfind("\n", 0, match.start()) + 1
    line_end = text.find("\n", match.end())
    line = text[line_start:len(text) if line_end == -1 else line_end]
    return line.strip() == match.group(0)


def normalised(value: str, regions: Iterable[str]) -> str | None:
    """E.164 form of ``value`` when it is a valid phone number (for the allow-list)."""
    number = parse(value, tuple(regions))
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A language alone names no country; these are the likeliest for the locales we serve.
_LANGUAGE_REGIONS = {"en": ("US", "GB"), "de": ("DE", "AT", "CH"), "fr": ("FR", "BE", "CH"),
                     "es": ("ES",), "nl": ("NL", "BE"), "it": ("IT",)}


def regions_for_locale(locale: str) -> tuple[str, ...]:
    """Phone regions for a locale: "en-US" → ("US",), "de_DE" → ("DE",), "de" → ("DE", "AT", "CH")."""
    parts = re.split(r"[-_]", locale.strip())
    if len(parts) >= 2 and parts[-1].upper() in phonenumbers.SUPPORTED_REGIONS:
        return (parts[-1].upper(),)
    return _LANGUAGE_REGIONS.get(parts[0].lower(), ())
