"""Turn an uploaded file's bytes into plain-text sections.

Pure module: no ORM, no Django settings. The contract:

* ``extract(data, file_type=...)`` returns an :class:`Extracted` with at least one
  non-empty :class:`Section`, or raises :class:`ExtractionError` whose ``reason`` is a
  sentence a tenant admin understands. No other exception escapes: library errors are
  logged with their technical detail and wrapped.
* Sections carry the heading path above them ("Office hours > Weekend"); the heading text
  itself is not repeated in ``Section.text`` (the chunker puts it in the context). PDFs
  give one section per page with its 1-based page number.
* Text is normalised: NUL and control characters removed, runs of spaces collapsed,
  lines stripped, paragraphs separated by exactly one blank line. ZWNJ and ZWJ (U+200C,
  U+200D) are kept: they shape Persian and Indic words. ``normalise``, ``one_line`` and
  ``HEADING_SEPARATOR`` are the definitions the chunker uses too.
* Limits: ``max_pages`` (PDF page count), ``max_chars`` (extracted text), and for DOCX
  the declared uncompressed sizes of the ZIP members (zip bombs are refused unread).
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HEADING_SEPARATOR",
    "ExtractionError",
    "Extracted",
    "Section",
    "extract",
    "normalise",
    "one_line",
]

logger = logging.getLogger(__name__)

HEADING_SEPARATOR = " > "

# A "heading" longer than this is a paragraph someone styled as a heading: keep it as text.
_MAX_HEADING_CHARS = 200

# DOCX (ZIP) safety limits, checked on the declared sizes before anything is decompressed.
# zipfile never inflates a member past its declared size (it stops and fails the CRC
# check), so the declared sizes bound the real work.
DOCX_MAX_UNCOMPRESSED = 200 * 1024 * 1024
DOCX_MAX_RATIO = 100
DOCX_RATIO_MIN_SIZE = 1024 * 1024  # small members may compress very well, legitimately
DOCX_MAX_MEMBERS = 10_000

_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Stream name of an encrypted OOXML package inside its OLE container (UTF-16LE).
_OLE_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")

REASON_EMPTY_FILE = "the file is empty"
REASON_NO_TEXT = "the file contains no readable text"
REASON_PDF_ENCRYPTED = "encrypted PDF: remove the password and upload again"
REASON_PDF_NO_TEXT = (
    "no text layer (scanned PDF?): the pages are images, so there is no text to read; "
    'run it through OCR (for example "save as searchable PDF") and upload again'
)
REASON_PDF_DAMAGED = (
    "the PDF file is damaged and could not be read: open it, save or export it as PDF "
    "again and upload the new file"
)
REASON_DOCX_ENCRYPTED = (
    "encrypted or password-protected Word document: remove the password and upload again"
)
REASON_DOC_LEGACY = (
    "this is an old Word 97-2003 (.doc) file, not .docx: save it as .docx and upload again"
)
REASON_DOCX_DAMAGED = (
    "the Word document is damaged or incomplete (was the upload cut off?): open it in "
    "Word, save it again and upload the new file"
)
REASON_DOCX_NOT_WORD = "this file is not a Word document: save it as .docx and upload again"
REASON_DOCX_BOMB = (
    "the Word document is suspiciously large once unpacked and was refused for safety; "
    "save it again without embedded files and upload again"
)
REASON_HTML_DAMAGED = "the web page could not be read"
REASON_TEXT_DAMAGED = "the text file could not be read"
REASON_TOO_COMPLEX = (
    "the file is too large or too complex to process: split it into smaller files and "
    "upload them one by one"
)
REASON_TOO_NESTED = "the file is too deeply nested or damaged to be read"

_DAMAGED = {
    "pdf": REASON_PDF_DAMAGED,
    "docx": REASON_DOCX_DAMAGED,
    "html": REASON_HTML_DAMAGED,
    "txt": REASON_TEXT_DAMAGED,
    "md": REASON_TEXT_DAMAGED,
}
_ALIASES = {"text": "txt", "markdown": "md", "htm": "html"}


class ExtractionError(Exception):
    """Extraction failed; ``reason`` is meant for a non-technical tenant admin."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Section:
    text: str  # plain text of this block, paragraphs separated by "\n\n"
    heading: str = ""  # heading path like "Office hours > Weekend" ("" if none)
    page: int | None = None  # 1-based page for PDFs


@dataclass
class Extracted:
    sections: list[Section]
    title: str = ""
    pages: int | None = None

    @property
    def chars(self) -> int:
        """Characters of section text (separators between sections not counted)."""
        return sum(len(s.text) for s in self.sections)

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections if s.text)


