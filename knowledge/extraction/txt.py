"""Plain text: paragraphs separated by blank lines."""

from __future__ import annotations

import re

from knowledge.extraction import base, builder, encoding, registry, textnorm

REASON_TEXT_DAMAGED = "the text file could not be read"

_PARAGRAPH_SPLIT = re.compile(r"\n[ \t]*\n")


def read(data: bytes, *, max_pages: int, max_chars: int) -> base.Extracted:
    text = encoding.decode_text(data, max_chars)
    out = builder.Builder(max_chars)
    for paragraph in _PARAGRAPH_SPLIT.split(textnorm.NEWLINES.sub("\n", text)):
        out.add(paragraph)
    return base.Extracted(sections=out.finish())


READER = registry.Reader(name="txt", read=read, damaged=REASON_TEXT_DAMAGED, aliases=("text",))
