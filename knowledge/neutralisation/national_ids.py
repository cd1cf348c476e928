"""National identity numbers: candidate patterns, check-digit validators, context rules.

Supported (each validated, never matched on shape alone):

=========  ==========================================  ==========================  ========
country    id                                          validator                   context
=========  ==========================================  ==========================  ========
US         Social Security Number                      ``stdnum.us.ssn``           only when written without dashes
GB         National Insurance number (NINO)            HMRC prefix/suffix rules    no
DE         Steuerliche Identifikationsnummer (IdNr)    ``stdnum.de.idnr``          yes
FR         NIR (numéro de sécurité sociale)            ``stdnum.fr.nir``           no
ES         DNI and NIE                                 ``stdnum.es.dni``/``nie``   no
NL         BSN (burgerservicenummer)                   ``stdnum.nl.bsn``           yes
IT         codice fiscale                              ``stdnum.it.codicefiscale`` no
=========  ==========================================  ==========================  ========

"context" means a keyword (``SSN``, ``Steuer-ID``, ``BSN`` …) must appear shortly before
the number: a bare run of 9 or 11 digits that passes a weak check digit (BSN's 11-test
passes one random number in eleven) is as likely an order or customer number.
python-stdnum has no NINO module, hence the few HMRC rules here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.us import ssn

# How far before a context-gated number its keyword may stand (characters).
CONTEXT_WINDOW = 40

_NINO_BAD_FIRST = set("DFIQUV")
_NINO_BAD_SECOND = set("DFIOQUV")
_NINO_BAD_PREFIXES = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def nino_is_valid(value: str) -> bool:
    """HMRC's published format rules for a National Insurance number."""
    compact = re.sub(r"[\s\-]", "", value).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{6}[A-D]", compact):
        return False
    first, second = compact[0], compact[1]
    return (
        first not in _NINO_BAD_FIRST
        and second not in _NINO_BAD_SECOND
        and compact[:2] not in _NINO_BAD_PREFIXES
    )


def _ssn_is_valid(value: str) -> bool:
    return bool(ssn.is_valid(value))


@dataclass(frozen=True)
class IdRule:
    """One kind of national id: where to look, how to check, whether a keyword must precede it."""

    name: str
    pattern: re.Pattern[str]
    validate: Callable[[str], bool]
    context: tuple[str, ...] = ()


def _rx(body: str) -> re.Pattern[str]:
    # Not glued to letters, digits or another separator-joined group on either side.
    return re.compile(rf"(?<![\w\-/.])(?:{body})(?![\w]|[\-/.]\w)")


RULES: tuple[IdRule, ...] = (
    IdRule("us_ssn_dashed", _rx(r"\d{3}-\d{2}-\d{4}"), _ssn_is_valid),
    IdRule(
        "us_ssn",
        _rx(r"\d{3}[ ]?\d{2}[ ]?\d{4}"),
        _ssn_is_valid,
        context=("ssn", "social security", "soc. sec", "ss#", "ss #"),
    ),
    IdRule("gb_nino", re.compile(r"(?<![\w])[A-Za-z]{2}[ ]?\d{2}[ ]?\d{2}[ ]?\d{2}[ ]?[A-Da-d](?!\w)"),
           nino_is_valid),
    IdRule(
        "de_idnr",
        _rx(r"\d{2}[ ]?\d{3}[ ]?\d{3}[ ]?\d{3}"),
        lambda v: bool(idnr.is_valid(v)),
        context=("steuer-id", "steuerid", "steuer id", "steuer-identifikationsnummer",
                 "identifikationsnummer", "idnr", "tax id", "tin", "steuernummer"),
    ),
    IdRule(
        "fr_nir",
        _rx(r"[12][ ]?\d{2}[ ]?\d{2}[ ]?(?:\d{2}|2[AB])[ ]?\d{3}[ ]?\d{3}[ ]?\d{2}"),
        lambda v: bool(nir.is_valid(v)),
    ),
    # Capital letters only: "12345678 a" / "… y" are a number and a word ("and" in Spanish).
    IdRule("es_dni", _rx(r"\d{8}[ \-]?[A-Z]"), lambda v: bool(dni.is_valid(v))),
    IdRule("es_nie", _rx(r"[XYZ][ \-]?\d{7}[ \-]?[A-Z]"), lambda v: bool(nie.is_valid(v))),
    IdRule(
        "nl_bsn",
        _rx(r"\d{4}[ .]?\d{2}[ .]?\d{3}|\d{3}[ .]\d{3}[ .]\d{3}"),
        lambda v: bool(bsn.is_valid(v)),
        context=("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer", "citizen service number"),
    ),
    IdRule(
        "it_codice_fiscale",
        re.compile(r"(?<![\w])[A-Za-z]{6}[0-9LMNPQRSTUVlmnpqrstuv]{2}[A-Za-z][0-9LMNPQRSTUVlmnpqrstuv]{2}"
                   r"[A-Za-z][0-9LMNPQRSTUVlmnpqrstuv]{3}[A-Za-z](?!\w)"),
        lambda v: bool(codicefiscale.is_valid(v.upper())),
    ),
)


@functools.lru_cache(maxsize=32)
def _context_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(k) for k in keywords) + r")(?!\w)", re.IGNORECASE)


def has_context(text: str, start: int, keywords: tuple[str, ...]) -> bool:
    """Whether one of ``keywords`` (as whole words) stands within CONTEXT_WINDOW characters
    before ``start``."""
    window = text[max(0, start - CONTEXT_WINDOW):start]
    return _context_pattern(keywords).search(window) is not None


# Where an id can start: one pass per group finds the positions where an id could start and
# at least one rule of the group matches (most digit runs are times, prices, order numbers:
# nothing to try); there the group's rules are tried in order, anchored.
_DIGIT_LED = r"(?<![\w\-/.])(?=\d[\d \-.]{4})"
_LETTER_LED = r"(?<!\w)(?=[A-Za-z][A-Za-z]{0,5}[ \-]?\d)"
_LETTER_RULES = frozenset({"gb_nino", "es_nie", "it_codice_fiscale"})
assert all(rule.pattern.flags == re.UNICODE for rule in RULES)  # none the combined patterns would lose
_GROUPS = tuple(
    (re.compile(starts + "(?=" + "|".join(f"(?:{rule.pattern.pattern})" for rule in rules) + ")"), rules)
    for starts, rules in (
        (_DIGIT_LED, tuple(r for r in RULES if r.name not in _LETTER_RULES)),
        (_LETTER_LED, tuple(r for r in RULES if r.name in _LETTER_RULES)),
    )
)


def find(text: str) -> list[tuple[int, int, str]]:
    """All validated national ids in ``text`` as (start, end, rule name)."""
    found: list[tuple[int, int, str]] = []
    for candidates, rules in _GROUPS:
        for candidate in candidates.finditer(text):
            position = candidate.start()
            for rule in rules:
                match = rule.pattern.match(text, position)
                if match is None:
                    continue
                if rule.context and not has_context(text, match.start(), rule.context):
                    continue
                if rule.validate(match.group(0)):
                    found.append((match.start(), match.end(), rule.name))
                    break
    return found