def extract(
    data: bytes,
    *,
    file_type: str,
    filename: str = "",
    max_pages: int = 2000,
    max_chars: int = 20_000_000,
) -> Extracted:
    """Extract the text of ``data``, already detected as ``file_type`` by the caller.

    ``file_type`` is one of "txt", "md", "pdf", "docx", "html". ``filename`` is only used
    in log messages. Raises :class:`ExtractionError`, never anything else (except
    ``KeyboardInterrupt``/``SystemExit``).
    """
    kind = _ALIASES.get(file_type.lower().lstrip("."), file_type.lower().lstrip("."))
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise ExtractionError(
            "this file type is not supported: upload a PDF, Word (.docx), HTML, Markdown "
            "or plain-text file"
        )
    if not data:
        raise ExtractionError(REASON_EMPTY_FILE)
    try:
        result = handler(data, max_pages=max_pages, max_chars=max_chars)
    except ExtractionError:
        raise
    except MemoryError:
        logger.warning("extraction of %r (%s) ran out of memory", filename, kind)
        raise ExtractionError(REASON_TOO_COMPLEX) from None
    except RecursionError:
        logger.warning("extraction of %r (%s) hit the recursion limit", filename, kind)
        raise ExtractionError(REASON_TOO_NESTED) from None
    except Exception as exc:  # any library failure becomes a readable reason
        logger.warning("extraction of %r (%s) failed: %r", filename, kind, exc, exc_info=True)
        raise ExtractionError(_DAMAGED[kind]) from exc
    if result.chars == 0:
        raise ExtractionError(REASON_NO_TEXT)
    _check_chars(result.chars, max_chars)
    result.title = one_line(result.title)
    return result


def _check_chars(chars: int, max_chars: int) -> None:
    if chars > max_chars:
        raise ExtractionError(
            f"the document contains too much text (more than {max_chars:,} characters): "
            "split it into smaller files and upload them one by one"
        )


# --- normalisation --------------------------------------------------------------------

_NEWLINES = re.compile("\r\n?|[\x0b\x0c\x1c\x1d\x1e\x85\u2028]")
_LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028]")  # _NEWLINES once "\r\n" is "\n"
# Zero-width space, word joiner and BOM carry no meaning and would make words look glued.
# ZWNJ and ZWJ are not among them: they change how Persian and Indic words are written.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff]")
# Those, control characters (not \t \n), DEL, C1 controls, soft hyphen, lone surrogates
# (cannot be stored as UTF-8) and non-characters.
_JUNK = re.compile(
    "[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u00ad\u200b\u2060\ufeff\ud800-\udfff\ufffe\uffff]"
)
# Horizontal whitespace (with _NEWLINES, all of str.isspace()): runs, and lone characters
# other than a plain space; matching lone spaces too would make this the slowest step.
_SPACE_CHARS = "\t\x1f\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
_HSPACE = re.compile(f"[{_SPACE_CHARS}][ {_SPACE_CHARS}]*| [ {_SPACE_CHARS}]+")
_LINE_EDGES = re.compile(" \n ?|\n ")
_BLANK_LINES = re.compile("\n{3,}")


def _normalise(text: str, drop: re.Pattern[str]) -> str:
    if not text:
        return ""
    # str.replace first: the regular expression alone is twice as slow on long texts.
    text = _LINE_BREAKS.sub("\n", text.replace("\r\n", "\n")).replace("\u2029", "\n\n")
    text = drop.sub("", text)
    text = _HSPACE.sub(" ", text)
    text = _LINE_EDGES.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def normalise(text: str) -> str:
    """Line breaks unified, invisible characters (not ZWNJ/ZWJ) dropped, runs of spaces
    collapsed, lines stripped, paragraphs separated by exactly one blank line.

    Every other character is kept, so the chunker can normalise text of any origin with it
    without losing a word.
    """
    return _normalise(text, _INVISIBLE)


def _clean(text: str) -> str:
    """Normalise a block: ``normalise``, and control characters out."""
    return _normalise(text, _JUNK)


def one_line(text: str) -> str:
    """A heading, title or table cell on one line, cleaned like a block."""
    return _clean(text).replace("\n\n", " ").replace("\n", " ")


class _Builder:
    """Collects blocks into sections, starting a new section at each heading."""

    def __init__(self, max_chars: int) -> None:
        self.sections: list[Section] = []
        self._path: list[tuple[int, str]] = []
        self._blocks: list[str] = []
        self._lines: list[str] = []
        self._chars = 0
        self._max_chars = max_chars
        self._body_since_heading = False

    def add(self, text: str) -> None:
        """A paragraph (may contain single line breaks)."""
        self._end_lines()
        text = _clean(text)
        if text:
            self._push(text)

    def line(self, text: str) -> None:
        """A list item or table row; consecutive lines form one block."""
        text = one_line(text)
        if text:
            self._lines.append(text)

    def end_block(self) -> None:
        self._end_lines()

    def heading(self, level: int, text: str) -> None:
        text = one_line(text)
        if not text:
            return
        if len(text) > _MAX_HEADING_CHARS:
            self.add(text)
            return
        self._flush()
        self._keep_bare_heading(level)
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, text))
        self._body_since_heading = False

    def finish(self) -> list[Section]:
        self._flush()
        self._keep_bare_heading(0)
        return self.sections

    def _keep_bare_heading(self, next_level: int) -> None:
        # A heading left with no text under it (the next heading is not nested below it)
        # would vanish; keep its words as text under its parent heading.
        if self._path and not self._body_since_heading and next_level <= self._path[-1][0]:
            parent = HEADING_SEPARATOR.join(t for _, t in self._path[:-1])
            self._count(self._path[-1][1])
            self.sections.append(Section(text=self._path[-1][1], heading=parent))
            self._body_since_heading = True

    def _end_lines(self) -> None:
        if self._lines:
            self._push("\n".join(self._lines))
            self._lines = []

    def _push(self, text: str) -> None:
        self._count(text)
        self._blocks.append(text)
        self._body_since_heading = True

    def _count(self, text: str) -> None:
        # Stop early rather than build a huge result only to refuse it afterwards.
        self._chars += len(text)
        _check_chars(self._chars, self._max_chars)

    def _flush(self) -> None:
        self._end_lines()
        if self._blocks:
            heading = HEADING_SEPARATOR.join(t for _, t in self._path)
            self.sections.append(Section(text="\n\n".join(self._blocks), heading=heading))
            self._blocks = []


