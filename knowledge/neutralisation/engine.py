"""``neutralise``: Presidio's recognizers find the spans, its anonymizer writes the placeholders.

Cost per call (profiled on the benchmark's dense 0.4 KB texts): the recognizers themselves
and ``phonenumbers`` dominate, so the engine does no work they would not change:

* the analyzer is Presidio's ``AnalyzerEngine`` with ``analyze`` trimmed to running the
  recognizers (its NLP-artifacts pass, context enhancement, decision-process bookkeeping
  and duplicate removal do nothing with the ``no_op`` engine and our own span resolution,
  and cost as much as the e-mail, IBAN and card recognizers together);
* recognizers skip text that cannot hold their type (no digit: no IBAN, card, id or phone);
* phone numbers are looked for last: a candidate inside a span of a stronger type that is
  kept anyway (a card's or IBAN's digit groups, an id) is not parsed at all.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from knowledge.neutralisation import entities as ent
from knowledge.neutralisation import persons, phones

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
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import EngineResult, OperatorConfig

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

    class _Analyzer(AnalyzerEngine):
        """Presidio's AnalyzerEngine whose ``analyze`` only runs the registry's recognizers.

        Presidio's own ``analyze`` also builds NLP artifacts (empty with ``no_op``), runs
        the context enhancer (ours returns its input), records the decision process and
        removes duplicates (``_resolve`` does that, across types too): ~0.3 CPU ms per KB
        on the benchmark's dense texts. Digit-led recognizers are skipped on text without
        a digit.
        """

        def analyze(self, text: str, language: str, entities: list[str] | None = None,
                    *args: Any, **kwargs: Any) -> list[RecognizerResult]:
            wanted = list(entities) if entities else self.get_supported_entities(language)
            has_digit = _DIGIT.search(text) is not None
            results: list[RecognizerResult] = []
            for recognizer in self.registry.recognizers:
                if recognizer.supported_entities[0] not in wanted:
                    continue
                if not has_digit and getattr(recognizer, "needs_digit", False):
                    continue
                # Presidio's pattern recognizers take no artifacts; ours ignore them.
                results.extend(recognizer.analyze(text=text, entities=wanted,
                                                  nlp_artifacts=None))  # type: ignore[arg-type]
            return results

    class _Anonymizer(AnonymizerEngine):
        """Presidio's AnonymizerEngine: its ``anonymize`` runs as written, the per-entity steps
        it calls are cut to what they do with the spans it gets here — already resolved,
        non-overlapping ``_Span`` tuples, one ``replace`` operator per type. Presidio's copy,
        conflict resolution and operator objects (~0.2 CPU ms per KB on the benchmark's
        dense texts) become a list, a no-op and a splice. The result carries the text, not
        Presidio's per-item list (nobody reads it)."""

        @staticmethod
        def _copy_recognizer_results(analyzer_results: list[Any]) -> list[Any]:
            return list(analyzer_results)  # immutable tuples: nothing to protect

        def _remove_conflicts_and_get_text_manipulation_data(self, analyzer_results: list[Any],
                                                             conflict_resolution: Any) -> list[Any]:
            return analyzer_results  # _resolve() left no overlaps (checked in _operate)

        def _operate(self, text: str, pii_entities: list[Any], operators_metadata: dict[str, Any],
                     operator_type: Any, **operator_kwargs: Any) -> EngineResult:
            parts: list[str] = []
            last = 0
            for span in sorted(pii_entities, key=lambda s: (s.start, s.end)):
                if span.start < last:
                    raise ValueError("overlapping spans reached the anonymizer")
                config = operators_metadata.get(span.entity_type) or operators_metadata["DEFAULT"]
                if config.operator_name != "replace":
                    raise ValueError(f"unsupported operator {config.operator_name!r}")
                parts += [text[last:span.start], config.params.get("new_value") or f"<{span.entity_type}>"]
                last = span.end
            parts.append(text[last:])
            return EngineResult(text="".join(parts))

    nlp_engine = NoOpNlpEngine(models=[{"lang_code": _LANGUAGE, "model_name": "no_op"}])
    nlp_engine.load()
    registry = RecognizerRegistry(recognizers=rec.fixed(), supported_languages=[_LANGUAGE])
    analyzer = _Analyzer(registry=registry, nlp_engine=nlp_engine,
                         supported_languages=[_LANGUAGE], context_aware_enhancer=_NoContext())
    operators = {entity: OperatorConfig("replace", {"new_value": placeholder})
                 for entity, placeholder in ent.PLACEHOLDERS.items()}
    engines = _Engines(analyzer=analyzer, anonymizer=_Anonymizer(), operators=operators,
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


_SPACES = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")


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


class _Span(NamedTuple):
    """A found span; the attribute names are those Presidio's anonymizer reads."""

    start: int
    end: int
    entity_type: str
    score: float


def _resolve(spans: Iterable[_Span]) -> list[_Span]:
    """Non-overlapping spans in text order: the higher score wins, then the longer span."""
    starts: list[int] = []
    kept: list[_Span] = []
    for span in sorted(spans, key=lambda s: (-s.score, -(s.end - s.start), s.start)):
        index = bisect.bisect_left(starts, span.start)
        if index > 0 and kept[index - 1].end > span.start:
            continue
        if index < len(kept) and kept[index].start < span.end:
            continue
        starts.insert(index, span.start)
        kept.insert(index, span)
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


# Every type but phones and names scores above a phone number, so which of their spans
# survive does not depend on phones or names; phones are then looked for only outside them.
_STRONG = [e for e in ent.ALWAYS if e != ent.PHONE]
assert all(ent.SCORES[e] > ent.SCORES[ent.PHONE] > ent.SCORES[ent.PERSON] for e in _STRONG)


def _analyse(text: str, regions: tuple[str, ...], allow: Iterable[str], person_names: bool) -> list[_Span]:
    allow_keys, allow_numbers = _allowed(allow, regions)

    def wanted(spans: Iterable[_Span]) -> list[_Span]:
        if not allow_keys:
            return list(spans)
        return [s for s in spans if not _is_allowed(text[s.start:s.end], s.entity_type,
                                                    allow_keys, allow_numbers, regions)]

    found = engines().analyzer.analyze(text=text, language=_LANGUAGE, entities=_STRONG)
    strong = _resolve(wanted(_Span(r.start, r.end, r.entity_type, ent.SCORES[r.entity_type]) for r in found))
    spans = list(strong)
    if _DIGIT.search(text) is not None:
        score = ent.SCORES[ent.PHONE]
        spans += wanted(_Span(start, end, ent.PHONE, score)
                        for start, end, _ in phones.find(text, regions, outside=strong))
    if person_names:
        score = ent.SCORES[ent.PERSON]
        spans += wanted(_Span(start, end, ent.PERSON, score) for start, end in persons.find(text))
    return _resolve(spans) if len(spans) > len(strong) else strong


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
    return [Found(s.start, s.end, s.entity_type) for s in kept]


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
        if not kept:
            return Neutralised(text=text, counts={})  # nothing to replace (most headings, most prose)
        built = engines()
        anonymised = built.anonymizer.anonymize(text=text, analyzer_results=kept, operators=built.operators,
                                                merge_entities_with_spaces=False)
        result_text = anonymised.text
        if not isinstance(result_text, str):
            raise TypeError("anonymizer returned no text")
    except Exception as exc:
        # Never hand back raw text: the caller fails the document instead.
        raise NeutralisationError(f"neutralisation failed: {type(exc).__name__}") from exc
    counts = Counter(s.entity_type for s in kept)
    return Neutralised(text=result_text, counts=dict(counts))


def _is_allowed(value: str, entity: str, keys: set[str], numbers: set[str],
                regions: tuple[str, ...]) -> bool:
    if _key(value) in keys:
        return True
    return entity == ent.PHONE and bool(numbers) and phones.normalised(value, regions) in numbers
