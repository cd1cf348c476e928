"""Split extracted sections into chunks for embedding and retrieval.

Pure functions, no ORM and no settings. The contract:

* Repeated page furniture (running headers and footers, see ``knowledge.furniture``) is
  removed, keeping its first occurrence.
* Consecutive sections with the same heading path form one *unit*; each unit keeps its
  heading inline (``Check-In: Check-in begins at 4 pm.``). The units of a document are
  packed, in order, into chunks of up to ``size`` characters: a cut goes, in order of
  preference, at a paragraph break (a unit boundary is one) leaving at least ``min_size``
  characters in the chunk, at a sentence end past ``min_size``, then the same past half
  the size, then between words, between two CJK characters (those scripts have no spaces)
  and only as a last resort inside a "word" longer than ``size``. So chunks are
  ``min_size``..``size`` characters long except a document's last, unless the text leaves
  no boundary in that range.
* ``len(chunk.text) <= size`` always. A chunk cut inside a unit starts with up to
  ``overlap`` characters of the previous chunk, taken from a sentence start when one is
  close enough, else from a word start; a chunk that starts at a unit boundary does not
  overlap (the unit is self-contained).
* ``ChunkDraft.heading`` is the heading path of every unit the chunk holds, joined with
  ``HEADINGS_JOIN`` (for display and audit).
* Whitespace is normalised (runs of spaces become one space, blank-line runs become one
  paragraph break), so the stored text is tidy; the words themselves are unchanged. The
  rules are extraction's (``extraction.normalise``, ``extraction.one_line``), so text that
  comes through extraction is not changed a second time.
* Output is deterministic.

``contextualize`` gives the text that is embedded: the document title, then the chunk,
prefixed with the heading path of its first unit when the chunk starts inside that unit
(its inline heading is in the previous chunk). Measured on the caller sets and SciFact
(``benchmarks/results/quality.md``): with a document packed into a few full chunks, leaving
the title out changes hit@3 on the tune half by one question (noise), and titles of short
documents carry meaning (SciFact's abstracts, "Parking" pages); so it stays.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from knowledge import extraction, furniture

__all__ = ["HEADINGS_JOIN", "ChunkDraft", "SectionLike", "chunk_sections", "contextualize"]

HEADINGS_JOIN = "; "
INLINE_SEPARATOR = ": "


class SectionLike(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def heading(self) -> str: ...

    @property
    def page(self) -> int | None: ...


@dataclass
class ChunkDraft:
    index: int
    text: str  # the chunk text as stored and returned to the voice assistant
    heading: str = ""  # section heading path, e.g. "Office hours > Weekend"
    page: int | None = None  # page the chunk starts on, when the source has pages


def contextualize(draft: ChunkDraft, title: str = "", *, with_title: bool = True) -> str:
    """Text that is embedded: the chunk, with its first unit's heading path in front when
    the chunk starts inside that unit; the title on a line before it (``with_title``)."""
    text = draft.text
    lead = extraction.one_line(draft.heading.split(HEADINGS_JOIN)[0]) if draft.heading else ""
    if lead and not text.startswith(lead + INLINE_SEPARATOR):
        text = f"{lead}{INLINE_SEPARATOR}{text}"
    title = extraction.one_line(title) if with_title else ""
    return f"{title}\n{text}" if title else text


# --- headings -------------------------------------------------------------------------


def _heading_path(heading: str, title: str) -> str:
    """The section heading, without a leading repeat of the document title."""
    heading = extraction.one_line(heading)
    title = extraction.one_line(title)
    if title:
        if heading.casefold() == title.casefold():
            return ""
        lead = title + extraction.HEADING_SEPARATOR
        if heading.casefold().startswith(lead.casefold()):
            return heading[len(lead) :].strip()
    return heading


# --- boundaries -----------------------------------------------------------------------

# The end of a sentence: terminal punctuation (plus closing quotes/brackets) followed by
# whitespace, CJK terminal punctuation (no space needed), or a line break inside a
# paragraph (lists, addresses, table rows). The cut goes at match.end().
_SENTENCE_END = re.compile(
    r"[.!?…]+[\"'”’»)\]]*(?=\s)"
    r"|[。！？；]+[」』”’）)]*"
    r"|(?=\n)"
)
_WORD_START = re.compile(r"\s(?=\S)")
_CJK = re.compile(
    "[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]"
)

# Levels of a cut, best first.
_PARAGRAPH, _SENTENCE, _WORD, _CJK_CUT, _HARD = range(5)


def _skip_space(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \n":
        pos += 1
    return pos


def _cjk_boundary(text: str, pos: int) -> bool:
    """Whether cutting at ``pos`` (between pos-1 and pos) separates a CJK character."""
    return bool(_CJK.match(text, pos - 1, pos)) or bool(_CJK.match(text, pos, pos + 1))


def _find_cut(text: str, start: int, fresh: int, size: int, min_size: int) -> tuple[int, int]:
    """Where to end the chunk that begins at ``start``.

    ``fresh`` is the first position not covered by the previous chunk: the cut must go
    beyond it so every chunk adds new text. Returns (cut, level); the chunk text is
    ``text[start:cut].rstrip()``.
    """
    limit = start + size
    n = len(text)
    if n <= limit:
        return n, _PARAGRAPH
    floor = fresh + 1  # lowest acceptable cut

    last_sentence = -1
    for match in _SENTENCE_END.finditer(text, floor, limit + 1):
        end = match.end()
        if end <= limit:
            last_sentence = end
    for low in (start + min_size, start + size // 2, floor):
        low = max(floor, low)
        para = text.rfind("\n\n", low, limit + 2)
        if para != -1 and para <= limit:
            return para, _PARAGRAPH
        if last_sentence >= low:
            return last_sentence, _SENTENCE

    # Any whitespace; text[limit] being a space means the cut at limit is clean.
    space = max(text.rfind(" ", floor, limit + 1), text.rfind("\n", floor, limit + 1))
    if space >= max(floor, start + size // 2):
        return space, _WORD
    # A space far back (e.g. after an inline heading before CJK text) loses to a cut
    # between two CJK characters closer to the limit.
    for pos in range(limit, max(floor, space + 1) - 1, -1):
        if _cjk_boundary(text, pos):
            return pos, _CJK_CUT
    if space >= floor:
        return space, _WORD
    return limit, _HARD


def _overlap_start(text: str, start: int, cut: int, overlap: int) -> int:
    """Where the next chunk starts: up to ``overlap`` chars back from ``cut``."""
    fresh = _skip_space(text, cut)
    if overlap <= 0:
        return fresh
    lowest = max(start + 1, cut - overlap)
    if lowest >= cut:
        return fresh
    # Earliest sentence start inside [lowest, cut).
    for match in _SENTENCE_END.finditer(text, max(start, lowest - 8), cut):
        begin = _skip_space(text, match.end())
        if begin >= cut:
            break
        if begin >= lowest and begin > start:
            return begin
    # Earliest word start.
    word = _WORD_START.search(text, lowest - 1, cut)
    if word and lowest <= word.end() < cut:
        return word.end()
    # No spaces: CJK text can start anywhere between two ideographs.
    for pos in range(lowest, cut):
        if _cjk_boundary(text, pos):
            return pos
    return fresh


def _split_stream(
    text: str, size: int, overlap: int, min_size: int, boundaries: frozenset[int] = frozenset()
) -> list[tuple[int, str]]:
    """Cut one normalised stream into (start offset, chunk text) pairs. A chunk cut at one
    of ``boundaries`` (offsets where a unit starts) is not overlapped by the next one."""
    pieces: list[tuple[int, str]] = []
    start = fresh = 0
    n = len(text)
    while fresh < n:
        cut, level = _find_cut(text, start, fresh, size, min_size)
        if level == _HARD and start < fresh:
            # The overlap left no room for a clean cut; drop it rather than cut a word.
            start = fresh
            cut, level = _find_cut(text, start, fresh, size, min_size)
        chunk = text[start:cut].rstrip()
        if chunk:
            pieces.append((start, chunk))
        if cut >= n:
            break
        fresh = _skip_space(text, cut)
        at_boundary = fresh in boundaries
        next_start = _overlap_start(text, start, cut, overlap) if level != _HARD and not at_boundary else fresh
        start = min(next_start, fresh)
        if start < fresh and fresh - start + 1 > size:
            start = fresh
    return pieces


# --- public entry point ---------------------------------------------------------------


@dataclass
class _Unit:
    heading: str
    offset: int  # where the unit (its inline heading) starts in the document's stream
    text: str


def chunk_sections(
    sections: Iterable[SectionLike],
    *,
    title: str = "",
    size: int = 1000,
    overlap: int = 150,
    min_size: int | None = None,
) -> list[ChunkDraft]:
    """Chunk extracted sections; see the module docstring for the contract.

    ``min_size`` (default: 4/5 of ``size``) is the length a chunk is filled to before it
    may end at a paragraph break or sentence end.
    """
    if size < 1:
        raise ValueError("size must be positive")
    overlap = max(0, min(overlap, size // 2))
    min_size = size * 4 // 5 if min_size is None else max(0, min(min_size, size))

    parts = [(section.text or "", section.heading or "", section.page) for section in sections]
    shapes = furniture.furniture_lines([(page, text) for text, _, page in parts])
    texts = furniture.strip_lines([text for text, _, _ in parts], shapes)

    # Consecutive sections with the same heading are one unit; (offset, page) marks
    # where each section starts in the stream so a chunk knows its page.
    units: list[_Unit] = []
    page_marks: list[tuple[int, int | None]] = []
    for text, (_, raw_heading, page) in zip(texts, parts, strict=True):
        # Sections from extraction are normalised already (and then unchanged by this);
        # any other SectionLike gets the same rules.
        body = extraction.normalise(text)
        if not body:
            continue
        heading = _heading_path(raw_heading, title)
        if units and units[-1].heading == heading:
            unit = units[-1]
            offset = unit.offset + len(unit.text) + 2
            unit.text = f"{unit.text}\n\n{body}"
        else:
            offset = units[-1].offset + len(units[-1].text) + 2 if units else 0
            lead = f"{heading}{INLINE_SEPARATOR}" if heading else ""
            units.append(_Unit(heading=heading, offset=offset, text=lead + body))
            offset += len(lead)
        page_marks.append((offset, page))
    if not units:
        return []

    stream = "\n\n".join(unit.text for unit in units)
    starts = [unit.offset for unit in units]
    mark_offsets = [offset for offset, _ in page_marks]
    drafts: list[ChunkDraft] = []
    for offset, chunk in _split_stream(stream, size, overlap, min_size, frozenset(starts)):
        first = max(0, bisect.bisect_right(starts, offset) - 1)
        last = bisect.bisect_left(starts, offset + len(chunk)) - 1
        headings: list[str] = []
        for unit in units[first : last + 1]:
            if unit.heading and unit.heading not in headings:
                headings.append(unit.heading)
        mark = bisect.bisect_right(mark_offsets, offset) - 1
        page = page_marks[max(mark, 0)][1]
        drafts.append(ChunkDraft(index=len(drafts), text=chunk, heading=HEADINGS_JOIN.join(headings), page=page))
    return drafts