# --- plain text and Markdown ----------------------------------------------------------

_BOMS = [
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
]


def _decode_text(data: bytes, max_chars: int) -> str:
    """Decode text bytes: BOM, BOM-less UTF-16, strict UTF-8, then a legacy codepage."""
    # Even UTF-32 needs at most four bytes per character: refuse without decoding.
    if len(data) > 4 * max_chars + 4:
        _check_chars(len(data) // 4, max_chars)
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    utf16 = _bomless_utf16(data[:65536])
    if utf16:
        return data.decode(utf16, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return data.decode(_guess_legacy_encoding(data), errors="replace")


def _bomless_utf16(sample: bytes) -> str | None:
    """UTF-16 without a BOM: NUL bytes (the high byte of Latin letters) on one side only."""
    if len(sample) < 4 or sample.count(0) * 3 < len(sample):
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > 4 * even:
        return "utf-16-le"
    if even > 4 * odd:
        return "utf-16-be"
    return None


_WESTERN = {"cp1252", "latin_1", "iso8859_15"}
# Mainframe codepages "decode" any bytes; nobody uploads EBCDIC text.
_EBCDIC = {"cp037", "cp273", "cp424", "cp500", "cp875", "cp1026", "cp1140"}
_CENTRAL_EUROPEAN = {"Czech", "Polish", "Slovak", "Hungarian", "Croatian", "Slovene", "Romanian"}
# Below this coherence charset-normalizer recognised no language (short or odd samples).
_MIN_COHERENCE = 0.1
_HIGH_BYTES = bytes(range(128, 256))


def _guess_legacy_encoding(data: bytes) -> str:
    """charset-normalizer's guess, leaning to cp1252 (the most common legacy codepage)
    when the sample is ambiguous."""
    from charset_normalizer import from_bytes

    candidates = [
        m
        for m in from_bytes(data)
        if m.encoding
        and not m.encoding.startswith(("utf_16", "utf_32"))  # handled above
        and m.encoding not in _EBCDIC
    ]
    if not candidates:
        return "cp1252"
    top = candidates[0]
    if top.encoding in _WESTERN or top.language in _CENTRAL_EUROPEAN:
        return top.encoding
    if top.coherence < _MIN_COHERENCE:
        # No language recognised (short sample): Latin text with a few accented letters
        # is far more likely cp1252 than Cyrillic, Greek or CJK, which are mostly high bytes.
        sample = data[:65536]
        high = len(sample) - len(sample.translate(None, _HIGH_BYTES))
        if high < len(sample) * 0.5 and _decodes(data, "cp1252"):
            return "cp1252"
        return top.encoding
    # Western codepages tie on short samples (é, ñ, €): then cp1252 wins.
    for match in candidates[1:]:
        if (
            match.encoding in _WESTERN
            and match.chaos <= top.chaos + 0.01
            and match.coherence >= top.coherence - 0.05
        ):
            return "cp1252"
    try:
        "".encode(top.encoding)
    except LookupError:
        return "cp1252"
    return top.encoding


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


_PARAGRAPH_SPLIT = re.compile(r"\n[ \t]*\n")


def _extract_txt(data: bytes, *, max_pages: int, max_chars: int) -> Extracted:
    text = _decode_text(data, max_chars)
    builder = _Builder(max_chars)
    for paragraph in _PARAGRAPH_SPLIT.split(_NEWLINES.sub("\n", text)):
        builder.add(paragraph)
    return Extracted(sections=builder.finish())


_MD_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MD_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_MD_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_MD_HR = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_MD_BULLET = re.compile(r"^[ \t]*[*+-][ \t]+")
_MD_ORDERED = re.compile(r"^[ \t]*(\d{1,9})[.)][ \t]+")
_MD_QUOTE = re.compile(r"^ {0,3}(?:>[ \t]?)+")
_MD_TABLE_SEP = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$")
_MD_LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]+\S+")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_MD_CODE = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_MD_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_MD_REF_LINK = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_MD_AUTOLINK = re.compile(r"<((?:https?|mailto|tel):[^>\s]+)>")
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_EM_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_MD_EM_UNDER = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_MD_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_MD_BR = re.compile(r"<br\s*/?>", re.I)
_MD_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_MD_FRONT_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.M)
# Private-use placeholders protect escaped characters from the markup rules.
_PLACEHOLDER_BASE = 0xF0000


