"""Turn a document's bytes into plain-text sections.

Pure package: no ORM, no Django settings. The contract:

* ``extract(data, file_type=...)`` returns an :class:`Extracted` with at least one
  non-empty :class:`Section`, or raises :class:`ExtractionError` whose ``reason`` is a
  sentence a tenant admin understands. No other exception escapes: library errors are
  logged with their technical detail and wrapped in the reader's "damaged" reason.
* Sections carry the heading path above them ("Office hours > Weekend"); the heading text
  itself is not repeated in ``Section.text`` (the chunker puts it in the context). PDFs
  give one section per page with its 1-based page number.
* Text is normalised: NUL and control characters removed, runs of spaces collapsed,
  lines stripped, paragraphs separated by exactly one blank line. ZWNJ and ZWJ (U+200C,
  U+200D) are kept: they shape Persian and Indic words. ``normalise``, ``one_line`` and
  ``HEADING_SEPARATOR`` are the definitions the chunker uses too.
* Limits: ``max_pages`` (PDF page count), ``max_chars`` (extracted text, enforced while
  reading, not after), and for DOCX the declared uncompressed sizes of the ZIP members
  (zip bombs are refused unread).

Layout: one reader per format (``txt``, ``markdown``, ``pdf``, ``docx``, ``html``), each a
``read(data, *, max_pages, max_chars) -> Extracted`` function and a ``READER`` entry
registered below in :mod:`~knowledge.extraction.registry`; ``base`` (types, error,
limits), ``textnorm`` (whitespace rules), ``builder`` (blocks → sections under headings)
and ``encoding`` (text decoding) are what the readers share. A new format is a new module
and one ``registry.register`` line here.
"""

from __future__ import annotations

import logging

from knowledge.extraction import docx, html, markdown, pdf, registry, textnorm, txt
from knowledge.extraction.base import (
    HEADING_SEPARATOR,
    REASON_EMPTY_FILE,
    REASON_NO_TEXT,
    REASON_TOO_COMPLEX,
    REASON_TOO_NESTED,
    REASON_UNSUPPORTED,
    Extracted,
    ExtractionError,
    Section,
    check_chars,
)
from knowledge.extraction.docx import (
    REASON_DOC_LEGACY,
    REASON_DOCX_BOMB,
    REASON_DOCX_DAMAGED,
    REASON_DOCX_ENCRYPTED,
    REASON_DOCX_NOT_WORD,
)
from knowledge.extraction.html import REASON_HTML_DAMAGED
from knowledge.extraction.pdf import REASON_PDF_DAMAGED, REASON_PDF_ENCRYPTED, REASON_PDF_NO_TEXT
from knowledge.extraction.textnorm import normalise, one_line
from knowledge.extraction.txt import REASON_TEXT_DAMAGED

__all__ = [
    "HEADING_SEPARATOR",
    "REASON_DOCX_BOMB",
    "REASON_DOCX_DAMAGED",
    "REASON_DOCX_ENCRYPTED",
    "REASON_DOCX_NOT_WORD",
    "REASON_DOC_LEGACY",
    "REASON_EMPTY_FILE",
    "REASON_HTML_DAMAGED",
    "REASON_NO_TEXT",
    "REASON_PDF_DAMAGED",
    "REASON_PDF_ENCRYPTED",
    "REASON_PDF_NO_TEXT",
    "REASON_TEXT_DAMAGED",
    "REASON_TOO_COMPLEX",
    "REASON_TOO_NESTED",
    "ExtractionError",
    "Extracted",
    "Section",
    "extract",
    "normalise",
    "one_line",
]

logger = logging.getLogger(__name__)

for _reader in (txt.READER, markdown.READER, pdf.READER, docx.READER, html.READER):
    registry.register(_reader)


def extract(
    data: bytes,
    *,
    file_type: str,
    filename: str = "",
    max_pages: int = 2000,
    max_chars: int = 20_000_000,
) -> Extracted:
    """Extract the text of ``data``, already detected as ``file_type`` by the caller.

    ``file_type`` is a registered reader's name or alias ("txt", "md", "pdf", "docx",
    "html"…). ``filename`` is only used in log messages. Raises :class:`ExtractionError`,
    never anything else (except ``KeyboardInterrupt``/``SystemExit``).
    """
    reader = registry.lookup(file_type)
    if reader is None:
        raise ExtractionError(REASON_UNSUPPORTED)
    if not data:
        raise ExtractionError(REASON_EMPTY_FILE)
    try:
        result = reader.read(data, max_pages=max_pages, max_chars=max_chars)
    except ExtractionError:
        raise
    except MemoryError:
        logger.warning("extraction of %r (%s) ran out of memory", filename, reader.name)
        raise ExtractionError(REASON_TOO_COMPLEX) from None
    except RecursionError:
        logger.warning("extraction of %r (%s) hit the recursion limit", filename, reader.name)
        raise ExtractionError(REASON_TOO_NESTED) from None
    except Exception as exc:  # any library failure becomes a readable reason
        logger.warning(
            "extraction of %r (%s) failed: %r", filename, reader.name, exc, exc_info=True
        )
        raise ExtractionError(reader.damaged) from exc
    if result.chars == 0:
        raise ExtractionError(REASON_NO_TEXT)
    check_chars(result.chars, max_chars)
    result.title = textnorm.one_line(result.title)
    return result
