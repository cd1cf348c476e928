"""Find repeated page furniture in extracted sections. Pure functions: no ORM, no settings.

Running headers and footers (a business name and phone number at the top of every PDF
page, "Page 2 of 5" at the bottom) are extracted as ordinary lines. Indexed as they are,
they turn up in every chunk of the document and make its chunks look alike to both search
legs. What counts as furniture:

* in a document with pages, a short line with words (at least ``MIN_LETTERS`` letters)
  among the first or last ``EDGE_LINES`` lines of a page whose shape (case folded, digits
  ignored) recurs at the edge of at least two pages and of at least half of them; it is
  removed only there;
* in any document, a line of at least ``MIN_REPEATED_CHARS`` characters that recurs, as a
  whole line with the same numbers, at least ``MIN_REPEATS`` times (a banner repeated
  between parts of a text).

The first occurrence of each furniture line is kept (the business name and phone number
are worth finding once); the others are removed. Short lines ("Closed", "Sunday: closed")
that recur in real content are never furniture by the second rule.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Furniture", "furniture_lines", "strip_lines"]

EDGE_LINES = 2
MAX_LINE_CHARS = 160
MIN_REPEATED_CHARS = 25
MIN_REPEATS = 3
MIN_LETTERS = 4

_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_LETTERS = re.compile(r"[^\W\d_]")


def shape(line: str) -> str:
    """What two page headers or footers have in common: case, spacing and numbers ignored
    ("Page 2 of 5")."""
    return _SPACE.sub(" ", _DIGITS.sub("#", line)).strip().casefold()


def same(line: str) -> str:
    """A line as repeated elsewhere in the text: case and spacing ignored, numbers kept
    (60 rules that differ only in their number are content)."""
    return _SPACE.sub(" ", line).strip().casefold()


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


@dataclass(frozen=True)
class Furniture:
    edges: frozenset[str] = frozenset()  # shapes removed at the top or bottom of a page
    anywhere: frozenset[str] = frozenset()  # shapes removed wherever they stand

    def __bool__(self) -> bool:
        return bool(self.edges or self.anywhere)


def furniture_lines(pages: Sequence[tuple[int | None, str]]) -> Furniture:
    """The furniture among ``(page, text)`` blocks in document order."""
    edges: set[str] = set()
    by_page: dict[int, list[str]] = defaultdict(list)
    for page, text in pages:
        if page is not None:
            by_page[page].extend(_lines(text))
    if len(by_page) >= 2:
        seen_on: Counter[str] = Counter()
        for lines in by_page.values():
            seen_on.update({shape(line) for line in _edges(lines) if len(line) <= MAX_LINE_CHARS})
        need = max(2, (len(by_page) + 1) // 2)
        # A shape needs words: "$#" (a price cell that ends two pages) is content.
        edges = {key for key, count in seen_on.items() if count >= need and len(_LETTERS.findall(key)) >= MIN_LETTERS}
    counts: Counter[str] = Counter()
    for _, text in pages:
        counts.update(
            same(line) for line in _lines(text) if MIN_REPEATED_CHARS <= len(line.strip()) <= MAX_LINE_CHARS
        )
    anywhere = {key for key, count in counts.items() if count >= MIN_REPEATS}
    return Furniture(edges=frozenset(edges), anywhere=frozenset(anywhere))


def _edges(lines: list[str]) -> list[str]:
    return lines[:EDGE_LINES] + lines[max(EDGE_LINES, len(lines) - EDGE_LINES) :]


def strip_lines(texts: Sequence[str], furniture: Furniture) -> list[str]:
    """``texts`` with every furniture line but its first occurrence removed (edge furniture
    only among the first and last ``EDGE_LINES`` lines of a text)."""
    if not furniture:
        return list(texts)
    kept: set[str] = set()
    out = []
    for text in texts:
        lines = text.split("\n")
        filled = [i for i, line in enumerate(lines) if line.strip()]
        edge_idx = set(filled[:EDGE_LINES] + filled[max(EDGE_LINES, len(filled) - EDGE_LINES) :])
        keep: list[str] = []
        for i, line in enumerate(lines):
            key = same(line)
            if key not in furniture.anywhere:
                key = shape(line) if i in edge_idx and shape(line) in furniture.edges else ""
            if key:
                if key in kept:
                    continue
                kept.add(key)
            keep.append(line)
        out.append(re.sub(r"\n{3,}", "\n\n", "\n".join(keep)).strip("\n"))
    return out