def _md_link(match: re.Match[str]) -> str:
    text, url = match.group(1), match.group(2)
    if url.startswith(("http://", "https://", "mailto:", "tel:")) and url not in text:
        return f"{text} ({url.removeprefix('mailto:').removeprefix('tel:')})"
    return text


def _md_inline(text: str) -> str:
    """Strip inline Markdown markup, keeping the words (and absolute link targets)."""
    if not any(c in text for c in "\\`*_~[]<!"):
        return text
    text = _MD_ESCAPE.sub(lambda m: chr(_PLACEHOLDER_BASE + ord(m.group(1))), text)
    text = _MD_CODE.sub(lambda m: m.group(2).strip(), text)
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(_md_link, text)
    text = _MD_REF_LINK.sub(r"\1", text)
    text = _MD_AUTOLINK.sub(r"\1", text)
    text = _MD_BR.sub("\n", text)
    text = _MD_TAG.sub("", text)
    for _ in range(2):  # nested emphasis such as ***both***
        text = _MD_STRONG.sub(r"\2", text)
        text = _MD_EM_STAR.sub(r"\1", text)
        text = _MD_EM_UNDER.sub(r"\1", text)
    text = _MD_STRIKE.sub(r"\1", text)
    return re.sub(
        "[\U000f0000-\U000f007f]", lambda m: chr(ord(m.group(0)) - _PLACEHOLDER_BASE), text
    )


def _md_table_row(line: str) -> str:
    row = line.strip()
    row = row.removeprefix("|")
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)]
    return " | ".join(_md_inline(c) for c in cells if c)


def _extract_md(data: bytes, *, max_pages: int, max_chars: int) -> Extracted:
    text = _NEWLINES.sub("\n", _decode_text(data, max_chars)).lstrip("\ufeff")
    lines = text.split("\n")
    title = ""
    start = 0
    # YAML front matter: not content, but may name the document.
    if lines and lines[0].strip() == "---":
        for i in range(1, min(len(lines), 200)):
            if lines[i].strip() in ("---", "..."):
                match = _MD_FRONT_TITLE.search("\n".join(lines[1:i]))
                if match:
                    title = match.group(1).strip("\"'")
                start = i + 1
                break

    builder = _Builder(max_chars)
    paragraph: list[str] = []
    plain = True  # the paragraph is ordinary text (may become a setext heading)
    fence = ""

    def flush() -> None:
        nonlocal plain
        if paragraph:
            builder.add("\n".join(paragraph))
            paragraph.clear()
        plain = True

    def heading(level: int, raw: str) -> None:
        nonlocal title
        words = _md_inline(raw).replace("\n", " ")
        if level == 1 and not title:
            title = one_line(words)
        builder.heading(level, words)

    for line in lines[start:]:
        if fence:
            if line.strip().startswith(fence):
                fence = ""
                flush()
            else:
                paragraph.append(line)
            continue
        fence_match = _MD_FENCE.match(line)
        if fence_match:
            flush()
            fence = fence_match.group(1)
            continue
        if not line.strip():
            flush()
            continue
        atx = _MD_ATX.match(line)
        if atx:
            flush()
            heading(len(atx.group(1)), atx.group(2) or "")
            continue
        setext = _MD_SETEXT.match(line)
        if setext and paragraph and plain:
            raw = " ".join(p.strip() for p in paragraph)
            paragraph.clear()
            heading(1 if setext.group(1).startswith("=") else 2, raw)
            continue
        if _MD_TABLE_SEP.match(line):
            plain = False
            continue
        if _MD_HR.match(line) or _MD_LINK_DEF.match(line):
            flush()
            continue
        line = _MD_QUOTE.sub("", line)
        stripped = line.strip()
        if stripped.startswith("|") or (paragraph and not plain and "|" in stripped):
            paragraph.append(_md_table_row(stripped))
            plain = False
            continue
        bullet = _MD_BULLET.match(line)
        if bullet:
            paragraph.append("- " + _md_inline(line[bullet.end() :]))
            plain = False
            continue
        ordered = _MD_ORDERED.match(line)
        if ordered:
            paragraph.append(f"{ordered.group(1)}. " + _md_inline(line[ordered.end() :]))
            plain = False
            continue
        paragraph.append(_md_inline(stripped))
    flush()
    return Extracted(sections=builder.finish(), title=title)


# --- PDF ------------------------------------------------------------------------------

# Below this many non-space characters per page, on pages that are mostly images, a PDF
# is a scan with a stray label rather than a document with text.
_PDF_MIN_CHARS_PER_PAGE = 16


