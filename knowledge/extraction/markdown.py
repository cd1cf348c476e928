"""Markdown: headings (ATX and setext) become the heading path, inline markup is stripped
to its words (absolute link targets kept), YAML front matter is skipped (its ``title`` names
the document), code blocks and tables are kept as text."""

from __future__ import annotations

import re

from knowledge.extraction import base, builder, encoding, registry, textnorm, txt

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
# Link destinations may hold balanced parentheses ("javascript:alert(1)", "Town_(centre)"):
# stopping at the first ")" would leave the rest of the destination in the text.
_MD_DEST = r"(?:[^()\s<>]|\([^()\s]*\))*"
_MD_IMAGE = re.compile(r"!\[([^\]\n]*)\]\((?:[^()\n]|\([^()\n]*\))*\)")
_MD_LINK = re.compile(
    r"\[([^\]\n]+)\]\(\s*<?(" + _MD_DEST + r")>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
_MD_REF_LINK = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_MD_AUTOLINK = re.compile(r"<((?:https?|mailto|tel):[^>\s]+)>")
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_EM_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_MD_EM_UNDER = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_MD_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_MD_BR = re.compile(r"<br\s*/?>", re.I)
# Raw HTML whose content is never prose (CommonMark's HTML blocks of type 1, and comments):
# the body goes with the tags, inline or as a block of lines up to the closing tag.
_MD_RAW_INLINE = re.compile(r"<(script|style|textarea)\b[^>]*>.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_MD_RAW_BLOCK = re.compile(r"^ {0,3}(?:<(script|style|textarea)(?=[\s>]|$)|(<!--))", re.I)
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
    text = _MD_RAW_INLINE.sub("", text)
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


def read(data: bytes, *, max_pages: int, max_chars: int) -> base.Extracted:
    text = textnorm.NEWLINES.sub("\n", encoding.decode_text(data, max_chars)).lstrip("\ufeff")
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

    out = builder.Builder(max_chars)
    paragraph: list[str] = []
    plain = True  # the paragraph is ordinary text (may become a setext heading)
    fence = ""

    def flush() -> None:
        nonlocal plain
        if paragraph:
            out.add("\n".join(paragraph))
            paragraph.clear()
        plain = True

    def heading(level: int, raw: str) -> None:
        nonlocal title
        words = _md_inline(raw).replace("\n", " ")
        if level == 1 and not title:
            title = textnorm.one_line(words)
        out.heading(level, words)

    raw_end = ""  # inside a raw HTML block: the closing text that ends it
    for line in lines[start:]:
        if raw_end:
            if raw_end in line.lower():
                raw_end = ""
            continue
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
        html_block = _MD_RAW_BLOCK.match(line)
        if html_block:
            tag = html_block.group(1)
            end = f"</{tag.lower()}>" if tag else "-->"
            flush()
            if end not in line[html_block.end() :].lower():
                raw_end = end
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
    return base.Extracted(sections=out.finish(), title=title)


READER = registry.Reader(
    name="md", read=read, damaged=txt.REASON_TEXT_DAMAGED, aliases=("markdown",)
)
