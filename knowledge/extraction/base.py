"""What every reader returns or raises: sections, the extracted document, the error whose
reason a tenant admin reads, and the size limit every reader enforces while it works."""

from __future__ import annotations

from dataclasses import dataclass

HEADING_SEPARATOR = " > "

REASON_EMPTY_FILE = "the file is empty"
REASON_NO_TEXT = "the file contains no readable text"
REASON_UNSUPPORTED = (
    "this file type is not supported: upload a PDF, Word (.docx), HTML, Markdown or plain-text file"
)
REASON_TOO_COMPLEX = (
    "the file is too large or too complex to process: split it into smaller files and "
    "upload them one by one"
)
REASON_TOO_NESTED = "the file is too deeply nested or damaged to be read"


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


def too_much_text(max_chars: int) -> str:
    """The reason given when a document holds more than ``max_chars`` characters."""
    return (
        f"the document contains too much text (more than {max_chars:,} characters): "
        "split it into smaller files and upload them one by one"
    )


def check_chars(chars: int, max_chars: int) -> None:
    if chars > max_chars:
        raise ExtractionError(too_much_text(max_chars))