def _extract_pdf(data: bytes, *, max_pages: int, max_chars: int) -> Extracted:
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError

    stream = io.BytesIO(data)
    try:
        # PdfReader already tries the empty user password ("copy-protected" PDFs).
        reader = pypdf.PdfReader(stream, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError(REASON_PDF_ENCRYPTED)
        page_count = len(reader.pages)
    except DependencyError as exc:
        logger.error("cannot decrypt PDF, install pypdf[crypto] (cryptography): %s", exc)
        raise ExtractionError(REASON_PDF_ENCRYPTED) from exc
    except FileNotDecryptedError as exc:
        raise ExtractionError(REASON_PDF_ENCRYPTED) from exc
    if page_count == 0:
        raise ExtractionError(REASON_PDF_DAMAGED)
    if page_count > max_pages:
        raise ExtractionError(
            f"the PDF has {page_count:,} pages, more than the limit of {max_pages:,}: "
            "split it into smaller files and upload them one by one"
        )

    sections: list[Section] = []
    failed = 0
    chars = 0
    for number in range(1, page_count + 1):
        try:
            raw = reader.pages[number - 1].extract_text()
        except DependencyError as exc:
            logger.error("cannot decrypt PDF, install pypdf[crypto] (cryptography): %s", exc)
            raise ExtractionError(REASON_PDF_ENCRYPTED) from exc
        except Exception as exc:  # includes RecursionError and MemoryError
            # One broken page (bad font, bad content stream) must not lose the others.
            failed += 1
            logger.warning("PDF page %d could not be read: %r", number, exc)
            continue
        text = _clean(raw)
        if text:
            chars += len(text)
            _check_chars(chars, max_chars)
            sections.append(Section(text=text, page=number))

    if not sections:
        if failed == page_count:
            raise ExtractionError(REASON_PDF_DAMAGED)
        raise ExtractionError(REASON_PDF_NO_TEXT)
    if failed:
        logger.warning("%d of %d PDF pages could not be read and were skipped", failed, page_count)
    if _pdf_is_scan_with_labels(reader, sections, page_count):
        raise ExtractionError(REASON_PDF_NO_TEXT)
    return Extracted(sections=sections, title=_pdf_title(reader), pages=page_count)


def _pdf_is_scan_with_labels(reader: Any, sections: list[Section], page_count: int) -> bool:
    """A few characters per page on image pages: a scan, not a text document."""
    visible = sum(len(s.text) - s.text.count(" ") - s.text.count("\n") for s in sections)
    if visible >= _PDF_MIN_CHARS_PER_PAGE * page_count:
        return False
    # Only reached for nearly empty documents, so this extra look costs nothing in general.
    image_pages = 0
    for page in reader.pages:
        try:
            xobjects = page["/Resources"]["/XObject"]
            if any(x.get_object().get("/Subtype") == "/Image" for x in xobjects.values()):
                image_pages += 1
        except Exception:  # noqa: S112 - no resources or broken ones: not an image page
            continue
    return image_pages * 2 >= page_count


_PDF_TITLE_JUNK = re.compile(r"^(Microsoft (Word|PowerPoint) - |untitled$)", re.I)
# Producers often store the source file's name as the title: no better than none.
_PDF_TITLE_FILENAME = re.compile(
    r"[\w .()-]+\.(pdf|docx?|odt|rtf|txt|html?|indd|pptx?|xlsx?)", re.I
)


def _pdf_title(reader: Any) -> str:
    try:
        metadata = reader.metadata
        title = str(metadata.title or "") if metadata is not None else ""
    except Exception as exc:  # metadata is optional and often broken
        logger.info("PDF metadata could not be read: %r", exc)
        return ""
    title = _PDF_TITLE_JUNK.sub("", one_line(title)).strip()
    return "" if _PDF_TITLE_FILENAME.fullmatch(title) else title


# --- DOCX -----------------------------------------------------------------------------

_W_TRANSITIONAL = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_W_STRICT = "http://purl.oclc.org/ooxml/wordprocessingml/main"
_M_TRANSITIONAL = "http://schemas.openxmlformats.org/officeDocument/2006/math"
_M_STRICT = "http://purl.oclc.org/ooxml/officeDocument/math"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_PKG_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)
_TOC_STYLE = re.compile(r"^toc\s*\d", re.I)


def _xml(data: bytes) -> Any:
    from lxml import etree

    # Hardened parser: no entities, no DTD, no network, libxml2's default size limits.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
    )
    return etree.fromstring(data, parser=parser)  # noqa: S320 - hardened parser above


class _DocxPackage:
    def __init__(self, data: bytes) -> None:
        if data.startswith(_OLE_SIGNATURE):
            if _OLE_ENCRYPTED_PACKAGE in data:
                raise ExtractionError(REASON_DOCX_ENCRYPTED)
            raise ExtractionError(REASON_DOC_LEGACY)
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
            logger.info("DOCX is not a readable ZIP: %r", exc)
            raise ExtractionError(REASON_DOCX_DAMAGED) from exc
        self._check_sizes(infos)
        self.names = {info.filename for info in infos}

    @staticmethod
    def _check_sizes(infos: list[zipfile.ZipInfo]) -> None:
        if len(infos) > DOCX_MAX_MEMBERS:
            raise ExtractionError(REASON_DOCX_BOMB)
        total = 0
        for info in infos:
            total += info.file_size
            if info.file_size >= DOCX_RATIO_MIN_SIZE and (
                info.file_size > DOCX_MAX_RATIO * max(info.compress_size, 1)
            ):
                logger.warning(
                    "DOCX member %r refused: %d bytes from %d",
                    info.filename,
                    info.file_size,
                    info.compress_size,
                )
                raise ExtractionError(REASON_DOCX_BOMB)
        if total > DOCX_MAX_UNCOMPRESSED:
            logger.warning("DOCX refused: %d bytes uncompressed", total)
            raise ExtractionError(REASON_DOCX_BOMB)

    def read(self, name: str) -> bytes | None:
        if name not in self.names:
            return None
        try:
            return self.zip.read(name)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            logger.info("DOCX member %r unreadable: %r", name, exc)
            raise ExtractionError(REASON_DOCX_DAMAGED) from exc

    def relationships(self, part: str) -> list[tuple[str, str]]:
        """(type, target part name) of the relationships of ``part`` ("" for the package)."""
        folder, base = posixpath.split(part)
        rels = self.read(posixpath.join(folder, "_rels", f"{base}.rels"))
        if rels is None:
            return []
        out = []
        for rel in _xml(rels).iter(_PKG_RELS):
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External" or not target:
                continue
            if target.startswith("/"):
                name = target.lstrip("/")
            else:
                name = posixpath.normpath(posixpath.join(folder, target))
            out.append((rel.get("Type", ""), name))
        return out

    def related(self, part: str, kind: str) -> str | None:
        for rel_type, name in self.relationships(part):
            if rel_type.rsplit("/", 1)[-1] == kind and name in self.names:
                return name
        return None


