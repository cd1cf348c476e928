"""Which reader handles which file type.

A reader is a function ``read(data, *, max_pages, max_chars) -> Extracted`` plus the reason
given when its library fails on damaged input. Readers register themselves under a
canonical name (what ``filetypes`` detects and ``Document.file_type`` stores) and optional
aliases. Adding a format (a mail reader, say) is a new module with a ``READER`` and one
``register`` call in the package ``__init__``; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from knowledge.extraction import base

ReadFunction = Callable[..., base.Extracted]


@dataclass(frozen=True)
class Reader:
    name: str  # canonical file type: "txt", "md", "pdf", "docx", "html"
    read: ReadFunction  # (data, *, max_pages: int, max_chars: int) -> Extracted
    damaged: str  # reason when the reader's library fails on the bytes
    aliases: tuple[str, ...] = ()


READERS: dict[str, Reader] = {}
_ALIASES: dict[str, str] = {}


def register(reader: Reader) -> None:
    """Make ``reader`` the one for its name and aliases (a later registration replaces)."""
    READERS[reader.name] = reader
    for alias in reader.aliases:
        _ALIASES[alias] = reader.name


def lookup(file_type: str) -> Reader | None:
    """The reader for ``file_type`` (case, a leading dot and aliases ignored), or None."""
    kind = file_type.lower().lstrip(".")
    return READERS.get(_ALIASES.get(kind, kind))


def names() -> list[str]:
    return sorted(READERS)
