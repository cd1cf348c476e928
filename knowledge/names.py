"""Sanitising user-supplied file names for display. Pure."""

from __future__ import annotations

import os
import re
import unicodedata

MAX_NAME_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def display_name(raw: str | None, *, fallback: str = "untitled") -> str:
    """A safe, readable display name: no path parts, control or bidi characters, ≤ 200 chars.

    The name is only ever shown (HTML-escaped by templates); files are stored under
    app-generated names, so nothing here is used as a path.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = _BIDI.sub("", _CONTROL.sub("", name)).strip().strip(".").strip()
    if not name:
        return fallback
    if len(name) > MAX_NAME_LENGTH:
        stem, ext = os.path.splitext(name)
        ext = ext[:16]
        name = stem[: MAX_NAME_LENGTH - len(ext) - 1] + "…" + ext
    return name


def display_title(raw: str | None, *, fallback: str = "untitled") -> str:
    """A title (a mail subject, a task name) made safe to show: one line, no control or bidi
    characters, ≤ 200 chars. Unlike ``display_name`` it keeps slashes: it is not a file name."""
    name = unicodedata.normalize("NFC", raw or "")
    name = " ".join(_BIDI.sub("", _CONTROL.sub(" ", name)).split())
    if not name:
        return fallback
    return name if len(name) <= MAX_NAME_LENGTH else name[: MAX_NAME_LENGTH - 1] + "…"