@dataclass
class _Style:
    name: str = ""
    based_on: str = ""
    outline: int | None = None
    numbered: bool = False


class _DocxReader:
    def __init__(self, root: Any, max_chars: int) -> None:
        w = root.tag[1 : root.tag.index("}")]
        m = _M_STRICT if w == _W_STRICT else _M_TRANSITIONAL
        self.w = "{" + w + "}"
        q = self.w
        self.t_p, self.t_tbl, self.t_tr, self.t_tc = q + "p", q + "tbl", q + "tr", q + "tc"
        self.t_t, self.m_t = q + "t", "{" + m + "}t"
        self.t_txbx = q + "txbxContent"
        self.t_ppr, self.t_tcpr = q + "pPr", q + "tcPr"
        self.t_val = q + "val"
        self.text_map = {
            q + "tab": " ",
            q + "ptab": " ",
            q + "br": "\n",
            q + "cr": "\n",
            q + "noBreakHyphen": "-",
        }
        # Never text: properties, deleted or moved-away revisions, field instructions,
        # the VML copy of a shape (mc:Fallback duplicates mc:Choice), content-control
        # properties and placeholders.
        # fmt: off
        skip = [
            "pPr", "rPr", "tblPr", "trPr", "tcPr", "sectPr", "tblGrid", "del", "moveFrom",
            "instrText", "delText", "delInstrText", "sdtPr", "sdtEndPr", "fldData", "altChunk",
            "commentReference", "footnoteReference", "endnoteReference",
        ]
        # fmt: on
        self.skip = {q + n for n in skip} | {_MC + "Fallback"}
        self.row_wrappers = {q + n for n in ("sdt", "sdtContent", "customXml", "ins", "moveTo")}
        self.styles: dict[str, _Style] = {}
        self.builder = _Builder(max_chars)
        self.title = ""
        self.root = root

    # styles ----------------------------------------------------------------------------

    def load_styles(self, xml: bytes | None) -> None:
        if not xml:
            return
        q = self.w
        for style in _xml(xml).iter(q + "style"):
            style_id = style.get(q + "styleId")
            if not style_id:
                continue
            info = _Style()
            name = style.find(q + "name")
            info.name = (name.get(self.t_val, "") if name is not None else "").strip()
            based = style.find(q + "basedOn")
            info.based_on = based.get(self.t_val, "") if based is not None else ""
            ppr = style.find(self.t_ppr)
            if ppr is not None:
                info.outline = self._outline(ppr)
                info.numbered = self._numbered(ppr)
            self.styles[style_id] = info

    def _outline(self, ppr: Any) -> int | None:
        outline = ppr.find(self.w + "outlineLvl")
        if outline is None:
            return None
        try:
            return int(outline.get(self.t_val, ""))
        except ValueError:
            return None

    def _numbered(self, ppr: Any) -> bool:
        numpr = ppr.find(self.w + "numPr")
        if numpr is None:
            return False
        num_id = numpr.find(self.w + "numId")
        return num_id is None or num_id.get(self.t_val, "") != "0"

    def _style_info(self, style_id: str) -> tuple[str, int | None, bool]:
        """(name, heading level, is list) following basedOn, cycles and depth bounded."""
        name, level, numbered = "", None, False
        seen: set[str] = set()
        current = style_id
        while current and current not in seen and len(seen) < 20:
            seen.add(current)
            style = self.styles.get(current)
            if style is None:
                break
            if not name:
                name = style.name
            match = _HEADING_STYLE.match(style.name)
            if level is None and match:
                level = int(match.group(1))
            if level is None and style.outline is not None:
                level = style.outline + 1 if style.outline < 9 else 0
            numbered = numbered or style.numbered
            current = style.based_on
        return name, (level or None), numbered

    # body ------------------------------------------------------------------------------

    def run(self) -> None:
        body = self.root.find(self.w + "body")
        if body is None:
            raise ExtractionError(REASON_DOCX_NOT_WORD)
        self.blocks(body)

    def blocks(self, container: Any) -> None:
        for child in container:
            tag = child.tag
            if tag == self.t_p:
                self.paragraph(child)
            elif tag == self.t_tbl:
                self.builder.end_block()
                rows = self.table_rows(child, " | ")
                for row in rows:
                    self.builder.line(row)
                self.builder.end_block()
            elif isinstance(tag, str) and tag not in self.skip:
                self.blocks(child)  # sdt, sdtContent, customXml, ins, AlternateContent…

    def paragraph(self, p: Any) -> None:
        boxes: list[Any] = []
        text = _clean(self.inline(p, boxes))
        if text:
            style_id, direct_outline, direct_list = "", None, False
            ppr = p.find(self.t_ppr)
            if ppr is not None:
                pstyle = ppr.find(self.w + "pStyle")
                style_id = pstyle.get(self.t_val, "") if pstyle is not None else ""
                direct_outline = self._outline(ppr)
                direct_list = self._numbered(ppr)
            name, level, style_list = self._style_info(style_id)
            if direct_outline is not None:
                level = direct_outline + 1 if direct_outline < 9 else None
            lowered = name.lower()
            if _TOC_STYLE.match(lowered):
                pass  # table-of-contents entries: titles and page numbers, pure noise
            elif level:
                self.builder.heading(level, text)
            elif lowered == "title":
                self.title = self.title or text
                self.builder.add(text)
            elif direct_list or style_list or lowered.startswith("list"):
                self.builder.line("- " + text)
            else:
                self.builder.add(text)
        # Text boxes anchored in the paragraph come after it, as blocks of their own.
        for box in boxes:
            self.blocks(box)

    def inline(self, element: Any, boxes: list[Any]) -> str:
        parts: list[str] = []
        self._inline(element, parts, boxes)
        return "".join(parts)

    def _inline(self, element: Any, parts: list[str], boxes: list[Any]) -> None:
        for child in element:
            tag = child.tag
            if tag == self.t_t or tag == self.m_t:
                if child.text:
                    parts.append(child.text)
            elif tag in self.text_map:
                parts.append(self.text_map[tag])
            elif tag == self.t_txbx:
                boxes.append(child)
            elif isinstance(tag, str) and tag not in self.skip:
                self._inline(child, parts, boxes)

    def _children(self, element: Any, tag: str) -> Iterator[Any]:
        """Children with ``tag``, looking through content controls and revision marks."""
        for child in element:
            if child.tag == tag:
                yield child
            elif child.tag in self.row_wrappers:
                yield from self._children(child, tag)

    def table_rows(self, tbl: Any, separator: str) -> list[str]:
        rows = []
        for tr in self._children(tbl, self.t_tr):
            cells = []
            for tc in self._children(tr, self.t_tc):
                if self._continues_merge(tc):
                    continue  # a merged cell's text is in the first cell only
                text = self.cell_text(tc)
                if text:
                    cells.append(text)
            if cells:
                rows.append(separator.join(cells))
        return rows

    def _continues_merge(self, tc: Any) -> bool:
        tcpr = tc.find(self.t_tcpr)
        if tcpr is None:
            return False
        for name in ("vMerge", "hMerge"):
            merge = tcpr.find(self.w + name)
            if merge is not None and merge.get(self.t_val, "continue") != "restart":
                return True
        return False

    def cell_text(self, tc: Any) -> str:
        parts: list[str] = []
        self._cell_parts(tc, parts)
        return " ".join(p for p in parts if p)

    def _cell_parts(self, container: Any, parts: list[str]) -> None:
        for child in container:
            tag = child.tag
            if tag == self.t_p:
                boxes: list[Any] = []
                parts.append(one_line(self.inline(child, boxes)))
                for box in boxes:
                    self._cell_parts(box, parts)
            elif tag == self.t_tbl:
                parts.append("; ".join(self.table_rows(child, ", ")))
            elif isinstance(tag, str) and tag not in self.skip:
                self._cell_parts(child, parts)


