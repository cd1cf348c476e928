"""Decide what an uploaded file really is from its bytes, never from its name or headers.

Allowed: txt, md, pdf, docx, html. The extension only separates md from txt (both are
plain text) and never overrides the content: a PNG renamed ``.pdf`` is refused.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

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
_HTML_RE = re.compile(rb"^\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.I | re.S)
_MD_EXT = (".md", ".markdown")


class UnsupportedFile(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Detected:
    file_type: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.file_type]


def detect(data: bytes, filename: str = "") -> Detected:
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
    if _HTML_RE.match(head.lstrip(b"\xef\xbb\xbf")) or (
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


def _decode_sample(head: bytes) -> str | None:
    """Return the sample decoded when it is plausibly text, else None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return head.decode("utf-16", errors="replace")
        except UnicodeDecodeError:
            return None
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte sequence cut at the end of the sample is still UTF-8.
        if exc.start >= len(head) - 4:
            return head[: exc.start].decode("utf-8")
    # Legacy 8-bit text: mostly printable bytes.
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return head.decode("latin-1") if controls <= len(head) * 0.01 else None
