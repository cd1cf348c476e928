"""Decide what an uploaded file really is from its bytes, never from its name or headers.

Allowed: txt, md, pdf, docx, html. The extension only separates md from txt (both are
plain text) and never overrides the content: a PNG renamed ``.pdf`` is refused, and so is
an SVG drawing whatever its name (it is markup, not text to index). Text is recognised in
every encoding the extractor reads (``extraction.encoding``), UTF-16 without a BOM too.
With ``max_text_chars`` a plain-text or Markdown file holding more characters than
extraction will take is refused here, at upload, rather than failing in the worker.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

from knowledge.extraction import encoding

CONTENT_TYPES = {
    "txt": "text/plain",
    "md": "text/markdown",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html",
}

# Signatures of common binary formats we refuse, so the message can name them.
_KNOWN_BINARY = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"RIFF", "a RIFF media file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program"),
    (b"%!PS", "a PostScript file"),
    (b"{\\rtf", "an RTF document"),
]
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HTML_RE = re.compile(r"^\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.I | re.S)
# An SVG drawing: an XML prolog (declaration, comments, doctype) then an <svg> root.
_SVG_RE = re.compile(
    r"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*|<!doctype[^>]*>\s*)*(<svg[\s>/]|<!doctype\s+svg)", re.I | re.S
)
_MD_EXT = (".md", ".markdown")


class UnsupportedFile(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooMuchText(Exception):
    """A text file holds more characters than extraction takes (an upload answers 413)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Detected:
    file_type: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.file_type]


def detect(data: bytes, filename: str = "", *, max_text_chars: int | None = None) -> Detected:
    """The type of ``data``; raises UnsupportedFile (with a reason for the uploader) or, for
    plain text and Markdown over ``max_text_chars`` characters, TooMuchText."""
    detected = _detect(data, filename)
    if max_text_chars is not None and detected.file_type in ("txt", "md"):
        _check_text_length(data, max_text_chars)
    return detected


def _detect(data: bytes, filename: str) -> Detected:
    head = data[:4096]
    if head.startswith(b"%PDF-") or (b"%PDF-" in data[:1024] and not _looks_binary(data[: data.find(b"%PDF-")])):
        return Detected("pdf")
    if head.startswith(b"PK\x03\x04"):
        return Detected(_detect_zip(data))
    if head.startswith(_OLE):
        if filename.lower().endswith(".docx"):
            # A password-protected .docx is an OLE container: accept it so the document
            # shows up and fails ingestion with the reason, like an encrypted PDF.
            return Detected("docx")
        if filename.lower().endswith(".doc"):
            raise UnsupportedFile("old .doc Word files are not supported: save it as .docx or PDF and upload again")
        raise UnsupportedFile("this is an old Microsoft Office file; save it as .docx or PDF and upload again")
    for signature, what in _KNOWN_BINARY:
        if head.startswith(signature):
            raise UnsupportedFile(f"this file is {what}; allowed types are txt, md, pdf, docx and html")
    text = _decode_sample(head)
    if text is None:
        raise UnsupportedFile("this file is not text, PDF, DOCX or HTML; allowed types are txt, md, pdf, docx and html")
    text = text.lstrip("\ufeff")
    if _SVG_RE.match(text):
        raise UnsupportedFile(
            "this file is an SVG drawing (markup, not text); allowed types are txt, md, pdf, docx and html"
        )
    if _HTML_RE.match(text) or (
        filename.lower().endswith((".html", ".htm")) and "<" in text
    ):
        return Detected("html")
    if filename.lower().endswith(_MD_EXT):
        return Detected("md")
    return Detected("txt")


def _detect_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise UnsupportedFile("this file looks like a damaged ZIP or Word document and cannot be read") from exc
    if "[Content_Types].xml" in names and any(n.startswith("word/") for n in names):
        return "docx"
    if "[Content_Types].xml" in names:
        raise UnsupportedFile("this Office file is not a Word document; allowed types are txt, md, pdf, docx and html")
    raise UnsupportedFile("ZIP archives are not supported; upload the documents inside it one by one")


def _looks_binary(sample: bytes) -> bool:
    return b"\x00" in sample


def _check_text_length(data: bytes, max_chars: int) -> None:
    if len(data) <= max_chars:
        return  # no encoding takes less than a byte per character
    # Decoded by the extractor's rules, so the count is the one extraction starts from.
    chars = encoding.count_characters(data)
    if chars > max_chars:
        raise TooMuchText(
            f"this text file holds {chars:,} characters, more than the {max_chars:,} characters "
            "one document may hold: split it into smaller files and upload them one by one"
        )


def _decode_sample(head: bytes) -> str | None:
    """Return the sample decoded when it is plausibly text, else None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return head.decode("utf-16", errors="replace")
        except UnicodeDecodeError:
            return None
    utf16 = encoding.bomless_utf16(head)
    if utf16:
        # The extractor reads BOM-less UTF-16 (NULs on one side only); so does detection,
        # as long as what it decodes to is text and not binary with many zero bytes.
        text = head[: len(head) // 2 * 2].decode(utf16, errors="replace")
        return text if _mostly_printable(text) else None
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte sequence cut at the end of the sample is still UTF-8.
        if exc.start >= len(head) - 4:
            return head[: exc.start].decode("utf-8")
    # Legacy 8-bit text: mostly printable bytes.
    text = head.decode("latin-1")
    return text if _mostly_printable(text) else None


def _mostly_printable(text: str) -> bool:
    controls = sum(1 for c in text if (c < " " and c not in "\t\n\x0c\r") or c == "\ufffd")
    return controls <= len(text) * 0.01