def _extract_docx(data: bytes, *, max_pages: int, max_chars: int) -> Extracted:
    package = _DocxPackage(data)
    main = package.related("", "officeDocument")
    if main is None:
        main = "word/document.xml" if "word/document.xml" in package.names else None
    if main is None:
        raise ExtractionError(REASON_DOCX_NOT_WORD)
    xml = package.read(main)
    if xml is None:
        raise ExtractionError(REASON_DOCX_NOT_WORD)
    root = _xml(xml)
    del xml
    if not isinstance(root.tag, str) or root.tag not in (
        f"{{{_W_TRANSITIONAL}}}document",
        f"{{{_W_STRICT}}}document",
    ):
        raise ExtractionError(REASON_DOCX_NOT_WORD)
    reader = _DocxReader(root, max_chars)
    styles = package.related(main, "styles")
    if styles is not None:
        try:
            reader.load_styles(package.read(styles))
        except Exception as exc:  # headings degrade to paragraphs, text is still there
            logger.info("DOCX styles unreadable: %r", exc)
    reader.run()
    return Extracted(sections=reader.builder.finish(), title=_docx_title(package) or reader.title)


def _docx_title(package: _DocxPackage) -> str:
    core = package.related("", "core-properties") or (
        "docProps/core.xml" if "docProps/core.xml" in package.names else None
    )
    if core is None:
        return ""
    try:
        xml = package.read(core)
        element = _xml(xml).find(_DC_TITLE) if xml else None
    except Exception as exc:  # the title is a nicety; never fail the document for it
        logger.info("DOCX core properties unreadable: %r", exc)
        return ""
    return (element.text or "") if element is not None else ""


