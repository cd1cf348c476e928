"""Find repeated page furniture in extracted sections. Pure functions: no ORM, no settings.

Running headers and footers (a business name and phone number at the top of every PDF
page, "Page 2 of 5" at the bottom) are extracted as ordinary lines. Indexed as they are,
they turn up in every chunk of the document and make its chunks look alike to both search
legs. What counts as furniture:

* in a document with pages, a short line among the first or last ``EDGE_LINES`` lines of
  a page whose shape (case folded, digits ignored) recurs at the edge of at least two
  pages and of at least half of them;
* in any document, a line of at least ``MIN_REPEATED_CHARS`` characters that recurs, as a
  whole line, at least ``MIN_REPEATS`` times (a banner repeated between parts of a text).

The first occurrence of each furniture line is kept (the business name and phone number
are worth finding once); the others are removed. Short lines ("Closed", "Sunday: closed")
that recur in real content are never furniture by the second rule.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

__all__ = ["furniture_lines", "strip_lines"]

EDGE_LINES = 2
MAX_LINE_CHARS = 160
MIN_REPEATED_CHARS = 25
MIN_REPEATS = 3

_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def shape(line: str) -> str:
    """What two furniture lines have in common: case, spacing and numbers ignored."""
    return _SPACE.sub(" ", _DIGITS.sub("#", line)).strip().casefold()


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def furniture_lines(pages: Sequence[tuple[int | None, str]]) -> set[str]:
    """Shapes of the furniture lines among ``(page, text)`` blocks in document order."""
    found: set[str] = set()
    by_page: dict[int, list[str]] = defaultdict(list)
    for page, text in pages:
        if page is not None:
            by_page[page].extend(_lines(text))
    if len(by_page) >= 2:
        seen_on: Counter[str] = Counter()
        for lines in by_page.values():
            edges = lines[:EDGE_LINES] + lines[-EDGE_LINES:]
            seen_on.update({shape(line) for line in edges if len(line) <= MAX_LINE_CHARS})
        need = max(2, (len(by_page) + 1) // 2)
        found |= {key for key, count in seen_on.items() if count >= need and key.strip("# ")}
    counts: Counter[str] = Counter()
    for _, text in pages:
        counts.update(
            shape(line) for line in _lines(text) if MIN_REPEATED_CHARS <= len(line.strip()) <= MAX_LINE_CHARS
        )
    found |= {key for key, count in counts.items() if count >= MIN_REPEATS}
    return found


def strip_lines(texts: Sequence[str], furniture: set[str]) -> list[str]:
    """``texts`` with every furniture line but its first occurrence removed."""
    if not furniture:
        return list(texts)
    kept: set[str] = set()
    out = []
    for text in texts:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            lines = []
            for line in paragraph.split("\n"):
                key = shape(line)
                if key in furniture:
                    if key in kept:
                        continue
                    kept.add(key)
                lines.append(line)
            if any(line.strip() for line in lines):
                paragraphs.append("\n".join(lines))
        out.append("\n\n".join(paragraphs))
    return out
