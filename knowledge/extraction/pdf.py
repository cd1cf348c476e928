"""PDF (pypdf): one section per page with its 1-based page number; encrypted, scanned
(no text layer) and damaged files are told apart, one unreadable page does not lose the
others, and the page count is limited before any page is read."""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from knowledge.extraction import base, registry, textnorm

logger = logging.getLogger(__name__)

REASON_PDF_ENCRYPTED = "encrypted PDF: remove the password and upload again"
REASON_PDF_NO_TEXT = (
    "no text layer (scanned PDF?): the pages are images, so there is no text to read; "
    'run it through OCR (for example "save as searchable PDF") and upload again'
)
REASON_PDF_DAMAGED = (
    "the PDF file is damaged and could not be read: open it, save or export it as PDF "
    "again and upload the new file"
)

# Below this many non-space characters per page, on pages that are mostly images, a PDF
# is a scan with a stray label rather than a document with text.
_PDF_MIN_CHARS_PER_PAGE = 16


def read(data: bytes, *, max_pages: int, max_chars: int) -> base.Extracted:
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError

    stream = io.BytesIO(data)
    try:
        # PdfReader already tries the empty user password ("copy-protected" PDFs).
        reader = pypdf.PdfReader(stream, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise base.ExtractionError(REASON_PDF_ENCRYPTED)
        page_count = len(reader.pages)
    except DependencyError as exc:
        logger.error("cannot decrypt PDF, install pypdf[crypto] (cryptography): %s", exc)
        raise base.ExtractionError(REASON_PDF_ENCRYPTED) from exc
    except FileNotDecryptedError as exc:
        raise base.ExtractionError(REASON_PDF_ENCRYPTED) from exc
    if page_count == 0:
        raise base.ExtractionError(REASON_PDF_DAMAGED)
    if page_count > max_pages:
        raise base.ExtractionError(
            f"the PDF has {page_count:,} pages, more than the limit of {max_pages:,}: "
            "split it into smaller files and upload them one by one"
        )

    sections: list[base.Section] = []
    failed = 0
    chars = 0
    for number in range(1, page_count + 1):
        try:
            raw = reader.pages[number - 1].extract_text()
        except DependencyError as exc:
            logger.error("cannot decrypt PDF, install pypdf[crypto] (cryptography): %s", exc)
            raise base.ExtractionError(REASON_PDF_ENCRYPTED) from exc
        except Exception as exc:  # includes RecursionError and MemoryError
            # One broken page (bad font, bad content stream) must not lose the others.
            failed += 1
            logger.warning("PDF page %d could not be read: %r", number, exc)
            continue
        text = textnorm.clean(raw)
        if text:
            chars += len(text)
            base.check_chars(chars, max_chars)
            sections.append(base.Section(text=text, page=number))

    if not sections:
        if failed == page_count:
            raise base.ExtractionError(REASON_PDF_DAMAGED)
        raise base.ExtractionError(REASON_PDF_NO_TEXT)
    if failed:
        logger.warning("%d of %d PDF pages could not be read and were skipped", failed, page_count)
    if _pdf_is_scan_with_labels(reader, sections, page_count):
        raise base.ExtractionError(REASON_PDF_NO_TEXT)
    return base.Extracted(sections=sections, title=_pdf_title(reader), pages=page_count)


def _pdf_is_scan_with_labels(reader: Any, sections: list[base.Section], page_count: int) -> bool:
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
    title = _PDF_TITLE_JUNK.sub("", textnorm.one_line(title)).strip()
    return "" if _PDF_TITLE_FILENAME.fullmatch(title) else title


READER = registry.Reader(name="pdf", read=read, damaged=REASON_PDF_DAMAGED)
