"""Split extracted sections into chunks for embedding and retrieval.

Pure functions, no ORM and no settings. The contract:

* A chunk never spans two headings: consecutive sections that share a heading form one
  stream of text (so PDF pages under one heading flow into each other and tiny sections
  are merged), a change of heading always starts a new chunk.
* Within a stream the text is cut, in order of preference, at a paragraph break, at the
  end of a sentence, between words, between two CJK characters (those scripts have no
  spaces) and only as a last resort inside a "word" longer than ``size``.
* ``len(chunk.text) <= size`` always. Each chunk starts with up to ``overlap`` characters
  of the previous chunk of the same stream, taken from a sentence start when one is
  close enough, else from a word start.
* Whitespace is normalised (runs of spaces become one space, blank-line runs become one
  paragraph break), so the stored text is tidy; the words themselves are unchanged. The
  rules are extraction's (``extraction.normalise``, ``extraction.one_line``), so text that
  comes through extraction is not changed a second time.
* Output is deterministic.

``contextualize`` gives the text that is embedded and full-text indexed: the chunk
prefixed with the document title and its heading path, so that "Saturday 9–12" still
knows it is about office hours.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from knowledge import extraction

__all__ = ["ChunkDraft", "SectionLike", "chunk_sections", "contextualize"]


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


def contextualize(draft: ChunkDraft, title: str = "") -> str:
    """Text used for embedding and full-text indexing: title and heading, then the chunk."""
    title = extraction.one_line(title)
    heading = extraction.one_line(draft.heading)
    prefix = " — ".join(part for part in (title, heading) if part)
    return f"{prefix}\n{draft.text}" if prefix else draft.text


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


def _find_cut(text: str, start: int, fresh: int, size: int) -> tuple[int, int]:
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
    half = max(floor, start + size // 2)

    para = text.rfind("\n\n", half, limit + 2)
    if para != -1 and para <= limit:
        return para, _PARAGRAPH

    last_sentence = -1
    for match in _SENTENCE_END.finditer(text, floor, limit + 1):
        end = match.end()
        if end <= limit:
            last_sentence = end
    if last_sentence >= half:
        return last_sentence, _SENTENCE

    para = text.rfind("\n\n", floor, limit + 2)
    if para != -1 and para <= limit:
        return para, _PARAGRAPH
    if last_sentence >= floor:
        return last_sentence, _SENTENCE

    # Any whitespace; text[limit] being a space means the cut at limit is clean.
    space = max(text.rfind(" ", floor, limit + 1), text.rfind("\n", floor, limit + 1))
    if space >= floor:
        return space, _WORD

    for pos in range(limit, floor - 1, -1):
        if _cjk_boundary(text, pos):
            return pos, _CJK_CUT
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


def _split_stream(text: str, size: int, overlap: int) -> list[tuple[int, str]]:
    """Cut one normalised stream into (start offset, chunk text) pairs."""
    pieces: list[tuple[int, str]] = []
    start = fresh = 0
    n = len(text)
    while fresh < n:
        cut, level = _find_cut(text, start, fresh, size)
        if level == _HARD and start < fresh:
            # The overlap left no room for a clean cut; drop it rather than cut a word.
            start = fresh
            cut, level = _find_cut(text, start, fresh, size)
        chunk = text[start:cut].rstrip()
        if chunk:
            pieces.append((start, chunk))
        if cut >= n:
            break
        next_start = _overlap_start(text, start, cut, overlap) if level != _HARD else cut
        fresh = _skip_space(text, cut)
        start = min(next_start, fresh)
        if start < fresh and fresh - start + 1 > size:
            start = fresh
    return pieces


# --- public entry point ---------------------------------------------------------------


def chunk_sections(
    sections: Iterable[SectionLike],
    *,
    title: str = "",
    size: int = 1000,
    overlap: int = 150,
) -> list[ChunkDraft]:
    """Chunk extracted sections; see the module docstring for the contract."""
    if size < 1:
        raise ValueError("size must be positive")
    overlap = max(0, min(overlap, size // 2))

    drafts: list[ChunkDraft] = []
    # Consecutive sections with the same heading are one stream; (offset, page) marks
    # where each section starts inside it so a chunk knows its page.
    stream: list[str] = []
    stream_len = 0
    page_marks: list[tuple[int, int | None]] = []
    current_heading: str | None = None

    def flush() -> None:
        nonlocal stream, stream_len, page_marks
        if stream:
            text = "\n\n".join(stream)
            offsets = [offset for offset, _ in page_marks]
            for offset, chunk in _split_stream(text, size, overlap):
                mark = bisect.bisect_right(offsets, offset) - 1
                page = page_marks[mark][1] if mark >= 0 else None
                drafts.append(
                    ChunkDraft(
                        index=len(drafts), text=chunk, heading=current_heading or "", page=page
                    )
                )
        stream, stream_len, page_marks = [], 0, []

    for section in sections:
        # Sections from extraction are normalised already (and then unchanged by this);
        # any other SectionLike gets the same rules.
        body = extraction.normalise(section.text or "")
        if not body:
            continue
        heading = _heading_path(section.heading or "", title)
        if heading != current_heading:
            flush()
            current_heading = heading
        offset = stream_len + (2 if stream else 0)
        page_marks.append((offset, section.page))
        stream.append(body)
        stream_len = offset + len(body)
    flush()
    return drafts
