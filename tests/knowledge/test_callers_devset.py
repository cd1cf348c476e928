"""The caller dev set (benchmarks/callers) is well-formed: every expected answer is in the text
our own extraction gets from its document, and only there; the set has the size, styles,
formats and split the benchmark relies on; the committed files are what build.py writes."""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from knowledge import extraction

ROOT = Path(__file__).resolve().parents[2] / "benchmarks" / "callers"
FORMATS = {"txt", "md", "pdf", "docx", "html"}


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def devset() -> dict[str, Any]:
    return json.loads((ROOT / "questions.json").read_text())


@pytest.fixture(scope="module")
def texts(devset: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Extracted text of every document, keyed by (business, filename)."""
    out = {}
    for slug, business in devset["businesses"].items():
        for name in business["docs"]:
            data = (ROOT / "docs" / slug / name).read_bytes()
            extracted = extraction.extract(data, file_type=name.rsplit(".", 1)[1], filename=name)
            out[(slug, name)] = _plain(extracted.text)
    return out


@pytest.fixture(scope="module")
def build() -> Any:
    sys.path.insert(0, str(ROOT))
    try:
        yield importlib.import_module("build")
    finally:
        sys.path.remove(str(ROOT))


def test_every_answer_appears_in_the_extracted_text_of_its_document(
    devset: dict[str, Any], texts: dict[tuple[str, str], str]
) -> None:
    missing = [
        (q["id"], answer)
        for q in devset["questions"]
        for answer in q["answers"]
        if _plain(answer) not in texts[(q["business"], q["doc"])]
    ]
    assert missing == []


def test_every_answer_occurs_once_in_its_business_so_only_the_right_passage_holds_it(
    devset: dict[str, Any], texts: dict[tuple[str, str], str]
) -> None:
    ambiguous = []
    for q in devset["questions"]:
        for answer in q["answers"]:
            needle = _plain(answer).lower()
            hits = {
                name: text.lower().count(needle)
                for (slug, name), text in texts.items()
                if slug == q["business"] and needle in text.lower()
            }
            if hits != {q["doc"]: 1}:
                ambiguous.append((q["id"], answer, hits))
    assert ambiguous == []


def test_the_set_has_enough_questions_paraphrases_and_both_splits(devset: dict[str, Any]) -> None:
    questions = devset["questions"]
    assert len(questions) >= 150
    assert len({q["id"] for q in questions}) == len(questions)
    styles = Counter(q["style"] for q in questions)
    assert set(styles) == {"keyword", "paraphrase"}
    assert styles["paraphrase"] / len(questions) >= 0.40
    # Every (business, style) stratum is in both halves, roughly half/half.
    strata = Counter((q["business"], q["style"], q["split"]) for q in questions)
    for slug in devset["businesses"]:
        for style in ("keyword", "paraphrase"):
            tune, test = strata[(slug, style, "tune")], strata[(slug, style, "test")]
            assert tune > 0 and test > 0 and abs(tune - test) <= 1, (slug, style, tune, test)
    tags = Counter(t for q in questions for t in q["tags"])
    assert tags["table"] >= 20 and tags["distractor"] >= 20
    for q in questions:
        assert q["question"] == q["question"].lower()
        assert q["answers"] and all(a.strip() for a in q["answers"])
        assert q["doc"] in devset["businesses"][q["business"]]["docs"]


def test_each_business_has_six_documents_in_all_five_formats(devset: dict[str, Any]) -> None:
    assert len(devset["businesses"]) >= 3
    for slug, business in devset["businesses"].items():
        names = business["docs"]
        assert len(names) >= 6, slug
        assert {n.rsplit(".", 1)[1] for n in names} == FORMATS, slug
        assert sorted(p.name for p in (ROOT / "docs" / slug).iterdir()) == sorted(names)


def test_misleading_html_scripts_and_pdf_page_furniture_are_built_in(
    devset: dict[str, Any], texts: dict[tuple[str, str], str], build: Any
) -> None:
    for business in build.businesses():
        for doc in business.docs:
            raw = (ROOT / "docs" / business.slug / doc.filename).read_bytes()
            if doc.filename.endswith(".html"):
                assert b"<nav" in raw and b"<footer>" in raw and b"<script>" in raw
                # The script's wrong price is not what the page says.
                wrong = re.findall(r"\$\d+(?:\.\d+)?", doc.script)
                assert wrong and not any(
                    w in texts[(business.slug, doc.filename)] for w in wrong
                ), doc.filename
            if doc.filename.endswith(".pdf"):
                assert doc.header and doc.footer
                text = texts[(business.slug, doc.filename)]
                assert text.count(doc.footer) >= 3, doc.filename  # on every page of several
                assert "|" in doc.body  # a table


def test_committed_files_are_what_build_py_writes(devset: dict[str, Any], build: Any) -> None:
    businesses = build.businesses()
    for business in businesses:
        for doc in business.docs:
            path = ROOT / "docs" / business.slug / doc.filename
            assert build.render(doc, business) == path.read_bytes(), path.name
    assert sorted(build.questions(businesses), key=lambda q: q["id"]) == devset["questions"]