# --- HTML -----------------------------------------------------------------------------

# fmt: off
_HTML_DROP = [
    "script", "style", "noscript", "template", "svg", "nav", "footer", "aside", "form",
    "iframe", "object", "embed", "canvas", "button", "select", "textarea", "input", "dialog",
    "head", "link", "meta",
]
_HTML_BLOCKS = {
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "header", "hgroup", "hr", "html", "legend",
    "li", "main", "menu", "ol", "option", "p", "pre", "section", "summary", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "ul",
}
# fmt: on
_HTML_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_HTML_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_HTML_WS = re.compile(r"\s+")


class _HtmlWalker:
    def __init__(self, builder: _Builder) -> None:
        self.builder = builder
        self.inline: list[str] = []
        self.prefix = ""
        self.list_depth = 0

    def flush(self) -> None:
        text = "".join(self.inline)
        self.inline = []
        if not text.strip():
            return
        if self.prefix:
            for i, line in enumerate(text.split("\n")):
                self.builder.line((self.prefix if i == 0 else "") + line)
            self.prefix = ""
        else:
            self.builder.add(text)

    def walk(self, node: Any) -> None:
        from bs4 import element as bs4_element

        for child in node.children:
            if isinstance(child, bs4_element.Tag):
                self.tag(child)
            elif type(child) is bs4_element.NavigableString:  # not comments, doctypes, CDATA
                self.inline.append(_HTML_WS.sub(" ", str(child)))

    def tag(self, tag: Any) -> None:
        name = tag.name
        if name in _HTML_HEADINGS:
            self.flush()
            self.builder.heading(_HTML_HEADINGS[name], tag.get_text(" "))
        elif name == "br":
            self.inline.append("\n")
        elif name == "pre":
            self.flush()
            self.builder.end_block()
            self.builder.add(tag.get_text())
        elif name == "table" and not _html_layout_table(tag):
            self.flush()
            self.builder.end_block()
            caption = tag.find("caption")
            if caption is not None:
                self.builder.add(caption.get_text(" "))
            for row in _html_table_rows(tag):
                self.builder.line(row)
            self.builder.end_block()
        elif name == "li":
            self.flush()
            self.prefix = "- "
            self.walk(tag)
            self.flush()
            self.prefix = ""
        elif name in ("ul", "ol", "dl"):
            self.flush()
            if not self.list_depth:  # a nested list stays in its parent's block
                self.builder.end_block()
            self.list_depth += 1
            self.walk(tag)
            self.flush()
            self.list_depth -= 1
            if not self.list_depth:
                self.builder.end_block()
        elif name in _HTML_BLOCKS:
            self.flush()
            self.walk(tag)
            self.flush()
        elif name == "img":
            return
        else:
            self.walk(tag)


def _html_layout_table(table: Any) -> bool:
    """Tables that lay out a page (headings or tables inside) are read as blocks."""
    return table.find(["table", *_HTML_HEADINGS]) is not None


def _html_table_rows(table: Any) -> list[str]:
    rows = []
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue
        cells = [one_line(c.get_text(" ")) for c in tr.find_all(["td", "th"], recursive=False)]
        cells = [c for c in cells if c]
        if cells:
            rows.append(" | ".join(cells))
    return rows


def _html_hidden(tag: Any) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = attrs.get("style")
    return bool(style) and bool(_HTML_HIDDEN_STYLE.search(str(style)))


def _extract_html(data: bytes, *, max_pages: int, max_chars: int) -> Extracted:
    from bs4 import BeautifulSoup, UnicodeDammit

    if len(data) > 4 * max_chars + 4:
        _check_chars(len(data) // 4, max_chars)
    dammit = UnicodeDammit(data, is_html=True)
    markup = dammit.unicode_markup
    if markup is None:
        markup = data.decode("cp1252", errors="replace")
    soup = BeautifulSoup(markup, "lxml")
    del markup

    title_tag = soup.find("title")
    title = title_tag.get_text(" ") if title_tag is not None else ""
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for tag in soup.find_all(_html_hidden):
        tag.decompose()
    # Site headers (logo, menu) are boilerplate; an article's own header is content.
    for tag in soup.find_all("header"):
        if tag.find_parent(["article", "main"]) is None:
            tag.decompose()

    builder = _Builder(max_chars)
    walker = _HtmlWalker(builder)
    walker.walk(soup.body if soup.body is not None else soup)
    walker.flush()
    sections = builder.finish()
    if not title:
        first_h1 = soup.find("h1")
        title = first_h1.get_text(" ") if first_h1 is not None else ""
    return Extracted(sections=sections, title=title)


_HANDLERS: dict[str, Callable[..., Extracted]] = {
    "txt": _extract_txt,
    "md": _extract_md,
    "pdf": _extract_pdf,
    "docx": _extract_docx,
    "html": _extract_html,
}
