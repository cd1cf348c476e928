"""The Presidio recognizers the engine's analyzer runs: Presidio's own for e-mail and IBAN,
ours for cards and national ids, all without an NLP model. Phone numbers and person names
are found after them, outside their spans (``engine._analyse``).

``needs_digit``: the recognizer finds nothing in text without a digit, so it is skipped there."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import tldextract
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import EmailRecognizer, IbanRecognizer

from knowledge.neutralisation import cards, national_ids
from knowledge.neutralisation.entities import CARD, EMAIL, IBAN, NATIONAL_ID, SCORES

LANGUAGE = "en"  # Presidio wants a language; every recognizer here is language-neutral.


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, its domain check against tldextract's bundled public
    suffix list: no suffix-list download, no cache directory."""

    def __init__(self) -> None:
        super().__init__(supported_entity=EMAIL, supported_language=LANGUAGE)

    def load(self) -> None:
        self._extract = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(),
                                              fallback_to_snapshot=True)
        self._extract("warm@example.com")  # builds the suffix trie now, not on the first mail

    def validate_result(self, pattern_text: str) -> bool:
        return self._extract(pattern_text).fqdn != ""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None,
                regex_flags: int | None = None) -> list[RecognizerResult]:
        # Presidio's pattern costs ~1 ms per KB when run over the whole text; an address
        # holds no whitespace, so it runs only over the words around each "@".
        results: list[RecognizerResult] = []
        for start, end in _windows_around(text, "@"):
            for result in super().analyze(text[start:end], entities, nlp_artifacts, regex_flags):
                result.start += start
                result.end += start
                result.score = SCORES[EMAIL]
                results.append(result)
        return results


_LOCAL_MAX = 100  # characters before "@" looked at (the RFC allows 64)
_DOMAIN_MAX = 260


def _windows_around(text: str, char: str) -> list[tuple[int, int]]:
    """Merged spans reaching from the whitespace before each ``char`` to the whitespace after."""
    windows: list[tuple[int, int]] = []
    at = text.find(char)
    while at != -1:
        start, floor = at, max(0, at - _LOCAL_MAX)
        while start > floor and not text[start - 1].isspace():
            start -= 1
        end, ceiling = at + 1, min(len(text), at + _DOMAIN_MAX)
        while end < ceiling and not text[end].isspace():
            end += 1
        start, end = max(0, start - 1), min(len(text), end + 1)  # keep the boundary for \b
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(end, windows[-1][1]))
        else:
            windows.append((start, end))
        at = text.find(char, end)
    return windows


class ValidatedIbanRecognizer(IbanRecognizer):
    """Presidio's IBAN recognizer (pattern + ISO 7064 checksum + per-country format)."""

    needs_digit = True  # the check digits

    def __init__(self) -> None:
        super().__init__(supported_entity=IBAN, supported_language=LANGUAGE)

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None,
                regex_flags: int | None = None) -> list[RecognizerResult]:
        # Presidio's pattern only matches from a country code and check digits ("DE89"): no
        # such pair, no call. (Running it only over the stretches after each pair is slower:
        # the pattern scans a whole text faster than Presidio's per-call set-up runs.)
        if _IBAN_START.search(text) is None:
            return []
        results: list[RecognizerResult] = super().analyze(text, entities, nlp_artifacts)  # flags unused
        for result in results:
            result.score = SCORES[IBAN]
        return results


# What Presidio's IBAN pattern (IbanRecognizer.PATTERNS, case-sensitive) must start with.
_IBAN_START = re.compile(r"[A-Z]{2}[0-9]{2}")


class SpanRecognizer(EntityRecognizer):
    """A recognizer around a plain function that returns (start, end, …) spans."""

    def __init__(self, *, entity: str, find: Callable[[str], Sequence[tuple[Any, ...]]],
                 needs_digit: bool) -> None:
        self._find = find
        self._entity = entity
        self.needs_digit = needs_digit
        super().__init__(supported_entities=[entity], name=f"kb_{entity.lower()}",
                         supported_language=LANGUAGE)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None,
                regex_flags: int | None = None) -> list[RecognizerResult]:
        score = SCORES[self._entity]
        return [RecognizerResult(self._entity, span[0], span[1], score) for span in self._find(text)]


def fixed() -> list[EntityRecognizer]:
    """The recognizers that do not depend on the call: built once with the engine."""
    return [
        OfflineEmailRecognizer(),
        ValidatedIbanRecognizer(),
        SpanRecognizer(entity=CARD, find=cards.find, needs_digit=True),
        # Every id rule holds a digit (an all-letter omocodic codice fiscale is not looked for).
        SpanRecognizer(entity=NATIONAL_ID, find=national_ids.find, needs_digit=True),
    ]
