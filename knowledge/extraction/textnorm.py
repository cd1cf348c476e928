"""Whitespace and invisible-character rules, written once: every reader cleans its blocks
with ``clean``/``one_line``, and the chunker normalises text of any origin with
``normalise`` (so text that comes through extraction is not changed a second time)."""

from __future__ import annotations

import re

NEWLINES = re.compile("\r\n?|[\x0b\x0c\x1c\x1d\x1e\x85\u2028]")
_LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028]")  # NEWLINES once "\r\n" is "\n"
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


def clean(text: str) -> str:
    """Normalise a block: ``normalise``, and control characters out."""
    return _normalise(text, _JUNK)


def one_line(text: str) -> str:
    """A heading, title or table cell on one line, cleaned like a block."""
    return clean(text).replace("\n\n", " ").replace("\n", " ")
