"""``neutralise``: Presidio's analyzer finds the spans, its anonymizer writes the placeholders."""

from __future__ import annotations

import bisect
import contextlib
import functools
import logging
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from knowledge.neutralisation import entities as ent
from knowledge.neutralisation import phones

logger = logging.getLogger(__name__)


class NeutralisationError(Exception):
    """Neutralisation did not complete; the caller must not use the text."""


@dataclass(frozen=True)
class Neutralised:
    text: str
    counts: dict[str, int] = field(default_factory=dict)  # placeholder type -> spans replaced


@dataclass
class _Engines:
    analyzer: Any
    anonymizer: Any
    operators: dict[str, Any]
    built_in_seconds: float


_LANGUAGE = "en"  # Presidio wants a language; every recognizer here is language-neutral.
_lock = threading.Lock()
_engines: _Engines | None = None


# Presidio imports transformers and torch when they are installed (the ``local`` extra
# brings them for the embedding model's export) — 10+ s and hundreds of MB for NLP engines
# the no_op engine never uses. Hidden while Presidio is imported, unless already loaded.
_NOT_FOR_PRESIDIO = ("transformers", "torch")


@contextlib.contextmanager
def _without_heavy_optional_imports() -> Iterator[None]:
    hidden = [name for name in _NOT_FOR_PRESIDIO if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def _build() -> _Engines:
    started = time.perf_counter()
    with _without_heavy_optional_imports():
        import presidio_analyzer  # noqa: F401
        import presidio_anonymizer  # noqa: F401
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig

    from knowledge.neutralisation import recognizers as rec

    class _NoContext(ContextAwareEnhancer):
        # Context words need tokens the no_op engine does not produce; our recognizers
        # that need context (some national ids) check it themselves.
        def __init__(self) -> None:
            super().__init__(context_similarity_factor=0, min_score_with_context_similarity=0,
                             context_prefix_count=0, context_suffix_count=0)

        def enhance_using_context(self, text: str, raw_results: list[Any], nlp_artifacts: Any,
                                  recognizers: list[Any], context: list[str] | None = None,
                                  ) -> list[Any]:
            return raw_results

    nlp_engine = NoOpNlpEngine(models=[{"lang_code": _LANGUAGE, "model_name": "no_op"}])
    nlp_engine.load()
    registry = RecognizerRegistry(recognizers=rec.fixed(), supported_languages=[_LANGUAGE])
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine,
                              supported_languages=[_LANGUAGE], context_aware_enhancer=_NoContext())
    operators = {entity: OperatorConfig("replace", {"new_value": placeholder})
                 for entity, placeholder in ent.PLACEHOLDERS.items()}
    engines = _Engines(analyzer=analyzer, anonymizer=AnonymizerEngine(), operators=operators,
                       built_in_seconds=time.perf_counter() - started)
    logger.info("PII engine built in %.3f s", engines.built_in_seconds)
    return engines


def engines() -> _Engines:
    """The analyzer and anonymizer, built on first use, once per process."""
    global _engines
    if _engines is None:
        with _lock:
            if _engines is None:
                _engines = _build()
    return _engines


@functools.lru_cache(maxsize=64)
def _phone_recognizer(regions: tuple[str, ...]) -> Any:
    from knowledge.neutralisation import recognizers as rec

    return rec.phone(regions)


@functools.lru_cache(maxsize=1)
def _person_recognizer() -> Any:
    from knowledge.neutralisation import recognizers as rec

    return rec.person()


_SPACES = re.compile(r"\s+")


def _key(value: str) -> str:
    return _SPACES.sub(" ", value.strip()).casefold()


def _allowed(allow: Iterable[str], regions: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """Allow-list values as plain keys and as E.164 phone numbers."""
    keys: set[str] = set()
    numbers: set[str] = set()
    for value in allow:
        if not value or not value.strip():
            continue
        keys.add(_key(value))
        number = phones.normalised(value, regions)
        if number:
            numbers.add(number)
    return keys, numbers


def _resolve(results: list[Any]) -> list[Any]:
    """Non-overlapping spans in text order: the higher score wins, then the longer span."""
    starts: list[int] = []
    kept: list[Any] = []
    for result in sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
        index = bisect.bisect_left(starts, result.start)
        if index > 0 and kept[index - 1].end > result.start:
            continue
        if index < len(kept) and kept[index].start < result.end:
            continue
        starts.insert(index, result.start)
        kept.insert(index, result)
    return kept


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    entity: str


def _check(text: str, regions: Sequence[str]) -> tuple[str, ...]:
    if not isinstance(text, str):
        raise NeutralisationError(f"text must be a str, not {type(text).__name__}")
    try:
        return phones.check_regions(tuple(regions))
    except phones.UnknownRegion as exc:
        raise NeutralisationError(str(exc)) from exc


def _analyse(text: str, regions: tuple[str, ...], allow: Iterable[str], person_names: bool) -> list[Any]:
    built = engines()
    entities = list(ent.ALWAYS) + ([ent.PERSON] if person_names else [])
    ad_hoc = [_phone_recognizer(regions)] + ([_person_recognizer()] if person_names else [])
    results = built.analyzer.analyze(text=text, language=_LANGUAGE, entities=entities,
                                     ad_hoc_recognizers=ad_hoc)
    allow_keys, allow_numbers = _allowed(allow, regions)
    if allow_keys:
        results = [r for r in results if not _is_allowed(text[r.start:r.end], r.entity_type,
                                                         allow_keys, allow_numbers, regions)]
    return _resolve(results)


def detect(
    text: str,
    *,
    regions: Sequence[str],
    allow: Iterable[str] = (),
    person_names: bool = False,
) -> list[Found]:
    """The spans ``neutralise`` would replace, in text order (for checks that refuse text
    holding PII, and for measuring)."""
    checked = _check(text, regions)
    if not text:
        return []
    try:
        kept = _analyse(text, checked, allow, person_names)
    except Exception as exc:
        raise NeutralisationError(f"PII detection failed: {type(exc).__name__}") from exc
    return [Found(r.start, r.end, r.entity_type) for r in kept]


def neutralise(
    text: str,
    *,
    regions: Sequence[str],
    allow: Iterable[str] = (),
    person_names: bool = False,
) -> Neutralised:
    """Replace e-mail addresses, phone numbers (of ``regions`` or written internationally),
    card numbers, IBANs and national ids — and, if asked, names announced by a salutation —
    with typed placeholders. Values in ``allow`` (the tenant's own published contact
    details; phone numbers compared in E.164) stay. Raises NeutralisationError rather than
    ever returning text it could not finish."""
    checked = _check(text, regions)
    if not text:
        return Neutralised(text="", counts={})
    try:
        kept = _analyse(text, checked, allow, person_names)
        anonymised = engines().anonymizer.anonymize(text=text, analyzer_results=kept,
                                                    operators=engines().operators,
                                                    merge_entities_with_spaces=False)
        result_text = anonymised.text
        if not isinstance(result_text, str):
            raise TypeError("anonymizer returned no text")
    except Exception as exc:
        # Never hand back raw text: the caller fails the document instead.
        raise NeutralisationError(f"neutralisation failed: {type(exc).__name__}") from exc
    counts = Counter(r.entity_type for r in kept)
    return Neutralised(text=result_text, counts=dict(counts))


def _is_allowed(value: str, entity: str, keys: set[str], numbers: set[str],
                regions: tuple[str, ...]) -> bool:
    if _key(value) in keys:
        return True
    return entity == ent.PHONE and bool(numbers) and phones.normalised(value, regions) in numbers
